"""Lessons: named scenarios with a caption and the result they illustrate.

A preset is data (a Scenario plus words), so it is also a URL (``Scenario.to_query``) and a
CLI file (``Scenario.to_json``). The first one is the app's default lesson.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scenario import Scenario


@dataclass(frozen=True)
class Preset:
    """A lesson: ``key`` is its stable id (used in URLs as ``lesson=key``)."""

    key: str
    title: str
    caption: str
    source: str
    scenario: Scenario


def _diag(values: list[float]) -> list[list[float]]:
    return np.diag(values).tolist()


def _sqrt_diag(values: list[float]) -> list[list[float]]:
    return np.diag(np.sqrt(values)).tolist()


PRESETS: tuple[Preset, ...] = (
    Preset(
        key="consensus",
        title="Consensus on the sphere",
        caption=(
            "32 tokens start uniformly on the sphere. Self-attention (β = 1, Q = K = V = I) pulls "
            "each token towards a weighted mean of the others: they merge into clusters, and the "
            "clusters into one point — consensus, the 'model collapse' of deep transformers."
        ),
        source="Geshkovski–Letrouit–Polyanskiy–Rigollet 2312.10794, Thm 6.1 (d ≥ 3, any β)",
        scenario=Scenario(n=32, d=3, beta=1.0, T=15.0, dt=0.05, frames=151, seed=7),
    ),
    Preset(
        key="hemisphere",
        title="Tokens in a hemisphere: consensus, whatever the heads do",
        caption=(
            "Three heads with time-varying, non-symmetric QᵀK(t). Because every token starts in the "
            "open upper hemisphere and V = I, the smallest height minᵢ ⟨xᵢ, e₃⟩ never decreases and "
            "all tokens reach consensus."
        ),
        source="Abella–Silvestre–Tabuada 2412.02682, Thm B (v2 Thm 4.1)",
        scenario=Scenario(
            n=20,
            d=3,
            n_heads=3,
            qk="gaussian",
            qk_amp=0.8,
            qk_omega=2.0,
            init="hemisphere",
            margin=0.05,
            beta=1.0,
            T=20.0,
            dt=0.05,
            frames=201,
            seed=3,
        ),
    ),
    Preset(
        key="causal",
        title="Causal attention: everybody follows the first token",
        caption=(
            "With a causal mask token 1 only sees itself and never moves (V = I). Token 2 follows "
            "token 1, token 3 follows both, … — all converge to the first token, from almost any "
            "start, even with two time-varying heads."
        ),
        source="Abella–Silvestre–Tabuada 2412.02682, Thm C (v2 Thm 5.1)",
        scenario=Scenario(
            n=16,
            d=3,
            mask="causal",
            n_heads=2,
            qk="gaussian",
            qk_amp=0.5,
            beta=1.0,
            T=25.0,
            dt=0.05,
            frames=201,
            seed=11,
        ),
    ),
    Preset(
        key="causal-symmetric-v",
        title="Causal attention with a symmetric V: consensus at V's top eigenvector",
        caption=(
            "V = diag(2, −0.7, −2.3): its largest eigenvalue 2 is simple (though not the largest in "
            "modulus). Tokens start in the half-space ⟨x, e₁⟩ > 0 of its eigenvector; the first token "
            "slides to e₁ and drags all others along."
        ),
        source="Abella–Silvestre–Tabuada 2412.02682, Thm D",
        scenario=Scenario(
            n=16,
            d=3,
            mask="causal",
            value="spectrum",
            v_eigs=(2.0, -0.7, -2.3),
            init="hemisphere",
            pole=(1.0, 0.0, 0.0),
            margin=0.05,
            qk="gaussian",
            beta=1.0,
            T=20.0,
            dt=0.05,
            frames=201,
            seed=5,
        ),
    ),
    Preset(
        key="metastable",
        title="Metastability: at β = 9, three clusters that last",
        caption=(
            "On the circle with a low temperature (β = 9) tokens form a few clusters quickly and then "
            "stay there for a very long time before merging — the multi-cluster plateaus seen in "
            "trained transformers. Step 0.1, projected Euler, as in the authors' code."
        ),
        source="Geshkovski et al. 2312.10794 §6.3, Fig. 4 (in the spirit of; our seed)",
        scenario=Scenario(n=32, d=2, beta=9.0, integrator="euler", dt=0.1, T=100.0, frames=201, seed=0),
    ),
    Preset(
        key="antipodal",
        title="Broken assumption: tokens in no open hemisphere",
        caption=(
            "Antipodal pairs x, −x are in no open hemisphere. With V = I each pair is an equilibrium "
            "of its own attention, but the pairs interact: watch which structure survives — the "
            "hemisphere theorem no longer guarantees consensus."
        ),
        source="Abella–Silvestre–Tabuada 2412.02682, Thm B (v2 Thm 4.1): its assumption broken",
        scenario=Scenario(n=8, d=3, init="antipodal", beta=1.0, T=20.0, frames=201, seed=2),
    ),
    Preset(
        key="ellipsoid-gradient",
        title="Layer norm's ellipsoid: a gradient flow",
        caption=(
            "One head, V = I, QᵀK = diag(4, 1, 0.2) symmetric positive definite, on the matching "
            "ellipsoid {xᵀ QᵀK x = 1}: the dynamics is a gradient flow, the energy ½ Σᵢⱼ exp(⟨xᵢ, QᵀK xⱼ⟩) "
            "never decreases, and tokens settle at an equilibrium."
        ),
        source="Abella–Silvestre–Tabuada 2412.02682, Thm A (v2 Thm 3.1)",
        scenario=Scenario(
            n=24,
            d=3,
            space="ellipsoid",
            P=_diag([4.0, 1.0, 0.2]),
            heads=({"Q": _sqrt_diag([4.0, 1.0, 0.2]), "K": _sqrt_diag([4.0, 1.0, 0.2])},),
            beta=1.0,
            T=15.0,
            frames=151,
            seed=4,
        ),
    ),
    Preset(
        key="usa",
        title="Unnormalized attention (USA)",
        caption=(
            "The same tokens with the softmax denominator replaced by n: USA is the exact gradient "
            "ascent of the interaction energy E_β, and near consensus it collapses e^β times faster."
        ),
        source="Geshkovski et al. 2312.10794 §3 (Lemma 3.6)",
        scenario=Scenario(n=32, d=3, attention="unnormalized", beta=1.0, T=10.0, frames=101, seed=7),
    ),
    Preset(
        key="cone-collapse",
        title="Cone collapse: one open hemisphere, Q = K = V = I",
        caption=(
            "24 tokens start in the open upper hemisphere; one head with Q = K = V = I. The smallest "
            "height minᵢ ⟨xᵢ, w⟩ never decreases and the tokens collapse onto one point "
            "exponentially fast: the diameter's log falls on a straight line."
        ),
        source="Geshkovski–Letrouit–Polyanskiy–Rigollet 2312.10794, Lemma 6.4 (cone collapse)",
        scenario=Scenario(
            n=24, d=3, init="hemisphere", margin=0.05, beta=1.0, T=20.0, dt=0.05, frames=201, seed=8
        ),
    ),
    Preset(
        key="causal-multihead",
        title="Open question: Thm D with three heads",
        caption=(
            "Causal mask, three heads with time-invariant symmetric V = diag(2, −0.7, −2.3) each and "
            "random QᵀK. The theorem is proven for one head; the authors believe it holds for several. "
            "Tokens start on the e₁ side of Σ_k V_k's top eigenvector: does everybody still end at e₁?"
        ),
        source="Abella–Silvestre–Tabuada 2412.02682, remark after Thm D (open for h ≥ 2)",
        scenario=Scenario(
            n=16,
            d=3,
            mask="causal",
            n_heads=3,
            value="spectrum",
            v_eigs=(2.0, -0.7, -2.3),
            init="hemisphere",
            pole=(1.0, 0.0, 0.0),
            margin=0.05,
            qk="gaussian",
            beta=1.0,
            T=25.0,
            dt=0.05,
            frames=201,
            seed=5,
        ),
    ),
)

DEFAULT_PRESET = PRESETS[0]


def get(key: str) -> Preset:
    """The preset with this key (KeyError with the list of keys if unknown)."""
    for preset in PRESETS:
        if preset.key == key:
            return preset
    raise KeyError(f"unknown lesson {key!r}; known: {', '.join(p.key for p in PRESETS)}")
