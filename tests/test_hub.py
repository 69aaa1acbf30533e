"""dynamics.hub: the GPT-2 download, tested against a loopback Hugging Face Hub (no internet).

A small HTTP server on 127.0.0.1 (tests/hub_server.py) serves a small GPT-2 (2 blocks, d = 64,
GPT-2's vocabulary size so the weights span two of huggingface_hub's 10 MB read chunks, and a
byte-level tokenizer) in the Hub's layout, with the headers huggingface_hub reads. The
child-process test runs exactly the button's code path (``DownloadJob.start``) with
``HF_ENDPOINT`` pointed at the server and ``HF_HOME`` in a temporary directory, then loads and runs
the cached model.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[models]'")
transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed: pip install -e '.[models]'"
)
pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed: pip install -e '.[models]'")

from hub_server import COMMIT, LoopbackHub, serve, tiny_repo  # noqa: E402  (tests/hub_server.py)

from dynamics import hub  # noqa: E402
from dynamics import transformer as tr  # noqa: E402

REPO = "tiny-org/tiny-gpt2"
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def repo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return tiny_repo(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture
def loopback_hub(repo_files: dict[str, bytes]) -> Iterator[LoopbackHub]:
    with serve(repo_files, repo=REPO) as state:
        yield state


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_buttons_download_path_fills_the_cache_and_the_model_runs(
    loopback_hub: LoopbackHub, tmp_path: Path
) -> None:
    """DownloadJob (the page's button) in a child process with HF_ENDPOINT and HF_HOME set."""
    home = tmp_path / "hf-home"
    env = {"HF_ENDPOINT": loopback_hub.url, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    job = hub.DownloadJob.start(REPO, env=env)
    state = job.wait(TIMEOUT_S)
    assert state.status == "done", state
    events = job.events()
    progress = [e for e in events if e["event"] == "progress"]
    wanted = [f for f in hub.GPT2_FILES if f in loopback_hub.files]
    total = sum(len(loopback_hub.files[f]) for f in wanted)
    assert progress and all(e["total"] == total for e in progress)
    done = [e["done"] for e in progress]
    assert done == sorted(done) and done[-1] == total  # monotone, and complete
    assert {e["file"] for e in progress} >= set(wanted)
    assert len([e for e in progress if e["file"] == "model.safetensors"]) >= 2  # bytes, not just files
    assert state.done == state.total == total and state.fraction == 1.0

    snapshot = Path(state.path)
    assert snapshot == home / "hub" / "models--tiny-org--tiny-gpt2" / "snapshots" / COMMIT
    for name in wanted:
        assert (snapshot / name).read_bytes() == loopback_hub.files[name]
    assert not (snapshot / "tokenizer.json").exists()  # the Hub had none: skipped, not an error
    assert (home / "hub" / "models--tiny-org--tiny-gpt2" / "refs" / "main").read_text() == COMMIT
    assert ("HEAD", f"/{REPO}/resolve/main/model.safetensors") in loopback_hub.requests
    assert ("GET", f"/{REPO}/resolve/main/model.safetensors") in loopback_hub.requests

    model = tr.load_model(str(snapshot))
    tokenizer = tr.load_tokenizer(str(snapshot))
    assert tokenizer is not None and type(model).__name__ == "GPT2Model"
    ids = tr.encode("héllo, tokens", tokenizer)
    assert len(ids) == len("héllo, tokens".encode())  # byte-level: one token per byte
    xs = tr.depth_states(model, ids, passes=2, no_mlp=True)
    assert xs.shape == (5, len(ids), 64) and np.isfinite(xs).all()


def test_in_process_download_reports_progress_and_can_be_cancelled(
    loopback_hub: LoopbackHub, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    seen: list[hub.DownloadProgress] = []

    def stop_in_weights(p: hub.DownloadProgress) -> bool:
        seen.append(p)
        return p.file == "model.safetensors" and p.done > 0 and len(seen) > 3

    with pytest.raises(hub.DownloadCancelled):
        hub.download(REPO, cache_dir=str(cache), endpoint=loopback_hub.url, progress=stop_in_weights)
    assert not hub.is_cached(REPO, cache_dir=str(cache))
    assert seen[-1].file == "model.safetensors" and 0 < seen[-1].done < seen[-1].total

    seen.clear()
    path = hub.download(REPO, cache_dir=str(cache), endpoint=loopback_hub.url, progress=seen.append)
    assert hub.is_cached(REPO, cache_dir=str(cache))
    assert (path / "model.safetensors").read_bytes() == loopback_hub.files["model.safetensors"]
    assert seen[-1].done == seen[-1].total > 0 and seen[-1].files_done == seen[-1].files
    seen.clear()
    hub.download(REPO, cache_dir=str(cache), endpoint=loopback_hub.url, progress=seen.append)
    assert seen[-1].total == 0 and seen[-1].files == 0  # everything cached: nothing to fetch


def test_cancel_stops_the_child_process_mid_file(loopback_hub: LoopbackHub, tmp_path: Path) -> None:
    loopback_hub.gated.add("model.safetensors")
    home = tmp_path / "hf-home"
    job = hub.DownloadJob.start(REPO, env={"HF_ENDPOINT": loopback_hub.url, "HF_HOME": str(home)})
    deadline = threading.Event()
    for _ in range(TIMEOUT_S * 10):  # the server holds the body after its first 11 MB
        state = job.poll()
        if (state.file == "model.safetensors" and state.done > 0) or state.finished:
            break
        deadline.wait(0.1)
    assert state.file == "model.safetensors" and 0 < state.done < state.total, state
    final = job.cancel()
    assert final.status == "cancelled" and final.finished
    assert not hub.is_cached(REPO, cache_dir=str(home / "hub"))


def test_an_unreachable_hub_says_offline(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(hub.DownloadError, match="offline") as info:
        hub.download(REPO, cache_dir=str(tmp_path), endpoint=endpoint)
    assert "all-MiniLM-L6-v2 works without any download" in str(info.value)
    job = hub.DownloadJob.start(REPO, env={"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "home")})
    state = job.wait(TIMEOUT_S)
    assert state.status == "error" and "offline" in state.message


def test_an_unknown_repository_and_a_missing_required_file(loopback_hub: LoopbackHub, tmp_path: Path) -> None:
    with pytest.raises(hub.DownloadError, match="is not on"):
        hub.download("nobody/nothing", cache_dir=str(tmp_path), endpoint=loopback_hub.url)
    del loopback_hub.files["model.safetensors"]
    with pytest.raises(hub.DownloadError, match=r"no file 'model\.safetensors'"):
        hub.download(REPO, cache_dir=str(tmp_path), endpoint=loopback_hub.url)
