"""Attention dynamics: tokens as interacting particles on the sphere or the layer-norm ellipsoid.

    from dynamics import Scenario, simulate
    result = simulate(Scenario(n=32, d=3, beta=1.0, T=10))
    result.t, result.x, result.status, result.message

Pure NumPy/SciPy: this package never imports streamlit or plotly.
"""

from .errors import BudgetError, ScenarioError
from .limits import Limits
from .scenario import Head, MatrixSpec, Scenario
from .solve import CANCELLED, FAILED, STOPPED, SUCCESS, Consensus, Ensemble, Result, simulate

__version__ = "0.1.0"

__all__ = [
    "CANCELLED",
    "FAILED",
    "STOPPED",
    "SUCCESS",
    "BudgetError",
    "Consensus",
    "Ensemble",
    "Head",
    "Limits",
    "MatrixSpec",
    "Result",
    "Scenario",
    "ScenarioError",
    "__version__",
    "simulate",
]
