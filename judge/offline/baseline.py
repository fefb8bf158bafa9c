"""The scikit-learn baseline judge: a linear classifier over judge.offline.features, trained on the gold train+dev splits.

Train and dev are pooled. Hyperparameters are chosen by repeated stratified 5-fold cross-validation on the pool
(2 repeats, fixed seed) by mean out-of-fold log loss (a proper scoring rule, and the cascade threshold relies on
the probabilities), ties broken by out-of-fold kappa; the chosen configuration is refitted on the whole pool. The
cascade tau and the abstention curve behind `medjudge calibrate`'s --min-confidence recommendation are computed on
the out-of-fold probabilities, never on the model's in-sample ones. The test split is never read here. The chosen
model is saved with its metadata as a versioned artifact (judge.offline.artifact) and loaded by `BaselineJudge`, whose confidence is the model's (optionally sigmoid-calibrated) class probability.

Train from the command line:
    medjudge baseline train --gold gold_labels/gold.jsonl
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
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
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from judge.core.models import Item, Verdict
from judge.core.settings import make_judge_id
from judge.evaluate.abstention import AbstentionPoint, abstention_curve
from judge.evaluate.metrics import agreement_report, cohen_kappa
from judge.gold.gold_set import GoldItem, load_gold
from judge.gold.splits import load_splits, select_split
from judge.offline.artifact import MODELS_DIR, BaselineMeta, CVProtocol, items_hash, load_artifact, save_artifact
from judge.offline.batch_predict import predict_columns
from judge.offline.features import (
    FEATURES_VERSION,
    NUMERIC_COLUMNS,
    FeatureColumns,
    feature_columns,
    features_code_hash,
    items_frame,
    make_preprocessor,
)
from judge.offline.rules import RuleHit
from judge.offline.rules_judge import RulesJudge
from judge.offline.screen import screen_all, screen_version
from judge.offline.tau import choose_tau_from_probs
from judge.offline.workers import judge_on_cpus, processes_for

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
    [BaselineConfig(C=c, use_instruction=ins, text_weight=w) for c in (0.3, 1.0, 3.0) for ins in (False, True)
     for w in (1.0, 2.0)]
    + [BaselineConfig(classifier="linear_svc", C=c) for c in (0.03, 0.1)]
)
"""Configurations cross-validated by `train_baseline` (10 fits each). Trimmed from the 34 of the train/dev protocol
to keep the one training command under about 3 minutes on 2 shared cores: temperature scaling (3 inner fits, about
3x the cost) and C = 0.1 never had the lowest log loss, neither on dev nor cross-validated on train+dev (0.94 and
0.99 against 0.91 for the best), and both ends of C around the best (0.3, 3) stay."""
CV_FOLDS, CV_REPEATS, CV_SEED = 5, 2, 20240614
"""Repeated stratified k-fold of model selection: folds, repeats, seed."""


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
        return self.predict_columns(feature_columns(items))

    def predict_columns(self, data: FeatureColumns) -> np.ndarray:
        """Class probabilities for `feature_columns` output (the same as `predict_frame` of its `items_frame`)."""
        return predict_columns(self.pipeline, data)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities for an `items_frame`."""
        return np.asarray(self.pipeline.predict_proba(frame))


class BaselineJudge:
    """Judge with the baseline classifier: always a category, confidence = its class probability."""

    def __init__(self, model: BaselineModel | None = None, where: str | Path = MODELS_DIR,
                 workers: int | None = None) -> None:
        self.workers = workers
        """Processes a large `judge_batch` is judged in (None: `judge.offline.workers.default_workers()`)."""
        self.baseline = model or BaselineModel.load(where)
        self.model = "baseline"
        self.judge_id = make_judge_id(self.identity())

    @property
    def tau(self) -> float:
        """The cascade threshold chosen on out-of-fold probabilities when the model was trained."""
        return self.baseline.meta.tau

    def cv_abstention(self) -> list[AbstentionPoint] | None:
        """This judge's abstention curve on out-of-fold verdicts of the training pool (None: not recorded)."""
        return self.baseline.meta.oof_abstention.get("baseline") or None

    def identity(self) -> dict[str, object]:
        """Judge name, artifact version and file hash, features version."""
        meta = self.baseline.meta
        return {"judge": "baseline", "version": meta.version, "artifact_sha256": meta.sha256[:16],
                "features_version": meta.features_version, "screen": screen_version()}

    def verdicts(self, items: Sequence[Item], hits: Sequence[Mapping[str, RuleHit | None]] | None = None
                 ) -> list[Verdict]:
        """Judge many items in one batch (features of the response without injected spans; judge.offline.screen);
        `hits` are the screened items' rule hits when the caller already ran the rules."""
        seen, flags = screen_all(items)
        return self.verdicts_screened(seen, flags, hits)

    def verdicts_screened(self, items: Sequence[Item], flags: Sequence[list[str]],
                          hits: Sequence[Mapping[str, RuleHit | None]] | None = None) -> list[Verdict]:
        """Judge items already screened by judge.offline.screen; `flags[i]` go onto the i-th verdict."""
        if not items:
            return []
        t0 = time.perf_counter()
        data = feature_columns(items, hits)
        probs = self.baseline.predict_columns(data)
        fired = data.numeric[:, [NUMERIC_COLUMNS.index(s) for s in SIGNALS]] >= 0.5
        order = np.argsort(-probs, axis=1, kind="stable")
        ms = (time.perf_counter() - t0) * 1000 / len(items)
        return [self._verdict(it, p, o, f, ms, fl)
                for it, p, o, f, fl in zip(items, probs, order, fired, flags, strict=True)]

    def _verdict(self, item: Item, probs: np.ndarray, order: np.ndarray, fired: np.ndarray, ms: float,
                 flags: list[str]) -> Verdict:
        best, second = order[0], order[1] if len(order) > 1 else order[0]
        classes = self.baseline.classes
        signals = [s for s, on in zip(SIGNALS, fired, strict=True) if on]
        rationale = (f"baseline classifier {self.baseline.meta.version}: P={probs[best]:.2f}; "
                     f"runner-up {classes[second]} P={probs[second]:.2f}"
                     + (f"; signals: {', '.join(signals)}" if signals else ""))
        return Verdict(item_id=item.item_id, judge_id=self.judge_id, status="ok", category=classes[best],
                       confidence=float(probs[best]), rationale=rationale, source="baseline", model=self.model,
                       latency_ms=ms, attempts=0, flags=list(flags))

    async def ajudge(self, item: Item) -> Verdict:
        """Judge one item (CPU only, no I/O)."""
        return self.verdicts([item])[0]

    @property
    def processes(self) -> int:
        """The processes a large `judge_batch` runs in here (judge.offline.workers)."""
        return processes_for(self.workers)

    def judge_batch(self, items: Sequence[Item], hits: Sequence[Mapping[str, RuleHit | None]] | None = None
                    ) -> list[Verdict]:
        """Judge many items in one classifier call (much faster than one by one); a large batch is shared out over
        `workers` processes (judge.offline.workers)."""
        if hits is not None:
            return self.verdicts(items, hits)
        return judge_on_cpus(self.verdicts, items, self.workers)


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


def cv_folds(labels: Sequence[str], n_splits: int = CV_FOLDS, n_repeats: int = CV_REPEATS,
             seed: int = CV_SEED) -> tuple[int, list[tuple[np.ndarray, np.ndarray]]]:
    """The (train, held-out) index pairs of repeated stratified k-fold, repeat after repeat; k is lowered to the
    smallest category's size when that is below `n_splits`. Returns (k, folds)."""
    k = int(min(n_splits, pd.Series(list(labels)).value_counts().min()))
    if k < 2:
        raise ValueError("cross-validation needs at least 2 pooled items per category")
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=n_repeats, random_state=seed)
    return k, list(splitter.split(np.zeros((len(labels), 1)), list(labels)))


def _spread(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            "min": float(arr.min()), "max": float(arr.max())}


def cross_validate(frame: pd.DataFrame, labels: Sequence[str], config: BaselineConfig, k: int,
                   folds: Sequence[tuple[np.ndarray, np.ndarray]], classes: Sequence[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit `config` on every fold's training part; return the first repeat's out-of-fold probabilities (columns in
    `classes` order) and the scores: log loss and kappa of each repeat's out-of-fold predictions (and their means),
    and the spread over the folds."""
    y = list(labels)
    oof = np.zeros((len(folds) // k, len(y), len(classes)))
    fold_ll, fold_kappa = [], []
    for f, (tr, te) in enumerate(folds):
        pipe = fit_pipeline(frame.iloc[tr], [y[i] for i in tr], config)
        cols = [list(pipe.classes_).index(c) for c in classes]
        probs = np.asarray(pipe.predict_proba(frame.iloc[te]))[:, cols]
        oof[f // k, te] = probs
        y_te = [y[i] for i in te]
        fold_ll.append(float(log_loss(y_te, probs, labels=list(classes))))
        fold_kappa.append(cohen_kappa(y_te, [classes[j] for j in probs.argmax(axis=1)]))
    rep_ll = [float(log_loss(y, o, labels=list(classes))) for o in oof]
    rep_kappa = [cohen_kappa(y, [classes[j] for j in o.argmax(axis=1)]) for o in oof]
    scores = {"log_loss": float(np.mean(rep_ll)), "kappa": float(np.mean(rep_kappa)), "log_loss_per_repeat": rep_ll,
              "kappa_per_repeat": rep_kappa, "log_loss_folds": _spread(fold_ll), "kappa_folds": _spread(fold_kappa)}
    return oof[0], scores


def _offline_oof(pool: Sequence[GoldItem], probs: np.ndarray,
                 classes: Sequence[str]) -> tuple[list[str | None], dict[str, list[AbstentionPoint]]]:
    """The rules' categories on the pool, and the abstention curves of the `offline` judge (a rule's verdict when one
    fires, else the baseline's out-of-fold one) and of the baseline alone."""
    y = [g.consensus or "" for g in pool]
    rules = [RulesJudge().judge(g.to_item()) for g in pool]
    rule_pred = [v.category if v.status == "ok" else None for v in rules]
    base_pred = [str(classes[i]) for i in probs.argmax(axis=1)]
    base_conf = [float(c) for c in probs.max(axis=1)]
    off_pred = [r if r is not None else b for r, b in zip(rule_pred, base_pred, strict=True)]
    off_conf = [v.confidence if v.status == "ok" else c for v, c in zip(rules, base_conf, strict=True)]
    curves = {"offline": abstention_curve(y, off_pred, off_conf), "baseline": abstention_curve(y, base_pred, base_conf)}
    return rule_pred, curves


def train_baseline(gold: str | Path | Sequence[GoldItem], splits: str | Path | dict[str, str], *,
                   out_dir: str | Path | None = MODELS_DIR, grid: Sequence[BaselineConfig] = DEFAULT_GRID,
                   min_coverage: float = 0.5, keep_old: bool = False, n_splits: int = CV_FOLDS,
                   n_repeats: int = CV_REPEATS, seed: int = CV_SEED) -> BaselineModel:
    """Pool train and dev; score every config by repeated stratified k-fold cross-validation on the pool and keep
    the best (lowest mean out-of-fold log loss, then highest mean out-of-fold kappa, then grid order); refit it
    on the whole pool; choose the cascade tau and the abstention curves on its first-repeat out-of-fold
    probabilities; save the artifact (unless out_dir is None).

    Uses only the train and dev splits. Items without a consensus category are left out.
    """
    gold_items = load_gold(gold) if isinstance(gold, str | Path) else list(gold)
    split_map = load_splits(splits).splits if isinstance(splits, str | Path) else dict(splits)
    train, dev = _gold_split(gold_items, split_map, "train"), _gold_split(gold_items, split_map, "dev")
    pool = train + dev
    x_pool, y_pool = items_frame(screen_all([g.to_item() for g in pool])[0]), [g.consensus or "" for g in pool]
    classes = sorted(set(y_pool))
    k, folds = cv_folds(y_pool, n_splits, n_repeats, seed)
    tried: list[tuple[tuple[float, float], int, np.ndarray, dict[str, Any]]] = []
    for i, config in enumerate(grid):
        oof, scores = cross_validate(x_pool, y_pool, config, k, folds, classes)
        tried.append(((-round(scores["log_loss"], 6), round(scores["kappa"], 6)), -i, oof,
                      {**config.model_dump(), "cv_log_loss": scores["log_loss"], "cv_kappa": scores["kappa"],
                       "cv_kappa_fold_sd": scores["kappa_folds"]["sd"], "_scores": scores}))
    _, neg_i, oof, chosen = max(tried, key=lambda t: (t[0], t[1]))
    config = grid[-neg_i]
    cv_scores = {**chosen["_scores"], "first_repeat": split_scores(y_pool, oof, classes)}
    best = fit_pipeline(x_pool, y_pool, config)
    protocol = CVProtocol(n_pool=len(pool), n_splits=k, n_repeats=n_repeats, random_state=seed)
    rule_pred, curves = _offline_oof(pool, oof, classes)
    choice = choose_tau_from_probs(y_pool, rule_pred, oof, classes, min_coverage=min_coverage)
    train_sha, dev_sha = items_hash(_rows(train)), items_hash(_rows(dev))
    code = features_code_hash()
    digest = hashlib.sha256(f"{train_sha}:{dev_sha}:{code}:{config.model_dump_json()}:"
                            f"{protocol.model_dump_json()}".encode()).hexdigest()
    meta = BaselineMeta(
        version=f"{FEATURES_VERSION}.{digest[:10]}", features_version=FEATURES_VERSION, features_code=code,
        sklearn_version=sklearn.__version__, trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        gold_file=Path(gold).name if isinstance(gold, str | Path) else "<items>", train_sha256=train_sha,
        dev_sha256=dev_sha, n_train=len(train), n_dev=len(dev), classes=[str(c) for c in best.classes_],
        config=config.model_dump(), cv_scores=cv_scores, protocol=protocol,
        grid=[{key: v for key, v in t[3].items() if key != "_scores"} for t in tried], tau=choice.tau,
        tau_choice=choice.model_dump(exclude={"curve"}), oof_abstention=curves,
    )
    model = BaselineModel(best, meta)
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
