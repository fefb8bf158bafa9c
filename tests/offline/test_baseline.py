"""The sklearn baseline: deterministic training on a small fixture, valid probabilities, artifact round trip."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
from typer.testing import CliRunner

from judge.cli.app import app
from judge.core.exceptions import ConfigError
from judge.core.protocol import Judge
from judge.core.taxonomy import CATEGORY_CODES
from judge.gold.gold_set import load_gold
from judge.gold.splits import load_splits
from judge.offline.artifact import BaselineVersionWarning, find_artifact, load_artifact
from judge.offline.baseline import CV_SEED, BaselineConfig, BaselineJudge, BaselineModel, cv_folds, train_baseline
from tests.conftest import FIXTURES

FIX = FIXTURES / "offline"
GOLD, SPLITS = FIX / "gold_small.jsonl", FIX / "splits_small.json"
GRID = (BaselineConfig(C=1.0), BaselineConfig(C=0.1))


def split_items(split: str):  # type: ignore[no-untyped-def]
    splits = load_splits(SPLITS).splits
    return [g for g in load_gold(GOLD) if splits[g.item_id] == split]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[BaselineModel, Path]:
    out = tmp_path_factory.mktemp("models")
    return train_baseline(GOLD, SPLITS, out_dir=out, grid=GRID), out


def test_training_is_deterministic(saved):
    model, _ = saved
    again = train_baseline(GOLD, SPLITS, out_dir=None, grid=GRID)
    items = [g.to_item() for g in load_gold(GOLD)]
    assert again.meta.version == model.meta.version
    np.testing.assert_array_equal(again.predict_proba(items), model.predict_proba(items))


def test_probabilities_are_valid(saved):
    model, _ = saved
    items = [g.to_item() for g in load_gold(GOLD)]
    probs = model.predict_proba(items)
    assert probs.shape == (len(items), len(model.classes))
    assert set(model.classes) == set(CATEGORY_CODES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert (probs >= 0).all()


def test_learns_the_separable_fixture(saved):
    # every category of the fixture has its own unmistakable wording, so held-out dev items should mostly be right
    model, _ = saved
    dev = split_items("dev")
    pred = [model.classes[i] for i in model.predict_proba([g.to_item() for g in dev]).argmax(axis=1)]
    assert sum(p == g.consensus for p, g in zip(pred, dev, strict=True)) >= 6


def test_test_split_is_never_read(tmp_path):
    lines = GOLD.read_text(encoding="utf-8").splitlines()
    test_ids = {g.item_id for g in split_items("test")}
    changed = []
    for line in lines:
        row = json.loads(line)
        if row["item_id"] in test_ids:
            row["response"] = "完全不同的回答"
        changed.append(json.dumps(row, ensure_ascii=False))
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(changed) + "\n", encoding="utf-8")
    a = train_baseline(GOLD, SPLITS, out_dir=None, grid=GRID)
    b = train_baseline(gold, SPLITS, out_dir=None, grid=GRID)
    assert a.meta.version == b.meta.version and a.meta.cv_scores == b.meta.cv_scores


def test_dev_items_are_training_items(tmp_path):
    # train and dev are pooled: changing a dev item changes the model, as changing a train item does
    dev_id = split_items("dev")[0].item_id
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["item_id"] == dev_id:
            row["response"] = row["response"] + "另外补充一句。"
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    a = train_baseline(GOLD, SPLITS, out_dir=None, grid=GRID[:1])
    b = train_baseline(gold, SPLITS, out_dir=None, grid=GRID[:1])
    assert a.meta.dev_sha256 != b.meta.dev_sha256 and a.meta.version != b.meta.version
    assert a.meta.train_sha256 == b.meta.train_sha256


def test_folds_are_repeated_stratified_and_seeded():
    labels = [c for c in CATEGORY_CODES for _ in range(6)]
    k, folds = cv_folds(labels)
    assert k == 5 and len(folds) == 10
    assert [list(te) for _, te in folds] == [list(te) for _, te in cv_folds(labels)[1]]
    for r in range(2):  # every item is held out exactly once per repeat, each fold holds out every category
        held = sorted(i for _, te in folds[r * 5:(r + 1) * 5] for i in te)
        assert held == list(range(len(labels)))
        assert all({labels[i] for i in te} == set(CATEGORY_CODES) for _, te in folds[r * 5:(r + 1) * 5])
    assert cv_folds(labels[:-3])[0] == 3  # a category with 3 items: 3 folds


def test_artifact_of_the_earlier_protocol_still_loads(saved, tmp_path):
    model, _ = saved
    old = json.loads(model.meta.model_dump_json())
    old["dev_scores"] = old.pop("cv_scores")
    for key in ("protocol", "oof_abstention"):
        old.pop(key)
    path = _copy(saved, tmp_path)
    path.with_suffix(".json").write_text(json.dumps(old), encoding="utf-8")
    loaded = BaselineModel.load(path)
    assert loaded.meta.cv_scores == model.meta.cv_scores and loaded.meta.protocol is None
    assert BaselineJudge(loaded).cv_abstention() is None


def test_metadata_records_data_versions_protocol_and_cv_scores(saved):
    model, out = saved
    meta = model.meta
    assert meta.sklearn_version == sklearn.__version__ and meta.n_train == 24 and meta.n_dev == 8
    assert meta.protocol is not None and meta.protocol.pool == "train+dev" and meta.protocol.n_pool == 32
    # 4 pooled items per category in the fixture: 4 folds instead of 5
    assert (meta.protocol.n_splits, meta.protocol.n_repeats, meta.protocol.random_state) == (4, 2, CV_SEED)
    assert len(meta.grid) == len(GRID) and meta.config in [c.model_dump() for c in GRID]
    assert all({"cv_log_loss", "cv_kappa", "cv_kappa_fold_sd"} <= set(g) for g in meta.grid)
    scores = meta.cv_scores
    assert scores["first_repeat"]["n"] == 32 and -1 <= scores["kappa"] <= 1
    assert len(scores["kappa_per_repeat"]) == 2 and scores["log_loss"] == pytest.approx(
        sum(scores["log_loss_per_repeat"]) / 2)
    assert scores["kappa_folds"]["min"] <= scores["kappa_folds"]["mean"] <= scores["kappa_folds"]["max"]
    chosen = next(g for g in meta.grid if {k: g[k] for k in meta.config} == meta.config)
    assert chosen["cv_log_loss"] == min(g["cv_log_loss"] for g in meta.grid) == scores["log_loss"]
    assert 0 <= meta.tau <= 1 and meta.tau_choice["min_coverage"] == 0.5
    assert meta.tau_choice["point"]["coverage"] >= 0.5
    assert set(meta.oof_abstention) == {"offline", "baseline"}
    assert all(len(c) == 20 and c[0].coverage == 1.0 for c in meta.oof_abstention.values())
    assert (out / f"baseline-{meta.version}.joblib").exists() and (out / f"baseline-{meta.version}.json").exists()


def test_artifact_round_trip(saved):
    model, out = saved
    loaded = BaselineModel.load(out)
    items = [g.to_item() for g in load_gold(GOLD)]
    np.testing.assert_array_equal(loaded.predict_proba(items), model.predict_proba(items))
    assert loaded.meta == model.meta


def test_judge_verdicts(saved):
    _, out = saved
    judge = BaselineJudge(where=out)
    assert isinstance(judge, Judge) and judge.judge_id == BaselineJudge(where=out).judge_id
    item = split_items("dev")[0].to_item()
    v = asyncio.run(judge.ajudge(item))
    probs = judge.baseline.predict_proba([item])[0]
    assert v.status == "ok" and v.source == "baseline" and v.category in CATEGORY_CODES
    assert v.category == judge.baseline.classes[int(probs.argmax())]
    assert v.confidence == pytest.approx(float(probs.max()))


def _copy(saved, tmp_path: Path, **meta_changes) -> Path:  # type: ignore[no-untyped-def]
    _, out = saved
    src = find_artifact(out)
    dst = tmp_path / src.name
    dst.write_bytes(src.read_bytes())
    meta = json.loads(src.with_suffix(".json").read_text(encoding="utf-8"))
    meta.update(meta_changes)
    dst.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return dst


def test_other_sklearn_minor_version_warns(saved, tmp_path):
    major, minor = sklearn.__version__.split(".")[:2]
    path = _copy(saved, tmp_path, sklearn_version=f"{major}.{int(minor) + 1}.0")
    with pytest.warns(BaselineVersionWarning, match="scikit-learn"):
        load_artifact(path)


def test_other_sklearn_major_version_is_an_error(saved, tmp_path):
    major = int(sklearn.__version__.split(".")[0])
    path = _copy(saved, tmp_path, sklearn_version=f"{major + 1}.0.0")
    with pytest.raises(ConfigError, match="medjudge baseline train"):
        load_artifact(path)


def test_other_features_version_is_an_error(saved, tmp_path):
    path = _copy(saved, tmp_path, features_version="0")
    with pytest.raises(ConfigError, match="features version"):
        load_artifact(path)


def test_changed_feature_code_warns(saved, tmp_path):
    path = _copy(saved, tmp_path, features_code="000000000000")
    with pytest.warns(BaselineVersionWarning, match="changed"):
        load_artifact(path)


def test_tampered_model_file_is_an_error(saved, tmp_path):
    path = _copy(saved, tmp_path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match="hash"):
        load_artifact(path)


def test_missing_artifact_names_the_training_command(tmp_path):
    with pytest.raises(ConfigError, match="medjudge baseline train"):
        BaselineModel.load(tmp_path)


def test_shipped_artifact_loads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", BaselineVersionWarning)
        model = BaselineModel.load()
    assert set(model.classes) == set(CATEGORY_CODES) and model.meta.n_train > 0


def test_command_line_trains_and_replaces_old_artifacts(tmp_path, capsys):
    stale = tmp_path / "baseline-old.joblib"
    stale.write_bytes(b"x")
    stale.with_suffix(".json").write_text("{}", encoding="utf-8")
    res = CliRunner().invoke(app, ["baseline", "train", "--gold", str(GOLD), "--splits", str(SPLITS), "--out",
                                   str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "saved" in res.output and '"cv_scores"' in res.output and '"protocol"' in res.output
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".joblib", ".json"] and not stale.exists()
    res = CliRunner().invoke(app, ["baseline", "info", "--model", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["n_train"] == 24


def test_the_shipped_artifact_is_what_the_training_command_makes(tmp_path):
    # the one-command recipe: training again on the same gold data gives the same version id and predictions
    from tests.conftest import GOLD as REAL_GOLD

    res = CliRunner().invoke(app, ["baseline", "train", "--gold", str(REAL_GOLD), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    shipped, again = BaselineModel.load(), BaselineModel.load(tmp_path)
    assert again.meta.version == shipped.meta.version
    assert (again.meta.train_sha256, again.meta.dev_sha256) == (shipped.meta.train_sha256, shipped.meta.dev_sha256)
    assert again.meta.tau == shipped.meta.tau and again.meta.config == shipped.meta.config
    items = [g.to_item() for g in load_gold(REAL_GOLD)]
    np.testing.assert_allclose(again.predict_proba(items), shipped.predict_proba(items), rtol=0, atol=1e-9)
