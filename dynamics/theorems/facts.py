"""What the assumptions look at, computed once per scenario: tolerances, tokens, spectra, the LP.

:func:`scenario_facts` is the single entry point — every card, every counter-example and the
``check`` command get their facts from it, for the sphere/ellipsoid model (:class:`Facts`) and the
Euclidean model (:class:`EuclideanFacts`) alike. A work budget for the checks belongs at its top.

Cost: the cheap numbers (norms, symmetry and identity defects) are computed at once; eigenvalues
only when a predicate asks for them, and then only the ones it needs (LAPACK's selected-eigenvalue
driver): the smallest eigenvalue of sym(QᵀK) per head, the top two (and the top eigenvector) of
V₁ and of Σ_k V_k — 14 partial eigenproblems for a 12-head layer in d = 768, plus one LP with n
rows and d + 1 columns (benchmarks/theorem_facts.py measures it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.linalg

from .. import euclidean as eu
from ..initial import initial_tokens
from ..matrices import build_heads
from ..metrics import HemisphereTest, open_hemisphere
from ..scenario import Head, MatrixSpec, Scenario

# ------------------------------------------------------------------ tolerances (stated in cards)
SYMMETRY_TOL = 1e-8  # ‖M − Mᵀ‖ / ‖M‖ below this counts as symmetric
IDENTITY_TOL = 1e-9  # ‖M − I‖ / √d below this counts as the identity
PROPORTIONAL_TOL = 1e-8  # ‖M/‖M‖ − N/‖N‖‖ below this: M ∝ N (positive factor)
GAP_TOL = 1e-8  # (λ₁ − λ₂) / max(1, max|λ|) above this: the top eigenvalue is simple
HEMISPHERE_TOL = 1e-9  # LP margin above this: the tokens lie in an open hemisphere
SIDE_TOL = 1e-9  # min_i s⟨u_i, v⟩ above this: all tokens strictly on one side of v^⊥
CONSENSUS_TOL = 1e-3  # angular diameter (rad) at T below this: consensus
LIMIT_TOL = 1e-3  # max angle (rad) to a predicted limit point
WRONG_LIMIT_TOL = 1e-2  # consensus farther than this from the predicted point: refuted
VELOCITY_RATIO = 1e-3  # max‖ẋ_i(T)‖ ≤ this × max‖ẋ_i(0)‖: converged to an equilibrium
VELOCITY_FLOOR = 1e-9  # … or below this in absolute terms
MONOTONE_TOL = 1e-8  # largest relative decrease between saved frames tolerated (integration error)
FIXED_TOL = 1e-10  # max‖x_1(t) − x_1(0)‖ of a token that must not move
CLUSTER_COS = 0.999  # ⟨u_i, u_j⟩ > 0.999: same cluster (Geshkovski et al.'s threshold)
STABILITY = {"euler": 2.0, "rk4": 2.5}  # a fixed step resolves the flow if h·L is at most this

# the Euclidean model
EU_LIMIT_TOL = 1e-3  # distinct limit points / values: single-linkage clusters at this distance (× scale)
EU_WRONG_TOL = 1e-2  # a converged limit farther than this (× scale) from the predicted set: refuted
EU_VELOCITY_TOL = 1e-4  # max_i‖ż_i(T)‖ ≤ this × scale: the rescaled tokens have converged
EU_HULL_TOL = 1e-9  # hull nesting: z_i(t_{k+1}) at most this (× scale) outside conv{z_j(t_k)}
EU_BOOLEAN_TOL = 1e-2  # a row of P within this (max-norm) of e_min or e_max is Boolean
EU_NORM_RATIO = 0.1  # V = −I: max_i‖x_i(T)‖ ≤ this × max_i‖x_i(0)‖ counts as "→ 0"
EU_UNIFORM_TOL = 0.05  # V = −I: max_ij |n P_ij − 1| ≤ this counts as "P = 11ᵀ/n"
EU_BALL_TOL = 1e-9  # ‖x_i(t)‖ may exceed max(‖x_i(0)‖, √(2n)) by this (relative) before refuting
EU_DISTINCT_TOL = 1e-12  # min pairwise distance of x(0) above this (× scale): distinct tokens
EU_RANK_TOL = 1e-6  # numerical rank of P: singular values above this × σ_max


# ------------------------------------------------------------------ one matrix
def symmetry_defect(m: np.ndarray) -> float:
    """‖M − Mᵀ‖ / ‖M‖ (0 for M = 0)."""
    norm = float(np.linalg.norm(m))
    return 0.0 if norm == 0 else float(np.linalg.norm(m - m.T)) / norm


@dataclass(frozen=True)
class MatrixFacts:
    """Facts of one value matrix V or key–query product A = QᵀK of one head.

    ``M`` is the matrix at t = 0; the symmetry defect is the worst over the sampled times. The
    spectrum (of the symmetric part) is computed lazily, only the eigenvalues a predicate reads.
    """

    constant: bool
    M: np.ndarray
    symmetry_defect: float  # ‖M − Mᵀ‖ / ‖M‖
    bound: float  # sup_t ‖M(t)‖₂ (upper bound)
    lipschitz: float  # sup_t ‖Ṁ(t)‖₂ (upper bound)

    @classmethod
    def of(
        cls, mats: Sequence[np.ndarray], constant: bool, bound: float = 0.0, lipschitz: float = 0.0
    ) -> MatrixFacts:
        m = np.asarray(mats[0], dtype=float)
        defect = max(symmetry_defect(np.asarray(x, dtype=float)) for x in mats)
        return cls(constant, m, defect, bound, lipschitz)

    @property
    def d(self) -> int:
        return self.M.shape[0]

    @cached_property
    def norm(self) -> float:
        return float(np.linalg.norm(self.M))

    @cached_property
    def identity_defect(self) -> float:
        """‖M − I‖ / √d (inf if M varies in time)."""
        if not self.constant:
            return math.inf
        return float(np.linalg.norm(self.M - np.eye(self.d))) / math.sqrt(self.d)

    @cached_property
    def scalar_defect(self) -> float:
        """‖M/‖M‖ − I/√d‖: how far the direction of M is from that of I (0 iff M = cI, c > 0)."""
        if self.norm == 0:
            return math.inf
        return float(np.linalg.norm(self.M / self.norm - np.eye(self.d) / math.sqrt(self.d)))

    @cached_property
    def scalar(self) -> tuple[float, float]:
        """(c, ‖M − cI‖/‖M‖) for the multiple cI of the identity nearest to M, c = tr M / d."""
        c = float(np.trace(self.M)) / self.d
        rel = float(np.linalg.norm(self.M - c * np.eye(self.d))) / self.norm if self.norm > 0 else 0.0
        return c, rel

    @property
    def symmetric(self) -> bool:
        return self.symmetry_defect <= SYMMETRY_TOL

    @property
    def identity(self) -> bool:
        return self.constant and self.identity_defect <= IDENTITY_TOL

    @cached_property
    def sym(self) -> np.ndarray:
        return (self.M + self.M.T) / 2

    @cached_property
    def min_eig(self) -> float:
        """Smallest eigenvalue of sym(M)."""
        return float(scipy.linalg.eigh(self.sym, eigvals_only=True, subset_by_index=[0, 0])[0])

    @cached_property
    def _top(self) -> tuple[np.ndarray, np.ndarray]:
        k = min(2, self.d)
        w, u = scipy.linalg.eigh(self.sym, subset_by_index=[self.d - k, self.d - 1])
        return w[::-1], u[:, ::-1]

    @property
    def top_eigs(self) -> np.ndarray:
        """The two largest eigenvalues of sym(M), descending (one if d = 1)."""
        return self._top[0]

    @property
    def top_vector(self) -> np.ndarray:
        """Unit eigenvector of the largest eigenvalue of sym(M)."""
        v = self._top[1][:, 0]
        return v / np.linalg.norm(v)

    @property
    def top_gap(self) -> float:
        e = self.top_eigs
        return float(e[0] - e[1]) if e.size > 1 else math.inf

    @property
    def top_simple(self) -> bool:
        """λ₁ − λ₂ > GAP_TOL · max(1, ‖M‖_F) (the Frobenius norm bounds every |λ|)."""
        return self.top_gap > GAP_TOL * max(1.0, self.norm)

    def spectrum_words(self) -> str:
        """The two largest eigenvalues in words (never all d of them: d may be 768)."""
        e = self.top_eigs
        return ", ".join([f"λ₁ = {e[0]:.4g}"] + ([f"λ₂ = {e[1]:.4g}"] if e.size > 1 else []))


def _spec_constant(ms: MatrixSpec) -> bool:
    return ms.sin is None or ms.omega == 0 or not np.any(np.array(ms.sin))


def _spec_lipschitz(ms: MatrixSpec) -> float:
    return 0.0 if _spec_constant(ms) else abs(ms.omega) * float(np.linalg.norm(np.array(ms.sin), 2))


def _key_query(Q: np.ndarray, K: np.ndarray) -> np.ndarray:
    """QᵀK (K itself when Q is the identity, as for key–query products passed whole: no d³ product)."""
    if np.array_equal(Q, np.eye(Q.shape[0])):
        return np.asarray(K, dtype=float)
    return Q.T @ K


def _head_facts(head: Head, T: float) -> tuple[MatrixFacts, MatrixFacts]:
    """Facts of (V, QᵀK) of one head. QᵀK(t) is sampled on [0, max(T, 2π)] when Q or K varies."""
    v_const = _spec_constant(head.V)
    # V(t) = V₀ + V₁ sin(…) is symmetric at all times iff V₀ and V₁ are
    v_mats = [head.V.at(0.0)] if v_const else [head.V.at(0.0), np.array(head.V.const), np.array(head.V.sin)]
    V = MatrixFacts.of(v_mats, v_const, head.V.norm_bound(), _spec_lipschitz(head.V))
    if _spec_constant(head.Q) and _spec_constant(head.K):
        a_mats = [_key_query(head.Q.at(0.0), head.K.at(0.0))]
        a_const = True
    else:
        times = [0.0, *(np.linspace(0.0, max(T, 2 * math.pi), 97) + 0.137)]
        a_mats = [_key_query(head.Q.at(t), head.K.at(t)) for t in times]
        variation = max(float(np.linalg.norm(a - a_mats[0])) for a in a_mats)
        a_const = variation <= 1e-12 * (1.0 + float(np.linalg.norm(a_mats[0])))
    qb, kb = head.Q.norm_bound(), head.K.norm_bound()
    a_lip = _spec_lipschitz(head.Q) * kb + qb * _spec_lipschitz(head.K)
    return V, MatrixFacts.of(a_mats, a_const, qb * kb, a_lip)


# ------------------------------------------------------------------ the sphere / ellipsoid model
@dataclass(frozen=True)
class Facts:
    """Everything the sphere/ellipsoid assumptions look at (tokens, hemisphere LP, per-head V, QᵀK)."""

    scenario: Scenario
    heads: tuple[Head, ...]
    x0: np.ndarray
    hemisphere: HemisphereTest
    V: tuple[MatrixFacts, ...]
    A: tuple[MatrixFacts, ...]
    model = "sphere"

    @property
    def h(self) -> int:
        return len(self.heads)

    @property
    def d(self) -> int:
        return self.scenario.d

    @cached_property
    def value_sum(self) -> MatrixFacts:
        """Facts of Σ_k V_k (the matrix the first token of a causal mask follows)."""
        m = sum((v.M for v in self.V), np.zeros((self.d, self.d)))
        return MatrixFacts.of([m], all(v.constant for v in self.V))

    def summary(self) -> dict[str, Any]:
        s = self.scenario
        return {"heads": self.h, "d": self.d, "n": s.n, "beta": s.beta}


def _sphere_facts(scenario: Scenario) -> Facts:
    heads = build_heads(scenario)
    x0 = initial_tokens(scenario)
    pairs = [_head_facts(h, scenario.T) for h in heads]
    return Facts(
        scenario=scenario,
        heads=heads,
        x0=x0,
        hemisphere=open_hemisphere(x0, tol=HEMISPHERE_TOL),
        V=tuple(p[0] for p in pairs),
        A=tuple(p[1] for p in pairs),
    )


# ------------------------------------------------------------------ the Euclidean model
@dataclass(frozen=True)
class EuclideanFacts:
    """What the Euclidean-model assumptions look at, computed once per EuclideanScenario."""

    scenario: eu.EuclideanScenario
    Q: np.ndarray
    K: np.ndarray
    V: np.ndarray
    A: np.ndarray  # QᵀK
    x0: np.ndarray
    top: eu.TopEigen
    min_distance: float
    model = "euclidean"

    @property
    def d(self) -> int:
        return self.scenario.d

    @property
    def scale(self) -> float:
        return max(1.0, float(np.abs(self.x0).max()))

    def summary(self) -> dict[str, Any]:
        return {"d": self.d, "n": self.scenario.n}


def _euclidean_facts(es: eu.EuclideanScenario) -> EuclideanFacts:
    Q, K, V = es.matrices()
    x0 = es.initial_tokens()
    return EuclideanFacts(es, Q, K, V, Q.T @ K, x0, eu.top_eigen(V), eu.min_pairwise_distance(x0))


# ------------------------------------------------------------------ the single entry point
def scenario_facts(scenario: Scenario | eu.EuclideanScenario) -> Facts | EuclideanFacts:
    """The facts every assumption of every card reads, for either model.

    Raises ScenarioError for scenarios whose tokens cannot be built (e.g. a zero row in x0).
    """
    if isinstance(scenario, eu.EuclideanScenario):
        return _euclidean_facts(scenario)
    return _sphere_facts(scenario)


def euclidean_facts(es: eu.EuclideanScenario) -> EuclideanFacts:
    """:func:`scenario_facts` of a Euclidean-model scenario (typed)."""
    if not isinstance(es, eu.EuclideanScenario):
        raise TypeError(f"euclidean_facts needs a EuclideanScenario, not {type(es).__name__}")
    facts = scenario_facts(es)
    assert isinstance(facts, EuclideanFacts)
    return facts
