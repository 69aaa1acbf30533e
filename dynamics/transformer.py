"""A real transformer's tokens through depth (§A.6: the authors' GPT-2 / GPT-Neo protocol).

    from dynamics.transformer import load_model, load_tokenizer, encode, depth_states, depth_diagnostics
    model = load_model("gpt2")                       # local Hugging Face cache or a path only
    ids = encode("The meaning of life is", load_tokenizer("gpt2"))
    xs = depth_states(model, ids, passes=50, no_mlp=True)   # (12·50 + 1, n, 768)
    diag = depth_diagnostics(xs)                     # 1 − mean cos(x₁, x_j), cosines, clusters, PCA

* ``depth_states`` takes the hidden states after every block and can apply the whole stack of
  blocks again and again (``passes``), emulating an arbitrarily deep transformer with periodic
  weights; ``no_mlp`` removes the feed-forward sublayer (``ln_2`` → identity, MLP → 0, as the
  authors' ``--noff``), leaving ``x + attn(ln_1 x)``. This works for GPT-2 style models (a
  ``.h`` list of pre-LN blocks with ``ln_2`` and ``mlp``: GPT-2, GPT-Neo, GPT-J …); any other
  architecture gets the plain ``output_hidden_states`` of one pass.
* ``load_model(..., random_init=True)`` re-draws every weight once: N(0, 0.02²) for linear and
  embedding weights, zero biases, layer norms reset to (1, 0).
* The residual stream is not re-normalised between passes (v1 protocol) unless
  ``ln_f_between_passes=True`` (v2 protocol). Diagnostics use the raw hidden states (rows
  normalised, no ``ln_f``).

Weights come only from the local Hugging Face cache or a directory (``local_files_only=True``);
nothing is downloaded at run time. torch and transformers (the ``[models]`` extra) are imported
inside the functions, so ``import dynamics`` never needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import clusters, cosines, pca_3d

DEFAULT_MODEL = "gpt2"
INSTALL_HINT = "install the optional extra: pip install -e '.[models]' (torch CPU and transformers)"


class ModelUnavailable(RuntimeError):
    """The model (or torch/transformers) is not available offline. The message says what to do."""


def _require() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelUnavailable(f"torch and transformers are not installed ({exc}): {INSTALL_HINT}") from exc
    return torch, transformers


def not_cached_message(name_or_path: str) -> str:
    """What to tell a user whose model is neither a directory nor in the local cache."""
    label = "GPT-2" if name_or_path == "gpt2" else repr(name_or_path)
    return (
        f"{label} is not in the local Hugging Face cache (and is not a model directory): run "
        f"`python -c 'from transformers import AutoModel, AutoTokenizer; "
        f'AutoModel.from_pretrained("{name_or_path}"); AutoTokenizer.from_pretrained("{name_or_path}")\'` '
        "on a machine with internet (then copy ~/.cache/huggingface here), or pass the path of a "
        "directory holding config.json and the weights. Nothing is downloaded at run time."
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
    """The base model (no LM head), in eval mode, float32, on the CPU, from a directory or the local
    Hugging Face cache only. ``random_init``: same architecture, every weight re-drawn
    (N(0, 0.02²), zero biases; only config.json is needed). Raises ModelUnavailable with what to do."""
    _, transformers = _require()
    name_or_path = str(name_or_path).strip() or DEFAULT_MODEL
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
    """The model's tokenizer from a directory or the local cache, or None when there is none."""
    try:
        _, transformers = _require()
        return transformers.AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=True)
    except Exception:  # no tokenizer is a normal case: the caller gives token ids
        return None


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


def blocks_of(model: Any) -> Any | None:
    """The list of GPT-2 style blocks (``.h`` with ``ln_2`` and ``mlp``), or None."""
    base = getattr(model, "base_model", model)
    h = getattr(base, "h", None)
    if h is None or len(h) == 0 or not all(hasattr(b, "mlp") and hasattr(b, "ln_2") for b in h):
        return None
    return h


@contextmanager
def _without_mlp(blocks: Any, active: bool):
    """Temporarily replace ln_2 by the identity and the MLP by zero in every block."""
    if not active:
        yield
        return
    torch, _ = _require()

    class Zero(torch.nn.Module):
        def forward(self, x, *args, **kwargs):
            return torch.zeros_like(x)

    saved = [(b.ln_2, b.mlp) for b in blocks]
    try:
        for b in blocks:
            b.ln_2, b.mlp = torch.nn.Identity(), Zero()
        yield
    finally:
        for b, (ln_2, mlp) in zip(blocks, saved, strict=True):
            b.ln_2, b.mlp = ln_2, mlp


def n_positions(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    for key in ("n_positions", "max_position_embeddings"):
        if cfg is not None and isinstance(getattr(cfg, key, None), int):
            return getattr(cfg, key)
    return None


def depth_states(
    model: Any,
    input_ids: Sequence[int] | np.ndarray,
    *,
    passes: int = 1,
    no_mlp: bool = False,
    ln_f_between_passes: bool = False,
    progress: Callable[[int, int], bool | None] | None = None,
) -> np.ndarray:
    """Hidden states (blocks·passes + 1, n, d), float32: the embeddings, then the residual stream
    after every block, the stack applied ``passes`` times. ``progress(done, total)`` is called
    after every block; returning True stops early (the states so far are returned)."""
    torch, _ = _require()
    ids = np.asarray(input_ids, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        raise ValueError("no tokens")
    limit = n_positions(model)
    if limit is not None and ids.size > limit:
        raise ValueError(f"{ids.size} tokens exceed the model's context of {limit}")
    passes = int(passes)
    if passes < 1:
        raise ValueError("passes must be ≥ 1")
    blocks = blocks_of(model)
    model.eval()
    ids_t = torch.from_numpy(ids)[None, :]
    with torch.no_grad():
        if blocks is None:
            if passes != 1 or no_mlp:
                raise ValueError(
                    f"{type(model).__name__} is not a GPT-2 style model (no .h blocks with an MLP): "
                    "only one pass with its MLPs is available"
                )
            out = model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), output_hidden_states=True)
            return np.stack([h[0].float().numpy() for h in out.hidden_states])
        out = model(input_ids=ids_t, output_hidden_states=True)
        x = out.hidden_states[0]
        base = getattr(model, "base_model", model)
        ln_f = getattr(base, "ln_f", None)
        total = len(blocks) * passes
        states = [x[0].float().numpy().copy()]
        with _without_mlp(blocks, no_mlp):
            for p in range(passes):
                if p > 0 and ln_f_between_passes and ln_f is not None:
                    x = ln_f(x)
                for block in blocks:
                    y = block(x)
                    x = y[0] if isinstance(y, tuple) else y
                    states.append(x[0].float().numpy().copy())
                    if progress is not None and progress(len(states) - 1, total):
                        return np.stack(states)
    return np.stack(states)


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
