"""Engine benchmark: steps per second of ``dynamics.simulate`` against this machine's kernel limit.

    python benchmarks/engine.py              # full run (a few minutes at most on 2 cores)
    python benchmarks/engine.py --quick      # fewer repeats
    python benchmarks/engine.py --markdown   # the tables in Markdown
    python benchmarks/engine.py --threads [--loaded]       # BLAS threading: default vs chosen
    python benchmarks/engine.py --compare-with ../main     # this checkout vs another, same run

Workloads W1–W4: n=32 d=3; n=128 d=3; n=256 d=64; n=1024 d=768 (then an ensemble of 2048 systems
of n=32 d=2).

``--threads`` times W1–W4 (Euler, float64 and float32) with the library's default BLAS threads
(one per core) and with the thread count ``dynamics.threads`` chooses; ``--loaded`` first starts a
busy process beside the benchmark (one core taken by someone else, as on a shared server) and
stops it at the end.

``--compare-with PATH`` runs the same workloads (and RK4 / adaptive W1) with the ``dynamics`` of
PATH and of this checkout, each in its own subprocess, alternating A/B repeats so that load
changes hit both alike, and prints the ratio of their best times (> 1: this checkout is faster).

Throughput: Euler steps (one field evaluation each) of the model Q = K = V = I, softmax, no
mask, β = 1, on the workloads below, in float64 and float32 (the scenario dtype). A step's time is
``Result.wall_time / Result.steps`` (the integration loop, frames included; building the heads and
the initial tokens is not counted). The limit is what one field evaluation cannot avoid: the
score product X·Xᵀ, the n×n exponential and the weights·X product, each timed alone for the same
shapes, dtype and batch with the fastest of several NumPy formulations (operands already in the
layout that call likes best, outputs preallocated, exponential in place), minimum over repeats.
"% of limit" = limit time per step / achieved time per step. Everything else of a step
(normalising, projecting, the Euler update, retracting, saving frames, Python) is overhead.

Time to accuracy: max error at T = 15 against adaptive DOP853 at rtol 1e-12, atol 1e-14, and
the wall time it took, for each integrator at a few dt or rtol.

This is a script that prints tables, not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scipy

from dynamics import Ensemble, Scenario, simulate, threads

DT = 0.01


@dataclass(frozen=True)
class Workload:
    name: str
    n: int
    d: int
    steps: int
    systems: int = 1  # > 1: an ensemble of that many systems (one seed each)

    def scenario(self, dtype: str, integrator: str = "euler") -> Scenario:
        # frames=11: ten frame copies per run, as a UI run would save (one per 10% of T)
        return Scenario(
            n=self.n, d=self.d, T=self.steps * DT, dt=DT, integrator=integrator, frames=11, dtype=dtype
        )

    def ensemble(self) -> Ensemble | None:
        return Ensemble(seeds=tuple(range(self.systems))) if self.systems > 1 else None

    @property
    def label(self) -> str:
        s = f"n={self.n} d={self.d}"
        return f"{self.systems}× {s}" if self.systems > 1 else s


WORKLOADS = (
    Workload("small", 32, 3, 1000),  # W1
    Workload("medium", 128, 3, 1000),  # W2
    Workload("wide", 256, 64, 500),  # W3
    Workload("gpt2", 1024, 768, 50),  # W4
    Workload("batch", 32, 2, 100, systems=2048),
)
W_NAMES = {"small": "W1", "medium": "W2", "wide": "W3", "gpt2": "W4", "batch": "W5"}


# ---------------------------------------------------------------------------------- machine
def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name', '?')} {cfg.get('version', '')}".strip()
    except Exception:  # informative only
        return "unknown"


def _blas_threads() -> str:
    """OpenBLAS's thread count, asked from the library numpy loaded (None if not found)."""
    try:
        import ctypes

        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line}
        for path in sorted(libs):
            lib = ctypes.CDLL(path)
            for sym in (
                "scipy_openblas_get_num_threads64_",
                "openblas_get_num_threads64_",
                "openblas_get_num_threads",
            ):
                fn = getattr(lib, sym, None)
                if fn is not None:
                    return str(fn())
    except Exception:  # informative only
        pass
    return os.environ.get("OPENBLAS_NUM_THREADS", "?")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_facts() -> list[tuple[str, str]]:
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        ("CPU", f"{_cpu_model()} ({platform.machine()})"),
        ("cores", f"{cores} ({usable} usable)"),
        ("Python", platform.python_version()),
        ("NumPy", np.__version__),
        ("SciPy", scipy.__version__),
        ("BLAS", f"{_blas()}, {_blas_threads()} threads"),
        ("load average at start", load),
    ]


# ---------------------------------------------------------------------------------- timing
def _timed(fn, repeats: int, setup=None) -> list[float]:
    out = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


class KernelLimit:
    """Best time of the unavoidable kernels of one field evaluation for shape (B, n, d)."""

    def __init__(self, w: Workload, dtype: str) -> None:
        rng = np.random.default_rng(0)
        shape = (w.systems, w.n, w.d) if w.systems > 1 else (w.n, w.d)
        X = rng.standard_normal(shape).astype(dtype)
        X /= np.linalg.norm(X, axis=-1, keepdims=True)
        self.X = X
        self.Xt = np.ascontiguousarray(np.swapaxes(X, -1, -2))
        lead = shape[:-2]
        self.S = np.empty((*lead, w.n, w.n), dtype)
        self.W = np.empty(shape, dtype)
        np.matmul(X, self.Xt, out=self.S)
        self.S0 = self.S.copy()  # true scores: the exponential sees realistic values
        self.E = np.exp(self.S0)
        self.batched = len(shape) == 3
        self.d = w.d
        self.samples: dict[str, list[float]] = {"scores": [], "exp": [], "weights": []}

    def _candidates(self):
        X, Xt, S, E, W = self.X, self.Xt, self.S, self.E, self.W
        scores = [
            lambda: np.matmul(X, np.swapaxes(X, -1, -2), out=S),  # syrk for one 2-D system
            lambda: np.matmul(X, Xt, out=S),
        ]
        weights = [lambda: np.matmul(E, X, out=W)]
        if self.batched:
            scores.append(lambda: np.einsum("...id,...jd->...ij", X, X, out=S, optimize=True))
            weights.append(lambda: np.einsum("...ij,...jd->...id", E, X, out=W, optimize=True))
            if self.d <= 8:

                def columns():
                    for k in range(self.d):
                        np.matmul(E, Xt[..., k, :, None], out=W[..., k : k + 1])

                weights.append(columns)
        return scores, weights

    def sample(self, repeats: int) -> None:
        """Add ``repeats`` timings of each kernel (best formulation each time)."""
        scores, weights = self._candidates()
        S, S0 = self.S, self.S0
        self.samples["scores"] += [min(ts) for ts in zip(*(_timed(f, repeats) for f in scores), strict=True)]
        self.samples["exp"] += _timed(lambda: np.exp(S, out=S), repeats, setup=lambda: np.copyto(S, S0))
        self.samples["weights"] += [
            min(ts) for ts in zip(*(_timed(f, repeats) for f in weights), strict=True)
        ]

    def per_step(self) -> float:
        return sum(min(v) for v in self.samples.values())

    def parts(self) -> dict[str, float]:
        return {k: min(v) for k, v in self.samples.items()}


@dataclass
class Row:
    workload: Workload
    dtype: str
    integrator: str
    per_step: list[float]  # seconds, one per repeat
    limit: KernelLimit | None

    @property
    def best(self) -> float:
        return min(self.per_step)

    @property
    def median(self) -> float:
        return statistics.median(self.per_step)

    @property
    def ratio(self) -> float | None:
        return None if self.limit is None else self.limit.per_step() / self.best


def run_workload(w: Workload, repeats: int, integrator: str = "euler") -> list[Row]:
    """Both dtypes, their runs of simulate and timings of their limit kernels interleaved, so
    that a change of load on the machine affects all of them alike."""
    dtypes = ("float64", "float32")
    ens = w.ensemble()
    scenarios = [w.scenario(dt, integrator) for dt in dtypes]
    limits = [KernelLimit(w, dt) if integrator == "euler" else None for dt in dtypes]
    for sc in scenarios:  # warm up (first allocations, BLAS threads)
        simulate(sc.replace(T=min(sc.T, 5 * DT)), ensemble=ens)
    per_step: list[list[float]] = [[] for _ in dtypes]
    for _ in range(repeats):
        for sc, limit, times in zip(scenarios, limits, per_step, strict=True):
            if limit is not None:
                limit.sample(1)
            r = simulate(sc, ensemble=ens)
            assert r.status == 0, r.message
            times.append(r.wall_time / r.steps)
    for limit in limits:
        if limit is not None:
            limit.sample(max(2, repeats // 2))
    return [Row(w, dt, integrator, t, lim) for dt, t, lim in zip(dtypes, per_step, limits, strict=True)]


# ---------------------------------------------------------------------------------- accuracy
ACCURACY_SCENARIO = Scenario(n=32, d=3, beta=1.0, T=15.0, frames=2, seed=0)
ACCURACY_RUNS = (
    ("euler", "dt", (0.1, 0.03, 0.01, 0.003, 0.001)),
    ("rk4", "dt", (0.5, 0.25, 0.1, 0.05, 0.02, 0.01)),
    ("RK45", "rtol", (1e-4, 1e-6, 1e-8, 1e-10)),
    ("DOP853", "rtol", (1e-4, 1e-6, 1e-8, 1e-10)),
)


def accuracy_rows(repeats: int) -> list[tuple[str, str, int, float, float]]:
    ref = simulate(ACCURACY_SCENARIO.replace(integrator="adaptive", method="DOP853", rtol=1e-12, atol=1e-14))
    x_ref = ref.x_final
    rows = []
    for name, knob, values in ACCURACY_RUNS:
        for v in values:
            if knob == "dt":
                sc = ACCURACY_SCENARIO.replace(integrator=name, dt=v)
            else:
                sc = ACCURACY_SCENARIO.replace(integrator="adaptive", method=name, rtol=v, atol=v * 1e-3)
            results = [simulate(sc) for _ in range(repeats)]
            err = float(np.max(np.linalg.norm(results[0].x_final - x_ref, axis=-1)))
            wall = min(r.wall_time for r in results)
            label = "euler" if name == "euler" else "rk4" if name == "rk4" else f"adaptive {name}"
            rows.append((label, f"{knob} {v:g}", results[0].evaluations, wall * 1e3, err))
    return rows


# ---------------------------------------------------------------------------------- threads
@contextlib.contextmanager
def busy_neighbour(enabled: bool):
    """A background process that keeps one core busy (the "loaded" mode), stopped on exit."""
    if not enabled:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)  # let the scheduler see it
        yield proc
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def default_threads():
    """Runs as if dynamics.threads did not choose: every run "large", one BLAS thread per core."""
    old = threads.MULTITHREAD_MIN_WORK
    threads.MULTITHREAD_MIN_WORK = 0.0
    try:
        yield
    finally:
        threads.MULTITHREAD_MIN_WORK = old


def threading_rows(repeats: int) -> list[list[str]]:
    """W1–W4, Euler, both dtypes: ms/step with the default BLAS threads and with the chosen ones."""
    rows = []
    for w in WORKLOADS[:4]:
        for dtype in ("float64", "float32"):
            sc = w.scenario(dtype)
            simulate(sc.replace(T=min(sc.T, 5 * DT)))
            best = {"default": math.inf, "chosen": math.inf}
            chosen = 0
            for _ in range(repeats):
                with default_threads():
                    r = simulate(sc)
                best["default"] = min(best["default"], r.wall_time / r.steps)
                r = simulate(sc)
                chosen = r.extra["blas_threads"]
                best["chosen"] = min(best["chosen"], r.wall_time / r.steps)
            rows.append(
                [
                    f"{W_NAMES[w.name]} {w.label}",
                    dtype,
                    f"{threads.usable_cores()}",
                    f"{best['default'] * 1e3:.4g}",
                    f"{chosen}",
                    f"{best['chosen'] * 1e3:.4g}",
                    f"{best['default'] / best['chosen']:.2f}×",
                ]
            )
            print(f"  … threads {w.label} {dtype}", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------- compare
COMPARE_WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from dynamics import Ensemble, Scenario, simulate, threads
specs = json.loads(sys.argv[2])
out = []
for spec in specs:
    systems = spec.pop("systems")
    ens = Ensemble(seeds=tuple(range(systems))) if systems > 1 else None
    sc = Scenario(**spec)
    simulate(sc.replace(T=min(sc.T, 0.05)), ensemble=ens)  # warm-up
    r = simulate(sc, ensemble=ens)
    assert r.status == 0, r.message
    out.append(r.wall_time / max(r.steps, 1) if sc.integrator != "adaptive" else r.wall_time)
print(json.dumps(out))
"""


def compare_specs() -> list[tuple[str, dict]]:
    specs = []
    for w in WORKLOADS:
        for dtype in ("float64", "float32"):
            spec = {"n": w.n, "d": w.d, "T": w.steps * DT, "dt": DT, "integrator": "euler", "frames": 11}
            specs.append(
                (f"{W_NAMES[w.name]} {w.label} euler {dtype}", {**spec, "dtype": dtype, "systems": w.systems})
            )
    base = {"n": 32, "d": 3, "T": 10.0, "dt": DT, "frames": 11, "systems": 1}
    specs.append(("W1 n=32 d=3 rk4 float64", {**base, "integrator": "rk4"}))
    specs.append(
        (
            "W1 n=32 d=3 adaptive DOP853 rtol 1e-8 (whole run)",
            {**base, "integrator": "adaptive", "rtol": 1e-8},
        )
    )
    return specs


def _worker(path: str, specs: list[dict]) -> list[float]:
    proc = subprocess.run(
        [sys.executable, "-c", COMPARE_WORKER, path, json.dumps(specs)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark worker for {path} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_rows(other: str, repeats: int) -> list[list[str]]:
    """Best time per step (whole run for adaptive) of each spec in both checkouts, A/B alternated."""
    here = str(Path(__file__).resolve().parents[1])
    names, specs = zip(*compare_specs(), strict=True)
    best = {"other": [math.inf] * len(specs), "this": [math.inf] * len(specs)}
    for i in range(repeats):
        order = (("other", other), ("this", here)) if i % 2 == 0 else (("this", here), ("other", other))
        for key, path in order:
            times = _worker(path, [dict(s) for s in specs])
            best[key] = [min(a, b) for a, b in zip(best[key], times, strict=True)]
        print(f"  … compare repeat {i + 1}/{repeats}", file=sys.stderr, flush=True)
    rows = []
    for name, a, b in zip(names, best["other"], best["this"], strict=True):
        rows.append([name, f"{a * 1e3:.4g}", f"{b * 1e3:.4g}", f"{a / b:.2f}"])
    return rows


# ---------------------------------------------------------------------------------- output
def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    return "\n".join(lines + [fmt.format(*r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--threads", action="store_true", help="BLAS threading of W1–W4: default vs chosen")
    ap.add_argument("--loaded", action="store_true", help="a busy process beside the benchmark")
    ap.add_argument("--compare-with", metavar="PATH", help="time another checkout's dynamics in the same run")
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else 7
    md = args.markdown
    t_start = time.perf_counter()

    def heading(text: str) -> None:
        print(f"\n### {text}\n" if md else f"\n{text}\n{'=' * len(text)}")

    with busy_neighbour(args.loaded):
        heading("Machine" + (" (loaded: one busy process beside the benchmark)" if args.loaded else ""))
        facts = machine_facts()
        if md:
            print(_table(["fact", "value"], [[k, v] for k, v in facts], md))
        else:
            print("\n".join(f"{k:22s} {v}" for k, v in facts))
        if args.threads or args.compare_with:
            if args.threads:
                heading(f"BLAS threads (Euler; ms/step, best of {repeats})")
                rows = threading_rows(repeats)
                headers = ["workload", "dtype", "default threads", "ms/step", "chosen threads", "ms/step"]
                print(_table([*headers, "speed-up"], rows, md))
            if args.compare_with:
                heading(
                    f"This checkout vs {args.compare_with} (ms per step, best of {repeats}, A/B alternated)"
                )
                rows = compare_rows(args.compare_with, repeats)
                print(_table(["workload", "other", "this", "other/this"], rows, md))
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"\n(load average at the end {load}; total {time.perf_counter() - t_start:.0f} s)")
            return 0
        return _full(args, repeats, md, heading, t_start)


def _full(args, repeats: int, md: bool, heading, t_start: float) -> int:
    """The throughput, limit, target and accuracy tables."""

    rows: list[Row] = []
    for w in WORKLOADS:
        rows += run_workload(w, repeats)
        print(f"  … {w.label}", file=sys.stderr, flush=True)
    rk4 = run_workload(WORKLOADS[0], repeats, "rk4")

    heading(f"Throughput (Euler steps; min / median of {repeats} runs)")
    table = []
    for r in rows + rk4:
        w = r.workload
        lim = r.limit
        table.append(
            [
                w.label + (" (RK4)" if r.integrator == "rk4" else ""),
                r.dtype,
                str(w.steps),
                f"{r.best * 1e3:.4g} / {r.median * 1e3:.4g}",
                _fmt_rate(1 / r.best),
                "—" if lim is None else _fmt_rate(1 / lim.per_step()),
                "—" if r.ratio is None else f"{100 * r.ratio:.0f}%",
            ]
        )
    print(
        _table(
            ["workload", "dtype", "steps", "ms/step min / median", "steps/s", "limit steps/s", "% of limit"],
            table,
            md,
        )
    )

    heading("Limit kernels (ms, min over repeats)")
    kt = []
    for r in rows:
        p = r.limit.parts() if r.limit else {}
        kt.append(
            [r.workload.label, r.dtype]
            + [f"{p[k] * 1e3:.4g}" for k in ("scores", "exp", "weights")]
            + [f"{r.limit.per_step() * 1e3:.4g}" if r.limit else "—"]
        )
    print(_table(["workload", "dtype", "X·Xᵀ", "exp", "weights·X", "sum"], kt, md))

    heading("Targets")

    def find(name: str, dtype: str) -> Row:
        return next(r for r in rows if r.workload.name == name and r.dtype == dtype)

    small, g64, g32 = find("small", "float64"), find("gpt2", "float64"), find("gpt2", "float32")
    checks = [
        ("≥ 40k steps/s, n=32 d=3 float64", f"{1 / small.best:,.0f} steps/s", 1 / small.best >= 40_000),
    ]
    for dt in ("float64", "float32"):
        r = find("gpt2", dt)
        checks.append((f"≥ 85% of limit, n=1024 d=768 {dt}", f"{100 * r.ratio:.0f}%", r.ratio >= 0.85))
    for dt in ("float64", "float32"):
        r = find("batch", dt)
        checks.append((f"≥ 50% of limit, 2048× n=32 d=2 {dt}", f"{100 * r.ratio:.0f}%", r.ratio >= 0.5))
    speedup = g64.best / g32.best
    checks.append(("float32 ≥ 1.8× float64, n=1024 d=768", f"{speedup:.2f}×", speedup >= 1.8))
    print(_table(["target", "measured", "met"], [[a, b, "yes" if ok else "NO"] for a, b, ok in checks], md))

    heading(f"Time to accuracy (n=32 d=3 β=1, T=15, float64; error = max‖x_i − x_i^ref‖; min of {repeats})")
    acc = accuracy_rows(repeats)
    print(
        _table(
            ["integrator", "dt / rtol", "evaluations", "wall ms", "max error"],
            [[a, b, str(c), f"{d:.3g}", f"{e:.1e}"] for a, b, c, d, e in acc],
            md,
        )
    )
    print()
    for tol in (1e-4, 1e-6, 1e-8, 1e-10):
        ok = [r for r in acc if r[4] <= tol]
        if ok:
            a, b, _, d, _ = min(ok, key=lambda r: r[3])
            print(f"{'* ' if md else ''}error ≤ {tol:g} fastest: {a} ({b}) in {d:.3g} ms")
    print(f"\n(total benchmark time {time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
