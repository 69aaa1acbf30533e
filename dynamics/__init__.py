"""Attention dynamics: tokens as interacting particles on the sphere or the layer-norm ellipsoid.

    from dynamics import Scenario, simulate
    result = simulate(Scenario(n=32, d=3, beta=1.0, T=10))
    result.t, result.x, result.status, result.message, result.max_deviation

Pure NumPy/SciPy: this package never imports streamlit or plotly.
"""

from importlib.metadata import PackageNotFoundError, version

from ._integrate import Status
from .errors import BudgetError, ScenarioError
from .limits import Limits, RateMeter, Verdict, assess
from .scenario import Head, LowRankSpec, MatrixSpec, Scenario
from .solve import CANCELLED, FAILED, INACCURATE, STOPPED, SUCCESS, Consensus, Ensemble, Result, simulate

try:
    __version__ = version("attention-dynamics")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "CANCELLED",
    "FAILED",
    "INACCURATE",
    "STOPPED",
    "SUCCESS",
    "BudgetError",
    "Consensus",
    "Ensemble",
    "Head",
    "Limits",
    "LowRankSpec",
    "MatrixSpec",
    "RateMeter",
    "Result",
    "Scenario",
    "ScenarioError",
    "Status",
    "Verdict",
    "__version__",
    "assess",
    "simulate",
]
