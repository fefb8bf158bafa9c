"""DSPy optimization of the judge, exported as a versioned prompt file the Instructor judge runs."""

from judge.optimize.optimizers import OPTIMIZERS, OptimizerBudget
from judge.optimize.run import CalibrationSummary, OptimizeResult, optimize

__all__ = ["OPTIMIZERS", "CalibrationSummary", "OptimizeResult", "OptimizerBudget", "optimize"]
