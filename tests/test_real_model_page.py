"""The Real transformer page (pages/real_model.py) in Streamlit's AppTest, offline.

With an empty Hugging Face cache the page defaults to the packaged all-MiniLM-L6-v2, draws the
depth curves under a headline computed from them, reads a layer's weights against every theorem
card and runs the paper's ODE against the network; the "Load GPT-2" button downloads from a
loopback hub (tests/hub_server.py) in a child process, after which GPT-2 becomes the default; an
unreachable hub and bad input give messages, never a traceback.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[models]'")
pytest.importorskip("transformers", reason="transformers is not installed: pip install -e '.[models]'")
constants = pytest.importorskip("huggingface_hub.constants", reason="pip install -e '.[models]'")

from hub_server import serve, tiny_repo  # noqa: E402  (tests/hub_server.py)
from rendered import as_read  # noqa: E402  (tests/rendered.py)
from streamlit.testing.v1 import AppTest  # noqa: E402

from dynamics import transformer as tr  # noqa: E402
from dynamics.theorems import REGISTRY, get  # noqa: E402

PAGE = Path(__file__).resolve().parents[1] / "pages" / "real_model.py"
TIMEOUT_S = 300
MINILM_LABEL = "all-MiniLM-L6-v2 (packaged, pretrained)"
GPT2_LABEL = "GPT-2 (local Hugging Face cache)"
TINY_LABEL = "tiny random GPT-2 (built in-process)"

pytestmark = pytest.mark.skipif(tr.minilm_path() is None, reason="pip install -e '.[models]' (MiniLM)")


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh machine: HF_HOME is an empty folder (for this process and any child it starts)."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))  # read at import: patch it too
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def _page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT_S)
    at.run()
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown]
    for kind in ("success", "info", "warning", "error", "caption"):
        parts += [e.value for e in at.get(kind)]
    return "\n".join(parts)


def test_fresh_machine_defaults_to_minilm_and_draws_everything(empty_cache: Path) -> None:
    at = _page()
    assert not at.exception and not at.error, [e.value for e in at.error]
    model = at.sidebar.selectbox(key="rm_model")
    assert model.value == MINILM_LABEL and GPT2_LABEL not in model.options
    assert any(b.label.startswith("Load GPT-2") for b in at.button)
    assert len(at.get("plotly_chart")) == 6  # 2 depth curves, cosines, PCA, spectra, ODE vs network
    # the headline is the sentence the curves give, not an assertion
    passes = int(at.sidebar.number_input(key=f"rm_passes_{MINILM_LABEL}").value)
    model_obj, tokenizer = tr.load_model(tr.MINILM), tr.load_tokenizer(tr.MINILM)
    xs = tr.depth_states(model_obj, tr.encode(tr.DEFAULT_PROMPT, tokenizer), passes=passes)
    d = tr.depth_diagnostics(xs)
    _, sentence = tr.describe_depth(d["deviation"], d["clusters"], 1e-2)
    assert sentence in _texts(at)
    # every theorem card has its verdict line, with the number that decides it
    lines = [line for m in at.markdown for line in m.value.split("\n\n") if line.startswith(("✓", "✗"))]
    euclidean = [th.name for th in REGISTRY if th.model == "euclidean"]
    assert len(lines) == len(REGISTRY) - len(euclidean) + 1  # the Euclidean results share one line
    assert all(name in lines[-1] for name in euclidean)
    hemisphere = next(line for line in lines if get("ast-hemisphere").name in line)
    assert hemisphere.startswith("✗") and "V = I ✗ (‖V − I‖/√d = " in hemisphere
    assert "After 24 applications of layer 0" in _texts(at)


def test_the_layer_and_the_manifold_change_the_verdicts(empty_cache: Path) -> None:
    at = _page()
    at.number_input(key="rm_layer").set_value(5).run()
    assert not at.exception and not at.error
    assert "After 24 applications of layer 5" in _texts(at)
    sphere_line = next(
        line for m in at.markdown for line in m.value.split("\n\n") if get("glpr-sphere-d3").name in line
    )
    assert "on the unit sphere ✗" in sphere_line
    at.radio(key="rm_space").set_value("sphere").run()
    sphere_line = next(
        line for m in at.markdown for line in m.value.split("\n\n") if get("glpr-sphere-d3").name in line
    )
    assert "on the unit sphere" not in sphere_line and "V = I ✗" in sphere_line


def test_the_tiny_fallback_says_what_it_shows(empty_cache: Path) -> None:
    at = _page()
    at.sidebar.selectbox(key="rm_model").set_value(TINY_LABEL).run()
    assert not at.exception and not at.error
    text = _texts(at)
    ids = tr.encode(at.text_input(key="rm_ids").value, None)
    xs = tr.depth_states(tr.tiny_gpt2(seed=0), ids, passes=100)
    d = tr.depth_diagnostics(xs)
    _, sentence = tr.describe_depth(d["deviation"], d["clusters"], 1e-2)
    assert sentence in text and "stand-in" in text
    at.text_input(key="rm_ids").set_value("1 2 hello").run()  # token ids only: a message
    assert not at.exception and "token ids" in at.error[0].value


def test_an_unknown_model_is_a_message(empty_cache: Path) -> None:
    at = _page()
    at.sidebar.selectbox(key="rm_model").set_value("another model (name or path)").run()
    at.sidebar.text_input[0].set_value("no-such-org/no-such-model-xyz").run()
    assert not at.exception and not at.error
    assert "is not a loadable model here" in at.warning[0].value


def _run_until(at: AppTest, done, timeout_s: float = TIMEOUT_S) -> None:
    """Rerun (as the page's 0.5 s fragment timer would) until ``done(at)``."""
    deadline = time.monotonic() + timeout_s
    while not done(at):
        assert time.monotonic() < deadline, _texts(at)
        time.sleep(0.2)
        at.run()


def test_load_gpt2_downloads_from_the_hub_then_gpt2_is_the_default(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tiny_repo(tmp_path / "repo")
    with serve(files, repo="gpt2") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)  # the child process reads it
        at = _page()
        next(b for b in at.button if b.label.startswith("Load GPT-2")).click().run()
        assert not at.exception
        _run_until(at, lambda a: "GPT-2 is now in the local Hugging Face cache" in _texts(a))
    assert ("GET", "/gpt2/resolve/main/model.safetensors") in hub.requests
    snapshot = empty_cache / "hub" / "models--gpt2" / "snapshots"
    assert (next(snapshot.iterdir()) / "model.safetensors").read_bytes() == files["model.safetensors"]
    at = _page()  # a new visit: GPT-2 is cached, so it is the default
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.selectbox(key="rm_model").value == GPT2_LABEL
    assert not any(b.label.startswith("Load GPT-2") for b in at.button)
    text = _texts(at)
    assert "GPT2Model, GPT2 family, pre-LN" in text and "one block =" in text
    assert len(at.get("plotly_chart")) == 6


def test_load_gpt2_offline_says_so(empty_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    at = _page()
    next(b for b in at.button if b.label.startswith("Load GPT-2")).click().run()
    _run_until(at, lambda a: any("could not be downloaded" in e.value for e in a.error))
    message = next(as_read(e.value) for e in at.error if "could not be downloaded" in e.value)
    assert "offline" in message and "all-MiniLM-L6-v2 works without any download" in message
    assert not at.exception
    assert np.all([not b.label.startswith("Cancel") for b in at.button])


def test_cancel_stops_the_download_and_says_so(
    empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tiny_repo(tmp_path / "repo")
    with serve(files, repo="gpt2") as hub:
        hub.gated.add("model.safetensors")  # the server pauses after 11 MB of the weights
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        at = _page()
        next(b for b in at.button if b.label.startswith("Load GPT-2")).click().run()
        # the bar names the weights file from its first byte on: wait until bytes have arrived
        _run_until(
            at,
            lambda a: any(
                "model.safetensors" in (p.proto.text or "") and p.proto.value > 0 for p in a.get("progress")
            ),
        )
        bar = next(p for p in at.get("progress") if "model.safetensors" in (p.proto.text or ""))
        assert 0 < bar.proto.value < 100 and "of " in bar.proto.text
        at.button(key="rm_cancel_download").click().run()
        assert not at.exception
        _run_until(at, lambda a: any("Download cancelled" in i.value for i in a.info))
        assert any(b.label.startswith("Load GPT-2") for b in at.button)  # it can be resumed
    assert not (empty_cache / "hub" / "models--gpt2" / "snapshots").exists() or not any(
        (empty_cache / "hub" / "models--gpt2" / "snapshots").rglob("model.safetensors")
    )


def test_a_typed_path_gets_one_neutral_message_whatever_is_there(empty_cache: Path, tmp_path: Path) -> None:
    """/etc (a directory that is no model), a missing path, a file and a markup payload all get the
    same sentence, the typed value shown literally: the page does not reveal what exists on the
    server."""
    (tmp_path / "file.txt").write_text("x")
    at = _page()
    at.sidebar.selectbox(key="rm_model").set_value("another model (name or path)").run()
    said = []
    for typed in ("/etc", "/no/such/dir", str(tmp_path / "file.txt"), "![x](http://127.0.0.1:9/a.png)"):
        at.sidebar.text_input(key="rm_path").set_value(typed).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        warning = next(w.value for w in at.warning if "is not a loadable model here" in w.value)
        assert warning.startswith(f"`{typed}`")  # a code span: shown verbatim, never as markup
        said.append(warning.replace(f"`{typed}`", "<path>"))
    assert len(set(said)) == 1, said
