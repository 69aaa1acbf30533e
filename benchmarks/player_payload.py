"""Size and build time of the 3D player's payload (python -m benchmarks.player_payload).

Prints one row per (frames K, tokens n): display frames after decimation, payload size in
characters (what Streamlit sends on a data change) and the time to build it.
"""

from __future__ import annotations

import json
import time

import numpy as np

from ui.player import build_player_payload


def main() -> None:
    """Print the table."""
    rng = np.random.default_rng(0)
    print(f"{'K':>6} {'n':>6} {'shown':>6} {'chars':>10} {'build ms':>9}")
    for k, n in [(200, 16), (200, 64), (200, 256), (200, 512), (1000, 64), (2000, 1024)]:
        x = rng.normal(size=(k, n, 3))
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        labels = rng.integers(0, 6, size=(k, n))
        t0 = time.perf_counter()
        payload = build_player_payload(t=np.linspace(0, 10, k), x=x, clusters=labels)
        ms = 1e3 * (time.perf_counter() - t0)
        print(f"{k:>6} {n:>6} {payload['K']:>6} {len(json.dumps(payload)):>10} {ms:>9.1f}")


if __name__ == "__main__":
    main()
