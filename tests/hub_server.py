"""A loopback Hugging Face Hub for the download tests (127.0.0.1 only; no internet).

    files = tiny_repo(folder)                     # a small GPT-2 + byte-level tokenizer, as the Hub stores it
    with serve(files, repo="gpt2") as hub:        # hub.url for HF_ENDPOINT; hub.requests logged
        ...

The server answers what huggingface_hub (2.x, read from its source) asks: ``HEAD``/``GET
/{repo}/resolve/{revision}/{file}`` with ETag, X-Repo-Commit and Content-Length (404s carry
X-Error-Code: RepoNotFound / RevisionNotFound / EntryNotFound, as the Hub's do), and
``GET /api/models/{repo}/revision/{revision}`` (id, sha, siblings). The weights are larger than
huggingface_hub's 10 MB read chunk, so a download reports progress more than once; files named in
``gated`` pause after their first 11 MB until ``gate`` is set (to cancel a download mid-file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GATE_TIMEOUT_S = 120


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable-character table (byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def tiny_repo(folder: Path) -> dict[str, bytes]:
    """A small GPT-2 saved as the Hub stores it, with a byte-level tokenizer: file name → bytes."""
    import transformers

    from dynamics import transformer as tr

    config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=64, vocab_size=50257, n_positions=128, bos_token_id=256, eos_token_id=256
    )
    tr.random_model(config, seed=3).save_pretrained(folder)
    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    vocab["<|endoftext|>"] = 256
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "GPT2Tokenizer", "model_max_length": 128}), encoding="utf-8"
    )
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@dataclass
class LoopbackHub:
    url: str
    files: dict[str, bytes]
    repo: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    gated: set[str] = field(default_factory=set)  # files whose body pauses after 10 MB until gate


def _handler(hub_state: LoopbackHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, headers: dict[str, str], body: bytes = b"") -> None:
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def _route(self) -> None:
            hub_state.requests.append((self.command, self.path))
            path = self.path.split("?", 1)[0]
            api = f"/api/models/{hub_state.repo}/revision/"
            if path.startswith(api):
                body = json.dumps(
                    {
                        "id": hub_state.repo,
                        "sha": COMMIT,
                        "siblings": [{"rfilename": f} for f in sorted(hub_state.files)],
                    }
                ).encode()
                self._send(200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)
                return
            prefix = f"/{hub_state.repo}/resolve/"
            if not path.startswith(prefix):
                body = b"Repository not found"
                self._send(404, {"X-Error-Code": "RepoNotFound", "Content-Length": str(len(body))}, body)
                return
            revision, _, name = path[len(prefix) :].partition("/")
            if revision not in ("main", COMMIT):
                self._send(404, {"X-Error-Code": "RevisionNotFound", "Content-Length": "0"})
                return
            data = hub_state.files.get(name)
            if data is None:
                self._send(
                    404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT, "Content-Length": "0"}
                )
                return
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(data)),
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "X-Repo-Commit": COMMIT,
            }
            if self.command == "HEAD" or name not in hub_state.gated:
                self._send(200, headers, data)
                return
            self._send(200, headers)
            head = 11 << 20  # one full 10 MB read chunk, then wait
            self.wfile.write(data[:head])
            self.wfile.flush()
            hub_state.gate.wait(GATE_TIMEOUT_S)
            self.wfile.write(data[head:])

        def do_HEAD(self) -> None:
            self._route()

        def do_GET(self) -> None:
            self._route()

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-body (a cancelled download) is expected here


@contextlib.contextmanager
def serve(files: dict[str, bytes], *, repo: str) -> Iterator[LoopbackHub]:
    """Serve ``files`` as ``repo`` on a free loopback port until the block ends."""
    server = _QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = LoopbackHub(url=f"http://127.0.0.1:{server.server_address[1]}", files=dict(files), repo=repo)
    server.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.gate.set()
        server.shutdown()
        server.server_close()
