"""The benchmark report: figures read from the store, plots, failure signatures, HTML / Markdown templates."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "build_report": "judge.report.build", "load_report_data": "judge.report.data", "ReportData": "judge.report.data",
    "detect_signatures": "judge.report.signatures", "SIGNATURES": "judge.report.signatures",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
