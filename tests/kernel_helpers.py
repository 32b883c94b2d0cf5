"""Helpers for tests that drive a Jupyter kernel directly (imported by test modules, not a test file)."""
from __future__ import annotations


def kernel_runner(client):
    """run(code) -> what one cell showed in the Jupyter kernel behind `client` (streams, displayed
    values and errors as "Name: message"), in the order the kernel sent them."""

    def run(code: str) -> str:
        msg_id, out = client.execute(code), []
        while True:
            msg = client.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] in ("display_data", "execute_result"):
                out.append(msg["content"]["data"].get("text/plain", ""))
            elif msg["msg_type"] == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)

    return run
