"""TF Hub downloads that fail the way they fail in the field (Kaggle's HTTP 403, a web page instead
of the model, a stalled connection), served by a local server on 127.0.0.1: every place bertlab
loads a handle turns them into one HubLoadError naming the handle, the cache folder and the fixes."""
from __future__ import annotations

import io
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bertlab import models

STALL_S = 10  # the server's own bound on a stalled answer; the client gives up long before
TIMEOUT_S = 0.5
HTML = b"<!DOCTYPE html><html><head><title>Kaggle</title></head><body>Sign in to continue</body></html>"


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    archive = b""
    release = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_GET(self):
        route = self.path.strip("/").split("/")[0]
        if route == "forbidden":
            self.send_error(403, "Forbidden")
        elif route == "missing":
            self.send_error(404, "Not Found")
        elif route == "html":
            self._send(HTML, "text/html; charset=utf-8")
        elif route == "hangup":
            self.close_connection = True  # the connection closes with no answer at all
        elif route == "stall":
            self.server.release.wait(STALL_S)  # an open connection that never answers
        elif route == "model":
            self._send(self.server.archive, "application/x-tar")
        else:
            self.send_error(500)

    def _send(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def saved_model_archive(folder) -> bytes:
    """A real (tiny) SavedModel as TF Hub serves it: a gzipped tar of the folder's contents."""
    import tensorflow as tf

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return 2.0 * x

    tf.saved_model.save(Double(), str(folder))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    server = HubServer(("127.0.0.1", 0), Handler)
    server.archive = saved_model_archive(tmp_path_factory.mktemp("saved") / "double")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    # The server stops itself even if a test hangs: no stray listener outlives the module by long.
    stopper = threading.Timer(300, server.shutdown)
    stopper.daemon = True
    stopper.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.release.set()
    stopper.cancel()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    monkeypatch.setattr(models, "HUB_TIMEOUT_S", TIMEOUT_S)


FAILURES = {
    "forbidden": r"HTTP 403 Forbidden\): TF Hub handles now redirect to Kaggle",
    "missing": r"HTTP 404 Not Found",
    "html": r"answered with a web page \(text/html\), not a model archive",
    "stall": r"sent nothing for 0\.5 s \(timed out\)",
    "hangup": r"answer broke off \(RemoteDisconnected",
}


def assert_names_handle_cache_and_fixes(message: str, handle: str):
    assert handle in message
    assert str(models.hub_module_dir(handle)) in message
    assert f"BERTLAB_MODEL={models.DEFAULT_MODEL}" in message and "TFHUB_CACHE_DIR" in message


@pytest.mark.parametrize("route", sorted(FAILURES))
def test_hub_handles_checks_that_the_handle_answers_with_a_model(hub_server, route):
    spec = models.ModelSpec(name="bert-local", description="test", hub_preprocess=f"{hub_server}/{route}/preprocess/3",
                            hub_encoder=f"{hub_server}/{route}/encoder/4")
    started = time.monotonic()
    with pytest.raises(models.HubLoadError, match=FAILURES[route]) as caught:
        models.hub_handles(spec)
    assert time.monotonic() - started < 5
    assert caught.value.args[0].startswith(f"bert-local comes from TF Hub ({spec.hub_preprocess})")
    assert_names_handle_cache_and_fixes(str(caught.value), spec.hub_preprocess)
    assert isinstance(caught.value, models.ModelUnavailableError)  # what callers already catch


@pytest.mark.parametrize("route", sorted(FAILURES))
def test_load_hub_turns_each_field_failure_into_one_clear_error(hub_server, route):
    handle = f"{hub_server}/{route}/encoder/4"
    started = time.monotonic()
    with pytest.raises(models.HubLoadError, match=FAILURES[route] if route != "html" else "not a model archive") as caught:
        models.load_hub(handle)
    assert time.monotonic() - started < 5  # the stalled server is given up on, not waited for
    assert caught.value.args[0].startswith(f"The TF Hub handle {handle} is neither in the TF Hub cache")
    assert_names_handle_cache_and_fixes(str(caught.value), handle)
    assert "\n" not in str(caught.value)


def test_hub_keras_layer_turns_a_403_into_the_same_error(hub_server):
    handle = f"{hub_server}/forbidden/encoder/4"
    with pytest.raises(models.HubLoadError, match=FAILURES["forbidden"]):
        models.hub_keras_layer(handle, trainable=False)


def test_a_real_model_archive_passes_the_check_and_loads(hub_server):
    handle = f"{hub_server}/model/double/1"
    assert models.hub_handle_problem(handle) is None
    import tensorflow as tf

    loaded = models.load_hub(handle)
    assert loaded(tf.constant([1.0, 2.5])).numpy().tolist() == [2.0, 5.0]
    layer = models.hub_keras_layer(handle)  # now from the cache
    assert layer(tf.constant([3.0])).numpy().tolist() == [6.0]


def test_a_refused_connection_is_named_too(hub_server):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert "ConnectionRefusedError" in models.hub_handle_problem(f"http://127.0.0.1:{port}/encoder/4")


def test_the_doctor_warns_when_tf_hub_answers_403_though_a_connection_opens(hub_server, monkeypatch):
    import dataclasses

    from bertlab import doctor

    base = models.MODELS["bert-base-uncased"]
    monkeypatch.setitem(models.MODELS, "bert-base-uncased",
                        dataclasses.replace(base, hub_preprocess=f"{hub_server}/forbidden/preprocess/3"))
    monkeypatch.setattr(models, "unreachable_reason", lambda url, timeout=3.0: None)  # TCP opens, as it does to Kaggle
    tf_hub = doctor.check_hubs()[0]
    assert (tf_hub.name, tf_hub.status) == ("TF Hub", doctor.WARN)
    assert "HTTP 403 Forbidden" in tf_hub.detail
