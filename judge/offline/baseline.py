"""The scikit-learn baseline judge: a linear classifier over judge.offline.features, trained on the gold train split.

Hyperparameters are chosen on the dev split by dev log loss (a proper scoring rule: on ~56 dev items it is far
less noisy than kappa, and the cascade threshold relies on the probabilities), ties broken by dev kappa; the
test split is never read here. The chosen model is saved with its metadata as a versioned artifact (judge.offline.artifact) and
loaded by `BaselineJudge`, whose confidence is the model's (optionally sigmoid-calibrated) class probability.

Train from the command line:
    medjudge baseline train --gold gold_labels/gold.jsonl
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import sklearn
from pydantic import BaseModel
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from judge.core.models import Item, Verdict
from judge.core.settings import make_judge_id
from judge.evaluate.metrics import agreement_report
from judge.gold.gold_set import GoldItem, load_gold
from judge.gold.splits import load_splits, select_split
from judge.offline.artifact import MODELS_DIR, BaselineMeta, items_hash, load_artifact, save_artifact
from judge.offline.features import FEATURES_VERSION, features_code_hash, items_frame, make_preprocessor
from judge.offline.rules_judge import RulesJudge
from judge.offline.screen import screen_all, screen_version
from judge.offline.tau import choose_tau

SIGNALS = ("sex_conflict", "side_conflict", "allergy_conflict", "pregnancy_risk", "renal_risk", "choice_self_conflict",
           "choice_subset", "choice_superset", "new_doses", "new_authority", "new_ages")
"""Hand-made signals named in a verdict's rationale when they fire."""


class BaselineConfig(BaseModel):
    """Hyperparameters of the baseline classifier."""

    classifier: Literal["logreg", "linear_svc"] = "logreg"
    """Multinomial logistic regression, or a linear SVM (always sigmoid-calibrated for probabilities)."""
    C: float = 1.0
    """Inverse regularisation strength."""
    calibration: Literal["none", "temperature", "sigmoid"] = "none"
    """Wrap the classifier in CalibratedClassifierCV (3-fold) with this method; linear_svc is always calibrated
    (temperature scaling unless sigmoid is asked for)."""
    use_instruction: bool = False
    """Also use character n-grams of the prompt's instruction head."""
    ngram_max: int = 3
    """Longest character n-gram of the TF-IDF blocks."""
    text_weight: float = 1.0
    """Weight of the TF-IDF blocks relative to the hand-made features."""


DEFAULT_GRID: tuple[BaselineConfig, ...] = tuple(
    [BaselineConfig(C=c, calibration=cal, use_instruction=ins, text_weight=w)
     for c in (0.1, 0.3, 1.0, 3.0) for cal in ("none", "temperature") for ins in (False, True) for w in (1.0, 2.0)]
    + [BaselineConfig(classifier="linear_svc", C=c) for c in (0.03, 0.1)]
)
"""Configurations tried on dev by `train_baseline`."""


def build_pipeline(config: BaselineConfig, labels: Sequence[str] = ()) -> Pipeline:
    """An unfitted pipeline (features -> classifier) for `config`; `labels` sizes the calibration folds."""
    counts = pd.Series(list(labels)).value_counts() if len(labels) else pd.Series([3])
    folds = int(min(3, counts.min()))
    if config.classifier == "linear_svc":
        base: Any = LinearSVC(C=config.C, class_weight="balanced", max_iter=20000)
    else:
        base = LogisticRegression(C=config.C, class_weight="balanced", solver="newton-cg", max_iter=1000)
    method = "temperature" if config.calibration == "none" else config.calibration
    if (config.calibration != "none" or config.classifier == "linear_svc") and folds >= 2:
        clf: Any = CalibratedClassifierCV(base, method=method, cv=StratifiedKFold(folds))
    elif config.classifier == "linear_svc":
        raise ValueError("linear_svc needs at least 2 training items per category for calibrated probabilities")
    else:
        clf = base
    pre = make_preprocessor(ngram_max=config.ngram_max, use_instruction=config.use_instruction,
                            text_weight=config.text_weight)
    return Pipeline([("features", pre), ("classifier", clf)])


def fit_pipeline(frame: pd.DataFrame, labels: Sequence[str], config: BaselineConfig) -> Pipeline:
    """Fit a pipeline on an `items_frame` and its gold categories (deterministic)."""
    return build_pipeline(config, labels).fit(frame, list(labels))


class BaselineModel:
    """A fitted baseline pipeline with its metadata."""

    def __init__(self, pipeline: Pipeline, meta: BaselineMeta, path: Path | None = None) -> None:
        self.pipeline = pipeline
        self.meta = meta
        self.path = path
        self.classes: list[str] = [str(c) for c in pipeline.classes_]

    @classmethod
    def load(cls, where: str | Path = MODELS_DIR) -> BaselineModel:
        """Load the shipped model (or the one at `where`) with version checks."""
        pipeline, meta, path = load_artifact(where)
        return cls(pipeline, meta, path)

    def predict_proba(self, items: Sequence[Item]) -> np.ndarray:
        """Class probabilities, one row per item, columns in `classes` order (rows sum to 1)."""
        return self.predict_frame(items_frame(items))

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities for an `items_frame`."""
        return np.asarray(self.pipeline.predict_proba(frame))


class BaselineJudge:
    """Judge with the baseline classifier: always a category, confidence = its class probability."""

    def __init__(self, model: BaselineModel | None = None, where: str | Path = MODELS_DIR) -> None:
        self.baseline = model or BaselineModel.load(where)
        self.model = "baseline"
        self.judge_id = make_judge_id(self.identity())

    @property
    def tau(self) -> float:
        """The cascade threshold chosen on dev when the model was trained."""
        return self.baseline.meta.tau

    def identity(self) -> dict[str, object]:
        """Judge name, artifact version and file hash, features version."""
        meta = self.baseline.meta
        return {"judge": "baseline", "version": meta.version, "artifact_sha256": meta.sha256[:16],
                "features_version": meta.features_version, "screen": screen_version()}

    def verdicts(self, items: Sequence[Item]) -> list[Verdict]:
        """Judge many items in one batch (features of the response without injected spans; judge.offline.screen)."""
        seen, flags = screen_all(items)
        return self.verdicts_screened(seen, flags)

    def verdicts_screened(self, items: Sequence[Item], flags: Sequence[list[str]]) -> list[Verdict]:
        """Judge items already screened by judge.offline.screen; `flags[i]` go onto the i-th verdict."""
        if not items:
            return []
        t0 = time.perf_counter()
        frame = items_frame(items)
        probs = self.baseline.predict_frame(frame)
        ms = (time.perf_counter() - t0) * 1000 / len(items)
        return [self._verdict(it, p, frame.iloc[i], ms, flags[i])
                for i, (it, p) in enumerate(zip(items, probs, strict=True))]

    def _verdict(self, item: Item, probs: np.ndarray, row: pd.Series, ms: float, flags: list[str]) -> Verdict:
        order = np.argsort(-probs, kind="stable")
        best, second = order[0], order[1] if len(order) > 1 else order[0]
        classes = self.baseline.classes
        signals = [s for s in SIGNALS if float(row[s]) >= 0.5]
        rationale = (f"baseline classifier {self.baseline.meta.version}: P={probs[best]:.2f}; "
                     f"runner-up {classes[second]} P={probs[second]:.2f}"
                     + (f"; signals: {', '.join(signals)}" if signals else ""))
        return Verdict(item_id=item.item_id, judge_id=self.judge_id, status="ok", category=classes[best],
                       confidence=float(probs[best]), rationale=rationale, source="baseline", model=self.model,
                       latency_ms=ms, attempts=0, flags=list(flags))

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item (CPU only, no I/O)."""
        return self.verdicts([item])[0]

    def judge_batch(self, items: Sequence[Item]) -> list[Verdict]:
        """Judge many items in one classifier call (much faster than one by one)."""
        return self.verdicts(items)


# --- training -----------------------------------------------------------------------------------------------------

def _rows(items: Sequence[GoldItem]) -> list[tuple[str, ...]]:
    return [(g.item_id, g.question, g.reference_answer or "", g.response, g.consensus or "") for g in items]


def split_scores(y_true: Sequence[str], probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Kappa (with bootstrap CI), accuracy, macro F1, ECE and log loss of predicted probabilities."""
    pred = [classes[i] for i in np.argmax(probs, axis=1)]
    conf = [float(x) for x in probs.max(axis=1)]
    rep = agreement_report(list(y_true), pred, confidences=conf)
    return {"n": rep.n, "kappa": rep.kappa, "kappa_ci": list(rep.kappa_ci), "accuracy": rep.accuracy,
            "macro_f1": rep.macro_f1, "ece": rep.ece, "log_loss": float(log_loss(list(y_true), probs, labels=list(classes)))}


def _gold_split(gold: Sequence[GoldItem], splits: dict[str, str], split: Literal["train", "dev"]) -> list[GoldItem]:
    chosen = [g for g in select_split(gold, splits, split) if g.consensus is not None]
    if not chosen:
        raise ValueError(f"the {split} split has no items with a consensus category")
    return chosen


def train_baseline(gold: str | Path | Sequence[GoldItem], splits: str | Path | dict[str, str], *,
                   out_dir: str | Path | None = MODELS_DIR, grid: Sequence[BaselineConfig] = DEFAULT_GRID,
                   min_coverage: float = 0.5, keep_old: bool = False) -> BaselineModel:
    """Fit every config on train, keep the best on dev (lowest log loss, then highest kappa, then grid order),
    choose the cascade tau on dev, and save the artifact (unless out_dir is None).

    Uses only the train and dev splits. Items without a consensus category are left out.
    """
    gold_items = load_gold(gold) if isinstance(gold, str | Path) else list(gold)
    split_map = load_splits(splits).splits if isinstance(splits, str | Path) else dict(splits)
    train, dev = _gold_split(gold_items, split_map, "train"), _gold_split(gold_items, split_map, "dev")
    x_train, y_train = items_frame(screen_all([g.to_item() for g in train])[0]), [g.consensus or "" for g in train]
    x_dev, y_dev = items_frame(screen_all([g.to_item() for g in dev])[0]), [g.consensus or "" for g in dev]
    tried: list[tuple[tuple[float, float], int, Pipeline, dict[str, Any]]] = []
    for i, config in enumerate(grid):
        pipe = fit_pipeline(x_train, y_train, config)
        scores = split_scores(y_dev, pipe.predict_proba(x_dev), [str(c) for c in pipe.classes_])
        kappa = scores["kappa"] if scores["kappa"] is not None else -1.0
        tried.append(((-round(scores["log_loss"], 6), kappa), -i, pipe,
                      {**config.model_dump(), "dev_kappa": scores["kappa"], "dev_log_loss": scores["log_loss"]}))
    _, neg_i, best, _ = max(tried, key=lambda t: (t[0], t[1]))
    config = grid[-neg_i]
    classes = [str(c) for c in best.classes_]
    dev_scores = split_scores(y_dev, best.predict_proba(x_dev), classes)
    train_sha, dev_sha = items_hash(_rows(train)), items_hash(_rows(dev))
    code = features_code_hash()
    digest = hashlib.sha256(f"{train_sha}:{dev_sha}:{code}:{config.model_dump_json()}".encode()).hexdigest()
    meta = BaselineMeta(
        version=f"{FEATURES_VERSION}.{digest[:10]}", features_version=FEATURES_VERSION, features_code=code,
        sklearn_version=sklearn.__version__, trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        gold_file=Path(gold).name if isinstance(gold, str | Path) else "<items>", train_sha256=train_sha,
        dev_sha256=dev_sha, n_train=len(train), n_dev=len(dev), classes=classes, config=config.model_dump(),
        dev_scores=dev_scores, grid=[t[3] for t in tried], tau=0.0,
    )
    model = BaselineModel(best, meta)
    choice = choose_tau(dev, RulesJudge(), BaselineJudge(model), min_coverage=min_coverage)
    model.meta = meta.model_copy(update={"tau": choice.tau, "tau_choice": choice.model_dump(exclude={"curve"})})
    if out_dir is not None:
        model.path = save_artifact(best, model.meta, out_dir, keep_old=keep_old)
        model.meta = BaselineModel.load(model.path).meta
    return model


def train_baseline_file(gold: str | Path, splits: str | Path | None = None, *, out_dir: str | Path | None = None,
                        min_coverage: float = 0.5, keep_old: bool = False) -> BaselineModel:
    """Train from a gold file (splits: as given, else beside the gold file) into `out_dir` (default: shipped)."""
    from judge.gold.splits import default_splits_path

    return train_baseline(gold, splits or default_splits_path(gold), out_dir=out_dir or MODELS_DIR,
                          min_coverage=min_coverage, keep_old=keep_old)


def baseline_info(where: str | Path | None = None) -> dict[str, Any]:
    """The metadata of the baseline artifact at `where` (default: the shipped one), without its tuning grid."""
    return BaselineModel.load(where or MODELS_DIR).meta.model_dump(exclude={"grid"})
