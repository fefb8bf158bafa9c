"""The fast batch path of the offline judge gives what the per-item reference gives.

The reference: `item_features` of one item at a time, every per-prompt memo emptied before each item,
`items_frame` (a DataFrame built row by row) and the fitted pipeline's own `predict_proba`, and the rules
judge's `run_rules` per item. The fast path: `feature_columns` over a batch (memos shared across items, rule hits
handed over by the cascade) and `predict_columns`.
"""

from __future__ import annotations

import asyncio
import random
import unicodedata
import warnings

import numpy as np
import pytest

from evals.bench.offline_speed import real_items
from judge.core.models import Item
from judge.gold.gold_set import load_gold
from judge.offline.baseline import BaselineJudge, BaselineModel
from judge.offline.batch_predict import predict_columns, transform_columns
from judge.offline.cascade import BELOW_TAU, CascadeJudge
from judge.offline.features import NUMERIC_COLUMNS, clear_memos, feature_columns, item_features, items_frame
from judge.offline.rules import RULE_NAMES, rule_hits, run_rules
from judge.offline.rules.text import content_chars
from judge.offline.rules_judge import RulesJudge
from tests.conftest import FIXTURES, GOLD, load_items


def _items() -> list[Item]:
    """Gold items, the realistic fixtures and MedBench-layout outputs, plus responses moved to other prompts, so
    many items share a prompt (as when several models answer one benchmark)."""
    base = ([g.to_item() for g in load_gold(GOLD)] + load_items()
            + real_items(400, FIXTURES / "medbench") + real_items(400, FIXTURES / "medbench_v4"))
    rng = random.Random(3)
    moved = [it.model_copy(update={"item_id": f"moved-{i}", "response": rng.choice(base).response})
             for i, it in enumerate(rng.choices(base, k=300))]
    return base + moved


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return _items()


@pytest.fixture(scope="module")
def model() -> BaselineModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BaselineModel.load()


def _fresh_features(item: Item) -> list[float]:
    clear_memos()
    return list(item_features(item).values())


def test_feature_columns_equal_fresh_per_item_features(items):
    assert len({it.question for it in items}) < len(items)  # prompts recur, so the memos are used
    reference = np.array([_fresh_features(it) for it in items])
    clear_memos()
    fast = feature_columns(items).numeric
    assert fast.shape == (len(items), len(NUMERIC_COLUMNS))
    np.testing.assert_array_equal(fast, reference)
    frame = items_frame(items)
    np.testing.assert_array_equal(frame[list(NUMERIC_COLUMNS)].to_numpy(dtype=float), reference)


def test_handed_over_rule_hits_give_the_same_features(items):
    hits = [rule_hits(it) for it in items]
    assert any(h is not None for hs in hits for h in hs.values())
    np.testing.assert_array_equal(feature_columns(items, hits).numeric, feature_columns(items).numeric)


def test_transform_columns_equal_the_column_transformer(items, model):
    reference = model.pipeline.steps[0][1].transform(items_frame(items))
    fast = transform_columns(model.pipeline, feature_columns(items))
    assert fast.shape == reference.shape
    assert abs(fast - reference).max() == 0.0


def test_predict_columns_equal_the_pipeline_on_the_frame(items, model):
    reference = np.asarray(model.pipeline.predict_proba(items_frame(items)))
    fast = predict_columns(model.pipeline, feature_columns(items))
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-12)
    assert predict_columns(model.pipeline, feature_columns([])).shape == (0, len(model.classes))


def test_cascade_batch_equals_the_per_item_reference(items, model):
    rules, baseline = RulesJudge(), BaselineJudge(model)
    cascade = CascadeJudge(rules, baseline)
    batch = cascade.judge_batch(items)
    classes = model.classes
    for it, v in zip(items, batch, strict=True):
        hit = run_rules(it)
        if hit is not None:
            assert (v.status, v.category, v.confidence, v.source) == ("ok", hit.category, hit.confidence, "rules")
            continue
        clear_memos()
        probs = np.asarray(model.pipeline.predict_proba(items_frame([it])))[0]
        best = int(np.argsort(-probs, kind="stable")[0])
        assert (v.status, v.category, v.source) == ("ok", classes[best], "baseline")
        assert v.confidence == pytest.approx(float(probs[best]), abs=1e-12)
        assert (BELOW_TAU in v.flags) == (probs[best] < cascade.tau)


def test_cascade_item_by_item_equals_its_batch(items, model):
    cascade = CascadeJudge(RulesJudge(), BaselineJudge(model))
    some = items[::7]
    batch = cascade.judge_batch(some)
    for it, v in zip(some, batch, strict=True):
        one = asyncio.run(cascade.ajudge(it))
        assert (one.status, one.category, one.confidence, one.source, one.flags, one.rationale) == (
            v.status, v.category, v.confidence, v.source, v.flags, v.rationale)


def test_rule_hits_agree_with_run_rules(items):
    for it in items[:300]:
        hits = rule_hits(it)
        assert list(hits) == list(RULE_NAMES)
        first = next((h for h in hits.values() if h is not None), None)
        assert first == run_rules(it)


def test_silent_hits_only_when_every_rule_ran():
    assert RulesJudge().silent_hits() == dict.fromkeys(RULE_NAMES)
    assert RulesJudge(enabled=["unanswered"]).silent_hits() is None


def test_content_chars_keeps_letters_and_digits_of_every_plane():
    text = "".join(chr(c) for c in [*range(0, 0x3400), *range(0x4E00, 0x4F00), *range(0xFF00, 0x10000),
                                    *range(0x1D400, 0x1D500), *range(0x1F300, 0x1F400)] if not 0xD800 <= c < 0xE000)
    assert content_chars(text) == "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")
    assert content_chars("（A）：阿莫西林 500mg！") == "A阿莫西林500mg"


def _fitted(ngram_range: tuple[int, int], texts: list[str]):  # type: ignore[no-untyped-def]
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True).fit(texts)


_AWKWARD = ["", "   ", "a", "A b", "\x00x\x00 y", "ǅ𝒳 ＡＢ", "a\u3000b\tc\n\nd", "İı ß ﬁ", "  多  空格  ", "字"]


def test_numbered_char_ngrams_equal_the_vectorizer_on_every_kind_of_text(items, model):
    from judge.offline.batch_predict import _tfidf_char_wb_coded

    shipped = model.pipeline.steps[0][1].transformers_[0][1]
    texts = list(dict.fromkeys(it.response for it in items)) + _AWKWARD
    for vectorizer in (shipped, _fitted((1, 3), texts[:200]), _fitted((2, 3), texts[:200]), _fitted((1, 1), texts)):
        fast, reference = _tfidf_char_wb_coded(vectorizer, texts), vectorizer.transform(texts)
        assert fast.shape == reference.shape and fast.has_sorted_indices
        reference.sort_indices()
        np.testing.assert_array_equal(fast.indptr, reference.indptr)
        np.testing.assert_array_equal(fast.indices, reference.indices)
        np.testing.assert_array_equal(fast.data, reference.data)  # the same numbers, bit for bit


def test_longer_char_ngrams_take_the_counting_path(items):
    from judge.offline.batch_predict import _unique_transform

    texts = [it.response for it in items[:300]] + _AWKWARD
    vectorizer = _fitted((2, 4), texts)
    assert abs(_unique_transform(vectorizer, texts) - vectorizer.transform(texts)).max() == 0.0
