"""Colour-blind-safe cluster palette (Okabe–Ito), shared by the player and the static figures."""

from __future__ import annotations

import numpy as np

#: Okabe–Ito colours, most distinguishable first; black last (it vanishes on dark themes).
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#0072B2",  # blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
#: Colour of tokens without a cluster (label < 0) or when no labels are given.
NOISE_COLOR = "#999999"
#: Colour of the translucent sphere / ellipsoid / circle.
SURFACE_COLOR = "#8c8c8c"


def palette_indices(labels: np.ndarray) -> np.ndarray:
    """Map integer cluster labels to palette slots (cycled); labels < 0 map to ``len(OKABE_ITO)``."""
    lab = np.asarray(labels)
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        if not np.all(np.isfinite(lab)) or not np.all(lab == np.round(lab)):
            raise ValueError("cluster labels must be integers")
        lab = lab.astype(np.int64)
    p = len(OKABE_ITO)
    out = np.mod(lab, p).astype(np.uint8)
    out[lab < 0] = p
    return out


def cluster_colors(labels: np.ndarray | None, n: int | None = None) -> list[str]:
    """Hex colour per token for one frame of labels (``None`` → all tokens ``NOISE_COLOR``)."""
    if labels is None:
        return [NOISE_COLOR] * int(n or 0)
    table = (*OKABE_ITO, NOISE_COLOR)
    return [table[i] for i in palette_indices(labels).ravel()]
