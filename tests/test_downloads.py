"""Tests of bertlab.downloads and of the loaders' download route, against a real HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bertlab import data, downloads

MRPC_HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


class FileServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1; ``cut`` names are sent short of their Content-Length,
    ``stalled`` ones stop for ``stall_s`` seconds after a third of the body."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.stalled: set[str] = set()
        self.stall_s = 1.5
        self.requests: list[str] = []
        self.socket_timeouts: list = []  # the process-wide default while each request is served
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                name = self.path.lstrip("/")
                server.requests.append(name)
                server.socket_timeouts.append(socket.getdefaulttimeout())
                body = server.files.get(name)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in server.cut:
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if name in server.stalled:
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    time.sleep(server.stall_s)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name):
        return f"{self.base}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = FileServer()
    yield running
    running.close()


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("BERTLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BERTLAB_DATA", raising=False)
    monkeypatch.delenv("BERTLAB_DATA_MIRROR", raising=False)
    monkeypatch.delenv("BERTLAB_OFFLINE", raising=False)


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def serve(server, monkeypatch, name, body, *, checksum=True):
    """Serve ``body`` as ``name`` through the mirror variable, with its checksum as the expected one."""
    server.files[name] = body
    monkeypatch.setenv("BERTLAB_DATA_MIRROR", server.base)
    origin = downloads.ORIGINS[name]
    monkeypatch.setitem(downloads.ORIGINS, name, downloads.Origin(origin.url, sha256(body) if checksum else None))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- fetch
def test_fetch_verifies_the_checksum_and_leaves_only_the_file(server, monkeypatch, tmp_path):
    body = b"hello\tworld\n" * 1000
    server.files["hello.txt"] = body
    monkeypatch.setitem(downloads.ORIGINS, "hello.txt", downloads.Origin(server.url("hello.txt"), sha256(body)))
    dest = downloads.fetch("hello.txt", tmp_path / "cache" / "hello.txt")
    assert dest.read_bytes() == body
    assert os.listdir(tmp_path / "cache") == ["hello.txt"]


@pytest.mark.parametrize(
    "failure, expected",
    [
        ("not found", r"HTTP error 404"),
        ("refused", r"could not connect .*refused"),
        ("cut short", r"cut short \(received 16,666 of 50,000 bytes\)"),
        ("wrong checksum", r"not the expected one.*hash does not match"),
    ],
)
def test_failed_download_raises_clearly_leaves_nothing_and_a_retry_works(server, monkeypatch, tmp_path, failure, expected):
    body = os.urandom(50_000)
    url = server.url("file.bin")
    digest = sha256(body)
    server.files["file.bin"] = body
    if failure == "not found":
        url = server.url("missing.bin")
    elif failure == "refused":
        url = f"http://127.0.0.1:{free_port()}/file.bin"
    elif failure == "cut short":
        server.cut.add("file.bin")
    else:
        digest = sha256(body + b"!")
    monkeypatch.setitem(downloads.ORIGINS, "file.bin", downloads.Origin(url, digest, len(body)))
    dest = tmp_path / "cache" / "file.bin"
    with pytest.raises(downloads.DownloadError, match=expected) as caught:
        downloads.fetch("file.bin", dest)
    assert url in str(caught.value)
    assert os.listdir(tmp_path / "cache") == []  # no partial, corrupt or temporary file

    server.cut.clear()
    monkeypatch.setitem(downloads.ORIGINS, "file.bin", downloads.Origin(server.url("file.bin"), sha256(body)))
    assert downloads.fetch("file.bin", dest).read_bytes() == body
    assert os.listdir(tmp_path / "cache") == ["file.bin"]


def test_a_stalled_server_times_out_without_touching_the_process_wide_socket_timeout(server, monkeypatch, tmp_path):
    body = os.urandom(30_000)
    server.files["slow.bin"] = body
    server.stalled.add("slow.bin")
    monkeypatch.setattr(downloads, "DOWNLOAD_TIMEOUT_S", 0.3)
    monkeypatch.setitem(downloads.ORIGINS, "slow.bin", downloads.Origin(server.url("slow.bin"), sha256(body)))
    with pytest.raises(downloads.DownloadError, match=r"slow\.bin: .*timed out"):
        downloads.fetch("slow.bin", tmp_path / "cache" / "slow.bin")
    assert os.listdir(tmp_path / "cache") == []
    assert server.socket_timeouts == [None]  # get_file needed socket.setdefaulttimeout(60) for the whole process


def test_a_file_without_checksum_or_check_cut_short_is_not_kept(server, monkeypatch, tmp_path):
    body = b"x" * 9_000
    server.files["plain.txt"] = body
    server.cut.add("plain.txt")
    monkeypatch.setitem(downloads.ORIGINS, "plain.txt", downloads.Origin(server.url("plain.txt")))
    with pytest.raises(downloads.DownloadError, match=r"cut short \(received 3,000 of 9,000 bytes\)$"):
        downloads.fetch("plain.txt", tmp_path / "cache" / "plain.txt")
    assert os.listdir(tmp_path / "cache") == []


def test_published_checksum_matches_the_shared_mrpc_dev_ids(shared_data_dir, server, monkeypatch, tmp_path):
    body = (shared_data_dir / "mrpc" / "mrpc_dev_ids.tsv").read_bytes()
    server.files["mrpc_dev_ids.tsv"] = body
    monkeypatch.setenv("BERTLAB_DATA_MIRROR", server.base)  # ORIGINS untouched: the published SHA-256
    dest = downloads.fetch("mrpc_dev_ids.tsv", tmp_path / "mrpc_dev_ids.tsv")
    assert downloads.sha256_of(dest) == "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7"
    assert len(data.read_mrpc_dev_ids(dest)) == 408


# --------------------------------------------------------------------------- loaders' download route
def test_mrpc_is_downloaded_into_the_cache_and_split_as_glue_does(server, monkeypatch, tmp_path):
    raw = MRPC_HEADER + "".join(f"{i % 2}\t{i}\t{i + 100}\tfirst {i}\tsecond {i}\n" for i in range(1, 7))
    serve(server, monkeypatch, "msr_paraphrase_train.txt", raw.encode())
    serve(server, monkeypatch, "mrpc_dev_ids.tsv", b"2\t102\n5\t105\n")
    dev = data.load_mrpc("validation")
    assert dev.values.tolist() == [[0, 2, 102, "first 2", "second 2"], [1, 5, 105, "first 5", "second 5"]]
    cached = tmp_path / "home" / "data" / "mrpc"
    assert sorted(os.listdir(cached)) == ["mrpc_dev_ids.tsv", "msr_paraphrase_train.txt"]
    monkeypatch.setenv("BERTLAB_OFFLINE", "1")  # now served from the cache
    assert data.load_mrpc("train")["id1"].tolist() == [1, 3, 4, 6]
    assert data.data_status()[0].location == str(cached)


def test_sms_archive_is_downloaded_and_extracted(server, monkeypatch, tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("SMSSpamCollection", "ham\tsee you at 6\nspam\tWIN a prize now\n")
        zipped.writestr("readme", "illustrative")
    serve(server, monkeypatch, "smsspamcollection.zip", archive.getvalue())
    frame = data.load_sms_spam()
    assert frame.values.tolist() == [["ham", "see you at 6"], ["spam", "WIN a prize now"]]
    assert (tmp_path / "home" / "data" / "sms_spam" / "SMSSpamCollection").is_file()


def fake_gutenberg(paragraphs=6000):
    body = "\n\n".join(f"Paragraph {i} starts here, in a made-up book. It has a second sentence, as long as the first one." for i in range(paragraphs))
    return (
        "The Project Gutenberg eBook of Pride and Prejudice\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***\n\n"
        f"Chapter I.]\n\n{body}\n\n*** END OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***\nlicence text\n"
    ).encode()


def test_gutenberg_text_is_checked_by_format_then_cached(server, monkeypatch, tmp_path):
    serve(server, monkeypatch, "pg1342.txt", fake_gutenberg(), checksum=False)
    documents = data.load_corpus()
    assert len(documents) == 6000
    assert documents[1] == ["Paragraph 1 starts here, in a made-up book.", "It has a second sentence, as long as the first one."]
    assert (tmp_path / "home" / "data" / "corpus" / "pride_and_prejudice.txt").is_file()


def test_a_novel_cut_short_is_rejected_by_its_format(server, monkeypatch, tmp_path):
    serve(server, monkeypatch, "pg1342.txt", fake_gutenberg(), checksum=False)
    server.cut.add("pg1342.txt")
    with pytest.raises(data.DataUnavailableError, match=r"pg1342\.txt: .*END OF THE PROJECT GUTENBERG EBOOK"):
        data.load_corpus()
    assert os.listdir(tmp_path / "home" / "data" / "corpus") == []


def test_a_page_that_is_not_the_novel_is_rejected_and_not_cached(server, monkeypatch, tmp_path):
    serve(server, monkeypatch, "pg1342.txt", b"<html>Please solve this captcha</html>" * 20_000, checksum=False)
    with pytest.raises(data.DataUnavailableError, match=r"pg1342\.txt: the downloaded file is not the expected one.*START"):
        data.load_corpus()
    assert not (tmp_path / "home" / "data" / "corpus" / "pride_and_prejudice.txt").exists()
    assert os.listdir(tmp_path / "home" / "data" / "corpus") == []


def test_when_every_origin_fails_one_error_names_each_with_its_reason(server, monkeypatch):
    monkeypatch.setenv("BERTLAB_DATA_MIRROR", server.base)  # serves nothing: every file is a 404
    with pytest.raises(data.DataUnavailableError) as caught:
        data.load_mrpc("train")
    message = str(caught.value)
    assert f"{server.base}/msr_paraphrase_train.txt: HTTP error 404" in message
    assert f"{server.base}/mrpc_dev_ids.tsv: HTTP error 404" in message
    assert "by hand" in message


def test_offline_mode_makes_no_request(server, monkeypatch):
    monkeypatch.setenv("BERTLAB_DATA_MIRROR", server.base)
    monkeypatch.setenv("BERTLAB_OFFLINE", "1")
    with pytest.raises(data.DataUnavailableError, match="BERTLAB_OFFLINE"):
        data.load_sms_spam()
    assert server.requests == []
