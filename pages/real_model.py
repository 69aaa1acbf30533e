"""A real transformer's tokens through depth (§A.6, the authors' GPT-2 / GPT-Neo protocol).

Sidebar: model name or path (default "gpt2", from the local Hugging Face cache or a directory
only — never a download), prompt (text, or token ids when the model has no tokenizer offline),
passes of the whole block stack, no-MLP toggle (ln_2 → identity, MLP → 0), random-weights toggle
(N(0, 0.02²), zero biases). When the model is not available the page says what to do and offers
a tiny random GPT-2 built in-process, so it still shows consensus through depth. Plots per block:
1 − mean_j cos(x₁, x_j), ε-cluster count, the cosine matrix at a chosen block (in an
``st.fragment``) and the PCA path of the token directions (2D or 3D). Every failure is an
``st.error``, never a traceback.

Registered in app.py as
``st.Page("pages/real_model.py", title="Real transformer", icon=":material/memory:",
url_path="real_model")``; also runs alone (AppTest.from_file). Needs the optional ``[models]``
extra (torch CPU, transformers).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

log = logging.getLogger("adx.real_model")

TINY = "tiny random GPT-2 (built in-process)"
TINY_CONFIG = {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 100, "n_positions": 64}
DEFAULT_PROMPT = "Describe a futuristic city where humans and robots live together in harmony."
MAX_BLOCK_APPLICATIONS = 2_400  # blocks × passes: a few seconds for GPT-2 small on 2 cores
MAX_TOKENS = 128


def _torch_ok() -> str | None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        return f"{exc}. Install the optional extra: `pip install -e '.[models]'` (torch CPU, transformers)."
    return None


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load(name: str, random_init: bool, seed: int) -> tuple[Any, Any]:
    from dynamics import transformer as tr

    if name == TINY:
        from transformers import GPT2Config

        cfg = GPT2Config(**TINY_CONFIG, bos_token_id=0, eos_token_id=0)
        return tr.random_model(cfg, seed=seed), None
    return tr.load_model(name, random_init=random_init, seed=seed), tr.load_tokenizer(name)


@st.cache_data(show_spinner="Applying the blocks…", max_entries=8)
def _run(
    name: str, random_init: bool, seed: int, ids: tuple[int, ...], passes: int, no_mlp: bool, ln_f: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from dynamics import transformer as tr

    model, _ = _load(name, random_init, seed)
    xs = tr.depth_states(model, np.array(ids), passes=passes, no_mlp=no_mlp, ln_f_between_passes=ln_f)
    if not np.isfinite(xs).all():
        raise ValueError("the hidden states overflowed; try fewer passes or 'ln_f between passes'")
    return xs, tr.depth_diagnostics(xs)


def _sidebar() -> dict[str, Any]:
    sb = st.sidebar
    sb.header("Model")
    name = sb.text_input("Model name or path", value="gpt2", help="Local Hugging Face cache or a directory.")
    random_init = sb.toggle("Random weights", value=False, help="Every weight ~ N(0, 0.02²), zero biases.")
    seed = int(sb.number_input("Seed (random weights)", min_value=0, max_value=10_000, value=0))
    sb.header("Depth")
    passes = int(sb.number_input("Passes of the whole stack", min_value=1, max_value=500, value=4))
    no_mlp = sb.toggle("Remove the MLP sublayers", value=False, help="ln_2 → identity, MLP → 0")
    ln_f = sb.toggle("ln_f between passes", value=False, help="The v2 protocol; v1 keeps the raw stream.")
    eps = sb.select_slider(
        "Cluster ε (on directions)", options=[1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3], value=1e-2
    )
    return {
        "name": name.strip() or "gpt2", "random_init": random_init, "seed": seed, "passes": passes,
        "no_mlp": no_mlp, "ln_f": ln_f, "eps": float(eps),
    }  # fmt: skip


def _curve(y: np.ndarray, title: str, n_blocks: int, *, log_y: bool = False) -> go.Figure:
    k = np.arange(len(y))
    fig = go.Figure(go.Scatter(x=k, y=y, mode="lines", name=title))
    passes = (len(y) - 1) // max(n_blocks, 1)
    if 1 < passes <= 40:
        for p in range(1, passes):
            fig.add_vline(x=p * n_blocks, line={"width": 1, "dash": "dot", "color": "#aaa"})
    fig.update_layout(
        title=title, xaxis_title="block applications", height=300, margin={"l": 40, "r": 10, "t": 40, "b": 40}
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig


@st.fragment
def _cosine_view(cos: np.ndarray, labels: list[str]) -> None:
    k = st.slider("Block", 0, len(cos) - 1, len(cos) - 1, key="rm_block")
    fig = go.Figure(
        go.Heatmap(
            z=cos[k], x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu_r", colorbar={"title": "cos"}
        )
    )
    fig.update_layout(
        title=f"cos(x_i, x_j) after block application {k}", height=460, yaxis={"autorange": "reversed"}
    )
    st.plotly_chart(fig, width="stretch")


def _pca_view(pca: np.ndarray, labels: list[str]) -> None:
    three = st.toggle("3D", value=False, key="rm_pca3d")
    n = pca.shape[1]
    fig = go.Figure()
    for i in range(n):
        path = pca[:, i]
        common = {"mode": "lines+markers", "name": labels[i], "marker": {"size": 3}, "line": {"width": 1}}
        if three:
            fig.add_trace(go.Scatter3d(x=path[:, 0], y=path[:, 1], z=path[:, 2], **common))
        else:
            fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], **common))
    fig.update_layout(title="Token directions through depth (PCA of all blocks)", height=480)
    st.plotly_chart(fig, width="stretch")


def main() -> None:
    st.title("A real transformer's tokens through depth")
    st.caption(
        "Hidden states after every block of a pretrained (or random) transformer, the stack applied "
        "again and again — the authors' GPT-2 / GPT-Neo experiment (§A.6). Tokens drift to consensus: "
        "1 − mean cos(x₁, x_j) → 0, with or without the MLP sublayers, and with random weights too."
    )
    missing = _torch_ok()
    if missing:
        st.error(f"This page needs PyTorch and transformers: {missing}", icon=":material/error:")
        return
    from dynamics import transformer as tr

    opts = _sidebar()
    name = opts["name"]
    try:
        model, tokenizer = _load(name, opts["random_init"], opts["seed"])
    except tr.ModelUnavailable as exc:
        st.warning(str(exc), icon=":material/cloud_off:")
        if not st.toggle(f"Use a {TINY} instead", value=True, key="rm_tiny"):
            return
        name = TINY
        model, tokenizer = _load(TINY, True, opts["seed"])
    except Exception as exc:  # a broken directory, an unsupported architecture …
        log.exception("loading %s", name)
        st.error(f"Could not load {name!r}: {type(exc).__name__}: {exc}", icon=":material/error:")
        return

    vocab = int(getattr(model.config, "vocab_size", 0)) or None
    if tokenizer is not None:
        prompt = st.text_area("Prompt", value=DEFAULT_PROMPT, height=80)
    else:
        rng = np.random.default_rng(opts["seed"])
        default = " ".join(str(i) for i in rng.integers(0, vocab or 100, 16))
        prompt = st.text_input("Token ids (this model has no tokenizer offline)", value=default)
    try:
        ids = tr.encode(prompt, tokenizer, vocab_size=vocab)
        if len(ids) > MAX_TOKENS:
            raise ValueError(f"{len(ids)} tokens: at most {MAX_TOKENS} here")
        gpt_style = tr.blocks_of(model) is not None
        n_blocks = len(tr.blocks_of(model)) if gpt_style else int(model.config.num_hidden_layers)
        passes, no_mlp = opts["passes"], opts["no_mlp"]
        if not gpt_style and (passes > 1 or no_mlp):
            st.info(f"{type(model).__name__} is not GPT-2 style: one pass with its MLPs is shown.")
            passes, no_mlp = 1, False
        if n_blocks * passes > MAX_BLOCK_APPLICATIONS:
            passes = max(1, MAX_BLOCK_APPLICATIONS // n_blocks)
            st.info(f"Limited to {passes} passes ({MAX_BLOCK_APPLICATIONS} block applications) here.")
        random_init = opts["random_init"] if name != TINY else True
        xs, diag = _run(
            name, random_init, opts["seed"], tuple(int(i) for i in ids), passes, no_mlp, opts["ln_f"]
        )
        if opts["eps"] != 1e-2:
            diag = tr.depth_diagnostics(xs, eps=opts["eps"])
    except ValueError as exc:  # bad ids, too many tokens, overflow
        st.error(str(exc), icon=":material/error:")
        return
    except Exception as exc:  # an architecture whose blocks cannot be called like GPT-2's …
        log.exception("depth states for %s", name)
        st.error(f"Could not run the model: {type(exc).__name__}: {exc}", icon=":material/error:")
        return

    if tokenizer is not None:
        toks = [tokenizer.decode([int(i)]) for i in ids]
    else:
        toks = [str(int(i)) for i in ids]
    labels = [f"{j}:{t.strip() or '␣'}" for j, t in enumerate(toks)]
    kind = "random weights" if random_init else "pretrained"
    st.markdown(
        f"**{name}** ({type(model).__name__}, {kind}) · {len(ids)} tokens · d = {xs.shape[2]} · "
        f"{n_blocks} blocks × {passes} passes{' · no MLP' if no_mlp else ''} · "
        f"final 1 − mean cos = {diag['deviation'][-1]:.3g}, clusters = {int(diag['clusters'][-1])}"
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            _curve(np.maximum(diag["deviation"], 1e-12), "1 − mean_j cos(x₁, x_j)", n_blocks, log_y=True),
            width="stretch",
        )
    with right:
        st.plotly_chart(
            _curve(diag["clusters"], f"ε-clusters (ε = {opts['eps']:g})", n_blocks), width="stretch"
        )
    left, right = st.columns(2)
    with left:
        _cosine_view(diag["cosines"], labels)
    with right:
        _pca_view(diag["pca"], labels)


try:
    main()
except Exception as exc:  # never a traceback
    log.exception("real_model page")
    st.error(f"This page could not be drawn ({type(exc).__name__}: {exc}).")
