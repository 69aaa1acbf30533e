"""GPT-2-sized dynamics (dynamics/deep.py, pages/deep.py): float32 projected Euler with 12
random Gaussian heads at d = 768, n = 256 and n = 1024. Prints steps/s, the time of a typical run
(T = 5, dt = 0.25: 20 steps, 21 frames; at n = 1024 the largest the page allows) and the time to
build the diagnostics (cosine matrices, streamed histogram, 1 − mean cos, collapse time, PCA).

    .venv/bin/python benchmarks/deep.py [--steps 4]
"""

from __future__ import annotations

import argparse
import time

from dynamics import Scenario
from dynamics import deep as D


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4, help="Euler steps timed per size")
    args = ap.parse_args()
    head = ("n", "d", "heads", "steps/s", "setup s", "typical run s", "diagnostics s")
    print("{:>5} {:>4} {:>5} {:>8} {:>8} {:>14} {:>14}".format(*head))
    for n in (256, 1024):
        base = Scenario(n=n, d=768, n_heads=12, qk="gaussian", value="gaussian", beta=1.0,
                        integrator="euler", dtype="float32", T=5.0, dt=0.25, frames=21)  # fmt: skip
        t0 = time.perf_counter()
        D.run(base.replace(T=0.25, frames=2))  # setup + 1 step
        one = time.perf_counter() - t0
        timed = base.replace(T=0.25 * args.steps, frames=args.steps + 1)
        res = D.run(timed)
        rate = res.steps / res.wall_time
        setup = max(0.0, one - 1 / rate)
        typical = setup + 20 / rate
        xs = res.x
        import numpy as np

        fake = np.concatenate([xs] * (21 // len(xs) + 1))[:21]  # 21 frames of this size
        t0 = time.perf_counter()
        D.diagnostics(np.linspace(0, 5, 21), fake)
        diag = time.perf_counter() - t0
        print(f"{n:>5} {768:>4} {12:>5} {rate:>8.2f} {setup:>8.2f} {typical:>14.1f} {diag:>14.2f}")


if __name__ == "__main__":
    main()
