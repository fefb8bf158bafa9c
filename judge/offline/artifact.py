"""Saved baseline models: a joblib pipeline plus a JSON metadata file, shipped inside the package (judge/_models/).

A model `baseline-<version>` is two files, `baseline-<version>.joblib` (the fitted sklearn pipeline) and
`baseline-<version>.json` (`BaselineMeta`). Loading checks that the features version matches the code and that
the installed scikit-learn is the one the model was trained with: another major version or another features
version is an error, another minor/patch version a `BaselineVersionWarning` (pickled sklearn models are only
guaranteed to work under the version that wrote them), and so is feature or rule code changed since training. Only load artifacts you trust: joblib files are pickles.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import joblib
import sklearn
from pydantic import AliasChoices, BaseModel, Field
from sklearn.exceptions import InconsistentVersionWarning

from judge.core.exceptions import ConfigError
from judge.evaluate.abstention import AbstentionPoint
from judge.offline.features import FEATURES_VERSION, features_code_hash

MODELS_DIR = Path(__file__).resolve().parent / "_models"
"""Where the shipped baseline lives (inside the package, so it is installed with it)."""
RETRAIN_HINT = "medjudge baseline train --gold gold_labels/gold.jsonl"


class BaselineVersionWarning(UserWarning):
    """The baseline was saved under another scikit-learn minor/patch version, or the feature code changed since."""


class CVProtocol(BaseModel):
    """How the configuration was chosen: repeated stratified k-fold cross-validation on the pooled train+dev items."""

    pool: str = "train+dev"
    """Splits pooled for cross-validation and for the final fit (test is never read)."""
    n_pool: int
    """Items in the pool."""
    n_splits: int
    """Folds per repeat (5, or fewer when a category has fewer items)."""
    n_repeats: int
    """Repeats of the k-fold split."""
    random_state: int
    """Seed of sklearn's RepeatedStratifiedKFold."""
    criterion: str = "mean out-of-fold log loss; ties: mean out-of-fold kappa, then grid order"
    """How the configuration was chosen."""
    oof_from: str = "first repeat"
    """Which repeat's out-of-fold probabilities tau and the abstention curves are computed on."""


class BaselineMeta(BaseModel):
    """What a saved baseline model is and how well it did out of fold (cross-validated on train+dev)."""

    version: str
    """Artifact version: features version + hash of training data and configuration."""
    features_version: str
    """judge.offline.features.FEATURES_VERSION the model was trained with."""
    features_code: str = ""
    """judge.offline.features.features_code_hash() at training time (feature and rule code)."""
    sklearn_version: str
    """scikit-learn version that fitted and pickled the model."""
    trained_at: str
    """UTC time of training (ISO 8601)."""
    gold_file: str
    """Name of the gold file trained on."""
    train_sha256: str
    """Hash of the training items and their gold categories."""
    dev_sha256: str
    """Hash of the dev items and their gold categories."""
    n_train: int
    """Training items."""
    n_dev: int
    """Dev items (pooled with train for cross-validation and the final fit)."""
    classes: list[str]
    """Category codes in the column order of predict_proba."""
    config: dict[str, Any]
    """Chosen hyperparameters (see judge.offline.baseline.BaselineConfig)."""
    cv_scores: dict[str, Any] = Field(validation_alias=AliasChoices("cv_scores", "dev_scores"))
    """Out-of-fold scores of the chosen configuration: log_loss and kappa (means over repeats), their per-repeat
    values and per-fold spread, and `first_repeat` (kappa with CI, accuracy, macro_f1, ece, log_loss). Artifacts
    of the earlier train-only protocol stored dev scores here (as `dev_scores`)."""
    protocol: CVProtocol | None = None
    """The cross-validation protocol (None: an artifact of the earlier protocol, fitted on train, chosen on dev)."""
    grid: list[dict[str, Any]] = Field(default_factory=list)
    """Every configuration tried, with its cross-validated log loss and kappa."""
    tau: float
    """Confidence threshold of the cascade, chosen on out-of-fold probabilities (judge.offline.tau)."""
    tau_choice: dict[str, Any] = Field(default_factory=dict)
    """How tau was chosen: rule, min_coverage and the out-of-fold coverage/kappa at tau."""
    oof_abstention: dict[str, list[AbstentionPoint]] = Field(default_factory=dict)
    """Abstention curves of the judges built on this model (`offline`: rules then the baseline; `baseline`) on
    out-of-fold verdicts of the pool; `medjudge calibrate` recommends --min-confidence on them."""
    sha256: str = ""
    """Hash of the joblib file (filled in when saving)."""


def items_hash(rows: list[tuple[str, ...]]) -> str:
    """Stable sha256 of a list of string tuples (order-independent)."""
    blob = json.dumps(sorted(rows), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_artifact(pipeline: Any, meta: BaselineMeta, out_dir: str | Path = MODELS_DIR, keep_old: bool = False) -> Path:
    """Write `baseline-<version>.joblib` and `.json` to `out_dir`; remove other baselines there unless keep_old."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / f"baseline-{meta.version}.joblib"
    joblib.dump(pipeline, model_path, compress=3)
    meta = meta.model_copy(update={"sha256": _file_sha256(model_path)})
    model_path.with_suffix(".json").write_text(meta.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if not keep_old:
        for old in out.glob("baseline-*"):
            if old.suffix in (".joblib", ".json") and old.stem != model_path.stem:
                old.unlink()
    return model_path


def find_artifact(where: str | Path = MODELS_DIR) -> Path:
    """The baseline joblib file at `where` (a file, or the newest by trained_at in a folder)."""
    where = Path(where)
    if where.is_file():
        return where
    candidates = []
    for meta_path in sorted(where.glob("baseline-*.json")) if where.is_dir() else []:
        model_path = meta_path.with_suffix(".joblib")
        if model_path.exists():
            meta = BaselineMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))
            candidates.append((meta.trained_at, model_path))
    if not candidates:
        raise ConfigError(f"no trained baseline model in {where}; train one with: {RETRAIN_HINT}")
    return max(candidates)[1]


def check_versions(meta: BaselineMeta, path: Path) -> None:
    """Raise ConfigError for another features or sklearn major version; warn for another sklearn minor/patch
    version or for feature/rule code that changed since training."""
    if meta.features_version != FEATURES_VERSION:
        raise ConfigError(f"baseline {path.name} was trained with features version {meta.features_version}, "
                          f"the code has {FEATURES_VERSION}; retrain with: {RETRAIN_HINT}")
    if meta.features_code and meta.features_code != features_code_hash():
        warnings.warn(f"the feature or rule code changed since baseline {path.name} was trained; its features may "
                      f"differ now. Retrain with: {RETRAIN_HINT}", BaselineVersionWarning, stacklevel=3)
    installed = sklearn.__version__
    if meta.sklearn_version.split(".")[0] != installed.split(".")[0]:
        raise ConfigError(f"baseline {path.name} was saved with scikit-learn {meta.sklearn_version}, installed is "
                          f"{installed}; install scikit-learn=={meta.sklearn_version} or retrain with: {RETRAIN_HINT}")
    if meta.sklearn_version != installed:
        warnings.warn(f"baseline {path.name} was saved with scikit-learn {meta.sklearn_version}, installed is "
                      f"{installed}; predictions may differ. Retrain with: {RETRAIN_HINT}",
                      BaselineVersionWarning, stacklevel=3)


def load_artifact(where: str | Path = MODELS_DIR) -> tuple[Any, BaselineMeta, Path]:
    """Load (pipeline, metadata, joblib path) after checking versions and the file hash."""
    model_path = find_artifact(where)
    meta_path = model_path.with_suffix(".json")
    if not meta_path.exists():
        raise ConfigError(f"baseline {model_path.name} has no metadata file {meta_path.name}")
    meta = BaselineMeta.model_validate_json(meta_path.read_text(encoding="utf-8"))
    check_versions(meta, model_path)
    if meta.sha256 and meta.sha256 != _file_sha256(model_path):
        raise ConfigError(f"baseline {model_path.name} does not match the hash in {meta_path.name}; retrain with: "
                          f"{RETRAIN_HINT}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=InconsistentVersionWarning)
        pipeline = joblib.load(model_path)
    return pipeline, meta, model_path
