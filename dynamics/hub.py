"""GPT-2 on request: an explicit, cancellable download into the standard Hugging Face cache.

    from dynamics.hub import download, is_cached, DownloadJob
    is_cached("gpt2")                          # config + weights in the local cache? (no network)
    path = download("gpt2", progress=cb)       # cb(DownloadProgress) → True cancels; returns the snapshot
    job = DownloadJob.start("gpt2")            # the same download in a child process (the app's button)
    job.poll()                                 # JobState: status, bytes done / total, file, message
    job.cancel()

    python -m dynamics.hub gpt2                # the child process: JSON lines on stdout

Nothing here runs unless called: the app downloads only when the user presses its button. The
files go through ``huggingface_hub.hf_hub_download`` (one file at a time, a ``tqdm_class`` adapter
reporting the bytes), into the cache that ``HF_HOME`` / ``HF_HUB_CACHE`` name, from the Hub that
``HF_ENDPOINT`` names — the settings huggingface_hub reads when it is imported. The app keeps its
own process offline (``HF_HUB_OFFLINE=1`` for everything that loads a page) and downloads in a child
process started without that variable, which can also be stopped at once (``cancel``).

Sizes come from a first pass of ``hf_hub_download(..., dry_run=True)`` (a HEAD request per file,
the same code path), so the progress bar knows the total before the first byte. An unreachable Hub
(offline machine, wrong endpoint) gives :class:`DownloadError` with a message saying so, at once: a
plain TCP connection to the Hub's host is tried first (``unreachable``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

GPT2 = "gpt2"
#: What loading GPT-2 (model and tokenizer) needs; the first two are required.
GPT2_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
)
REQUIRED = ("config.json", "model.safetensors")
APPROX_SIZE = "≈ 550 MB"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
CONNECT_TIMEOUT_S = 5.0


class DownloadError(RuntimeError):
    """The download cannot happen (offline, unknown repository, missing file). Says why."""


class DownloadCancelled(RuntimeError):
    """The progress callback asked to stop."""


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes received so far of all files (``done``/``total``) and the file being fetched."""

    done: int
    total: int
    file: str
    files_done: int
    files: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


def _endpoint_label(endpoint: str | None) -> str:
    if endpoint:
        return endpoint
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return "the Hugging Face Hub"


def is_cached(repo_id: str = GPT2, *, files: Sequence[str] = REQUIRED, cache_dir: str | None = None) -> bool:
    """True when every file of ``files`` is in the local cache (looked up on disk, no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for name in files:
        hit = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
        if not isinstance(hit, str) or not os.path.isfile(hit):
            return False
    return True


def unreachable(endpoint: str | None = None, *, timeout: float = CONNECT_TIMEOUT_S) -> OSError | None:
    """None if a TCP connection to the Hub's host opens within ``timeout``, else the error.

    huggingface_hub retries an unreachable host for ~25 s before it gives up; this answers an
    offline machine at once (a DNS failure or a refused connection is immediate).
    """
    url = urlsplit(_endpoint_label(endpoint))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


def _offline_message(repo_id: str, endpoint: str | None, exc: BaseException) -> str:
    return (
        f"could not reach {_endpoint_label(endpoint)} to download {repo_id!r}: this machine looks "
        f"offline (or the Hub is unreachable from here: {type(exc).__name__}). Download it on a "
        f"machine with internet (`python -m dynamics.hub {repo_id}`) and copy ~/.cache/huggingface "
        "here; the packaged all-MiniLM-L6-v2 works without any download."
    )


def _plan(
    repo_id: str, files: Sequence[str], required: Sequence[str], common: dict[str, Any]
) -> list[tuple[str, int]]:
    """(file, size) of every file of ``files`` that is not in the cache yet (a dry run against the
    Hub); a missing optional file is skipped, a missing required one raises DownloadError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint, revision = common["endpoint"], common["revision"]
    plan: list[tuple[str, int]] = []
    try:
        for name in files:
            try:
                info = hf_hub_download(repo_id, name, dry_run=True, **common)
            except RemoteEntryNotFoundError:
                if name in required:
                    raise DownloadError(f"{repo_id!r} has no file {name!r}: not a loadable model") from None
                continue
            if info.will_download:
                plan.append((name, int(info.file_size or 0)))
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise DownloadError(
            f"{repo_id!r} (revision {revision!r}) is not on {_endpoint_label(endpoint)}"
        ) from exc
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError) as exc:
        raise DownloadError(_offline_message(repo_id, endpoint, exc)) from exc
    except HfHubHTTPError as exc:
        raise DownloadError(f"the Hub refused the download of {repo_id!r}: {exc}") from exc

    return plan


def _byte_bar(advance: Callable[[int], None]) -> type:
    """A tqdm stand-in class for ``hf_hub_download(tqdm_class=…)`` (the subset it uses: constructor
    keywords, update, close, refresh, set_postfix_str, context) that passes each byte count to
    ``advance``."""

    class ByteBar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.n = int(kwargs.get("initial") or 0)
            self.total = kwargs.get("total")

        def update(self, n: int | float | None = 1) -> None:
            step = int(n or 0)
            self.n += step
            advance(step)

        def close(self) -> None:
            pass

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __enter__(self) -> ByteBar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    return ByteBar


def download(
    repo_id: str = GPT2,
    *,
    files: Sequence[str] = GPT2_FILES,
    required: Sequence[str] = REQUIRED,
    revision: str = "main",
    cache_dir: str | None = None,
    endpoint: str | None = None,
    progress: Callable[[DownloadProgress], bool | None] | None = None,
) -> Path:
    """Download ``files`` of ``repo_id`` into the Hugging Face cache; return the snapshot folder.

    ``progress(DownloadProgress)`` is called as bytes arrive; returning True cancels
    (DownloadCancelled; a partial file stays as ``*.incomplete`` and is resumed next time). Files
    outside ``required`` that the repository lacks are skipped. Raises DownloadError.
    """
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError as exc:  # pragma: no cover - huggingface_hub comes with transformers
        raise DownloadError(f"huggingface_hub is not installed ({exc}): pip install -e '.[models]'") from exc

    problem = unreachable(endpoint)
    if problem is not None:
        raise DownloadError(_offline_message(repo_id, endpoint, problem))
    common: dict[str, Any] = {"revision": revision, "cache_dir": cache_dir, "endpoint": endpoint}
    plan = _plan(repo_id, files, required, common)
    total = sum(size for _, size in plan)
    state = DownloadProgress(done=0, total=total, file="", files_done=0, files=len(plan))

    def report(new: DownloadProgress) -> None:
        nonlocal state
        state = new
        if progress is not None and progress(state) is True:
            raise DownloadCancelled(f"download of {repo_id!r} cancelled")

    ByteBar = _byte_bar(lambda step: report(replace(state, done=state.done + step)))

    report(state)
    try:
        for k, (name, size) in enumerate(plan):
            start = state.done
            report(replace(state, file=name, files_done=k))
            hf_hub_download(repo_id, name, tqdm_class=ByteBar, **common)  # type: ignore[arg-type]
            report(replace(state, done=start + size, files_done=k + 1))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError) as exc:
        raise DownloadError(_offline_message(repo_id, endpoint, exc)) from exc
    except HfHubHTTPError as exc:
        raise DownloadError(f"the download of {repo_id!r} failed: {exc}") from exc
    except OSError as exc:  # disk full, consistency check failed …
        raise DownloadError(f"the download of {repo_id!r} failed: {exc}") from exc
    from huggingface_hub import try_to_load_from_cache

    snapshot = try_to_load_from_cache(repo_id, required[0], cache_dir=cache_dir, revision=revision)
    if not isinstance(snapshot, str):  # pragma: no cover - hf_hub_download just stored it
        raise DownloadError(f"{repo_id!r} was downloaded but is not in the cache ({cache_dir or 'default'})")
    return Path(snapshot).parent


# ------------------------------------------------------------------------------ child process
@dataclass(frozen=True)
class JobState:
    """What a DownloadJob reports: status "running" | "done" | "error" | "cancelled"."""

    status: str
    done: int = 0
    total: int = 0
    file: str = ""
    message: str = ""
    path: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def finished(self) -> bool:
        return self.status != "running"


class DownloadJob:
    """``python -m dynamics.hub REPO`` in a child process, read line by line (see ``main``).

    The child inherits the environment minus HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE (``env``
    overrides it), so it honours HF_HOME, HF_HUB_CACHE and HF_ENDPOINT like any huggingface_hub
    program. ``cancel`` terminates it.
    """

    def __init__(self, process: subprocess.Popen[str], repo_id: str) -> None:
        self.repo_id = repo_id
        self._process = process
        self._lock = threading.Lock()
        self._state = JobState("running")
        self._events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name=f"download {repo_id}", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, repo_id: str = GPT2, *, env: Mapping[str, str] | None = None) -> DownloadJob:
        child_env = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARIABLES}
        child_env.update(env or {})
        process = subprocess.Popen(
            [sys.executable, "-m", "dynamics.hub", repo_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child_env,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
        return cls(process, repo_id)

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            with self._lock:
                self._events.append(event)
                self._state = _apply(self._state, event)
        code = self._process.wait()
        with self._lock:
            if self._state.status == "running":
                self._state = replace(
                    self._state,
                    status="cancelled" if code < 0 else "error",
                    message=self._state.message
                    or ("cancelled" if code < 0 else f"the download process exited with code {code}"),
                )

    def poll(self) -> JobState:
        with self._lock:
            return self._state

    def events(self) -> list[dict[str, Any]]:
        """Every event the child reported so far (for tests and logs)."""
        with self._lock:
            return list(self._events)

    def wait(self, timeout: float | None = None) -> JobState:
        self._reader.join(timeout)
        return self.poll()

    def cancel(self) -> JobState:
        """Stop the child (SIGTERM; the partial file is resumed by the next download)."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a child ignoring SIGTERM
                self._process.kill()
        self._reader.join(10)
        return self.poll()


def _apply(state: JobState, event: Mapping[str, Any]) -> JobState:
    kind = event.get("event")
    if kind == "progress":
        return replace(
            state,
            done=int(event.get("done", 0)),
            total=int(event.get("total", 0)),
            file=str(event.get("file", "")),
        )
    if kind == "done":
        return replace(state, status="done", path=str(event.get("path", "")), done=state.total or state.done)
    if kind == "error":
        return replace(state, status="error", message=str(event.get("message", "")))
    return state


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dynamics.hub REPO``: download, one JSON object per line on stdout —
    {"event": "progress", "done", "total", "file", "files_done", "files"} (at most every 1 MB or
    file change), then {"event": "done", "path"} (exit 0) or {"event": "error", "message"} (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m dynamics.hub", description=__doc__.split("\n\n")[0])
    parser.add_argument("repo_id", nargs="?", default=GPT2, help="Hub model id (default gpt2)")
    args = parser.parse_args(argv)
    last: dict[str, Any] = {"done": -1, "file": None}

    def emit(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    def on_progress(p: DownloadProgress) -> None:
        if p.file != last["file"] or p.done - last["done"] >= 1 << 20 or p.done == p.total:
            last.update(done=p.done, file=p.file)
            emit({"event": "progress", "done": p.done, "total": p.total, "file": p.file,
                  "files_done": p.files_done, "files": p.files})  # fmt: skip

    try:
        path = download(args.repo_id, progress=on_progress)
    except DownloadError as exc:
        emit({"event": "error", "message": str(exc)})
        return 1
    emit({"event": "done", "path": str(path)})
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through DownloadJob in the tests
    sys.exit(main())
