"""Do the explorer's budget verdicts tell the truth on this machine?

For the extreme values every sidebar control offers (from the default lesson: n, heads, T, dt, d,
attention kinds), print the calibrated estimate (``ui.budget.assess``), the verdict, and — for
what is allowed to run — the measured time of the explorer's whole build (``build_display``) and
measured/estimated. A truthful budget: every "runs" row finishes within about the budget (2 s).
Refused rows are not run (that is the point); their nearest suggestion is run instead.

    .venv/bin/python benchmarks/budget.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer settings")
    args = parser.parse_args()

    from dynamics.presets import DEFAULT_PRESET
    from ui import budget
    from ui.session import build_display

    load = os.getloadavg()[0]
    model = budget.calibration()
    t0 = time.perf_counter()
    while not model.benchmarked and time.perf_counter() - t0 < 60:
        time.sleep(0.1)
    base = DEFAULT_PRESET.scenario
    settings = [
        ("default lesson", {}),
        ("n = 128", {"n": 128}),
        ("n = 256", {"n": 256}),
        ("n = 512 (top of the slider)", {"n": 512}),
        ("n = 512, 8 heads, β = 4", {"n": 512, "n_heads": 8, "beta": 4.0}),
        ("8 heads", {"n_heads": 8}),
        ("T = 400 (top)", {"T": 400.0}),
        ("T = 400, dt = 0.005", {"T": 400.0, "dt": 0.005}),
        ("d = 256 (top)", {"d": 256}),
        ("sinkhorn", {"attention": "sinkhorn"}),
        ("sinkhorn, n = 128", {"attention": "sinkhorn", "n": 128}),
    ]
    if args.quick:
        settings = settings[:5]
    print(f"{'setting':34s} {'estimate s':>10s} {'verdict':>8s} {'measured s':>10s} {'meas/est':>8s}")
    print("-" * 76)
    for name, change in settings:
        s = base.replace(**change)
        verdict = budget.assess(s)
        measured = ratio = ""
        if verdict.ok:
            t1 = time.perf_counter()
            build_display(s)
            seconds = time.perf_counter() - t1
            budget.record(s, seconds)
            measured, ratio = f"{seconds:10.2f}", f"{seconds / verdict.seconds:8.2f}"
        state = "runs" if verdict.ok else "refused"
        print(f"{name:34s} {verdict.seconds:10.2f} {state:>8s} {measured:>10s} {ratio:>8s}")
        if not verdict.ok and verdict.suggestions:
            nearest = verdict.suggestions[0]
            found = re.match(r"n ≤ (\d+)", nearest)
            if found:  # the suggestion itself must run within the budget: run it
                alt = s.replace(n=int(found.group(1)))
                estimate = budget.assess(alt).seconds
                t1 = time.perf_counter()
                build_display(alt)
                seconds = time.perf_counter() - t1
                row = f"{'  → ' + nearest:34s} {estimate:10.2f} {'runs':>8s} {seconds:10.2f}"
                print(f"{row} {seconds / estimate:8.2f}")
            else:
                print(f"{'':34s} nearest: {nearest}")
    done = "done" if model.benchmarked else "not finished"
    print(
        f"\nbudget {budget.BUDGET_SECONDS:g} s; calibration scale {model.scale:.2f} (measured/model over "
        f"this process's builds); micro-benchmark {done}"
    )
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
