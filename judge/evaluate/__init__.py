"""Agreement with the physicians: κ and per-category metrics, calibration runs, confidence reliability, order probes."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "agreement_report": "judge.evaluate.metrics", "AgreementReport": "judge.evaluate.metrics",
    "cohen_kappa": "judge.evaluate.metrics", "bootstrap_kappa_ci": "judge.evaluate.metrics",
    "calibrate": "judge.evaluate.calibrate", "acalibrate": "judge.evaluate.calibrate",
    "CalibrationResult": "judge.evaluate.calibrate",
    "reliability_bins": "judge.evaluate.reliability", "expected_calibration_error": "judge.evaluate.reliability",
    "flip_rate": "judge.evaluate.order_robustness",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
