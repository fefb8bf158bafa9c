"""The physicians' gold set: items with labels and consensus, splits, CSV / Label Studio interchange, agreement."""

from judge.core.lazy import lazy_exports

_EXPORTS = {
    "GoldItem": "judge.gold.gold_set", "GoldLabel": "judge.gold.gold_set", "load_gold": "judge.gold.gold_set",
    "save_gold": "judge.gold.gold_set", "compute_consensus": "judge.gold.gold_set",
    "summarize_gold": "judge.gold.gold_set", "GoldSummary": "judge.gold.gold_set",
    "make_splits": "judge.gold.splits", "load_splits": "judge.gold.splits", "save_splits": "judge.gold.splits",
    "select_split": "judge.gold.splits", "default_splits_path": "judge.gold.splits",
    "import_csv": "judge.gold.interchange", "export_csv": "judge.gold.interchange",
    "import_label_studio": "judge.gold.interchange", "export_label_studio": "judge.gold.interchange",
    "label_studio_config": "judge.gold.interchange",
    "fleiss_kappa": "judge.gold.agreement", "krippendorff_alpha_nominal": "judge.gold.agreement",
    "pairwise_cohen": "judge.gold.agreement",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
