"""The upload endpoint of the real server refuses what the token uploader says it refuses.

`st.file_uploader(max_upload_size=1)` only tells the browser; the server's own limit is
`server.maxUploadSize` (.streamlit/config.toml). These tests speak HTTP to
`PUT /_stcore/upload_file/<session>/<file id>` directly, as a hostile client would (no browser, no
widget): a valid session id from the websocket handshake, the XSRF double-submit cookie + header,
and a multipart body. A file within the limit is stored (204); a bigger one is refused with 413,
with or without a Content-Length header, and the server does not buffer the refused payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import queue
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator

import psutil
import pytest

from .conftest import AppServer

MB = 1024 * 1024
BOUNDARY = "adx-upload-test"


@contextlib.contextmanager
def _live_session(base_url: str) -> Iterator[str]:
    """Hold the app's websocket open (a session exists only while it is connected) and yield
    the id of the session it created."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    found: queue.Queue[str | BaseException] = queue.Queue()
    done = threading.Event()

    async def hold() -> None:
        url = base_url.replace("http://", "ws://") + "/_stcore/stream"
        async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            await ws.send(msg.SerializeToString())
            while True:
                fm = ForwardMsg()
                fm.ParseFromString(await asyncio.wait_for(ws.recv(), 60))
                if fm.WhichOneof("type") == "new_session":
                    found.put(fm.new_session.initialize.session_id)
                    break
            while not done.is_set():
                with contextlib.suppress(TimeoutError):  # keep reading: pings, the run's deltas
                    await asyncio.wait_for(ws.recv(), 0.2)

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:
            found.put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        got = found.get(timeout=90)
        if isinstance(got, BaseException):
            raise got
        yield got
    finally:
        done.set()
        thread.join(10)


@pytest.fixture(scope="module")
def upload_target(streamlit_server: AppServer) -> Iterator[tuple[str, str]]:
    """(upload path prefix of a live session, XSRF cookie value) on the running app."""
    with urllib.request.urlopen(f"{streamlit_server.base_url}/_stcore/health", timeout=10) as resp:
        cookie = resp.headers.get("Set-Cookie", "").split(";", 1)[0]
    name, _, token = cookie.partition("=")
    assert name == "_streamlit_xsrf" and token, f"no XSRF cookie from the health endpoint: {cookie!r}"
    with _live_session(streamlit_server.base_url) as session:
        yield f"/_stcore/upload_file/{session}", token


def _put(base_url: str, target: tuple[str, str], size: int, *, content_length: bool) -> int:
    """PUT a multipart body carrying a ``size``-byte CSV file; return the HTTP status.

    Without ``content_length`` the body goes chunked (no size announced up front), so the server
    can only refuse it while reading. A server that closes the connection early still answers.
    """
    prefix, token = target
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="tokens.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        block = b"0.5,0.5,0.5\n" * (64 * 1024 // 12)
        left = size
        while left > 0:
            part = block[:left]
            left -= len(part)
            yield part
        yield tail

    host = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Cookie": f"_streamlit_xsrf={token}",
        "X-Xsrftoken": token,
        "Origin": base_url,
    }
    if content_length:
        headers["Content-Length"] = str(len(head) + size + len(tail))
    try:
        try:
            conn.request(
                "PUT",
                f"{prefix}/{uuid.uuid4().hex}",
                body=body(),
                headers=headers,
                encode_chunked=not content_length,
            )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent: read its answer
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_a_file_within_the_limit_is_accepted(streamlit_server: AppServer, upload_target) -> None:
    assert _put(streamlit_server.base_url, upload_target, MB // 2, content_length=True) == 204


@pytest.mark.parametrize("content_length", [True, False], ids=["announced", "chunked"])
def test_an_oversize_upload_is_refused_without_buffering_it(
    streamlit_server: AppServer, upload_target, content_length: bool
) -> None:
    server = psutil.Process(streamlit_server.process.pid)
    assert _put(streamlit_server.base_url, upload_target, 2 * MB, content_length=content_length) == 413
    rss_before = server.memory_info().rss
    for _ in range(3):  # the three 150 MB files (RSS grew by 431 MB with the 200 MB default)
        status = _put(streamlit_server.base_url, upload_target, 150 * MB, content_length=content_length)
        assert status == 413
    grown = server.memory_info().rss - rss_before
    assert grown < 50 * MB, f"server RSS grew by {grown / MB:.0f} MB while refusing 3 × 150 MB"
