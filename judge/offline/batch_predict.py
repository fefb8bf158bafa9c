"""Class probabilities of a fitted baseline pipeline for many items, from feature columns instead of a DataFrame.

`predict_columns` gives what `pipeline.predict_proba(items_frame(items))` gives, with less work per item: the
fitted ColumnTransformer's blocks are applied one by one to the columns of `judge.offline.features.FeatureColumns`
(each distinct text is vectorised once: a prompt's instruction head, or a short answer such as "<A>", recurs over
many items), weighted and stacked as the ColumnTransformer does, and then passed to the fitted classifier.
A test checks that both give the same probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from judge.offline.features import NUMERIC_COLUMNS, FeatureColumns


def _unique_transform(transformer: Any, texts: list[str]) -> sp.csr_matrix:
    """`transformer.transform(texts)` with each distinct text transformed once (rows are independent)."""
    index: dict[str, int] = {}
    rows = [index.setdefault(t, len(index)) for t in texts]
    return sp.csr_matrix(transformer.transform(list(index)))[rows]


def _block(transformer: Any, columns: str | list[str], data: FeatureColumns) -> Any:
    if isinstance(columns, str):  # a text block reads one column as a 1-d sequence of strings
        return _unique_transform(transformer, data.text[columns])
    if all(c in data.categorical for c in columns):
        return transformer.transform(pd.DataFrame({c: data.categorical[c] for c in columns}))
    positions = [NUMERIC_COLUMNS.index(c) for c in columns]
    return transformer.transform(pd.DataFrame(data.numeric[:, positions], columns=list(columns)))


def transform_columns(pipeline: Pipeline, data: FeatureColumns) -> sp.csr_matrix:
    """The fitted feature step of `pipeline` (a ColumnTransformer) applied to feature columns."""
    features = pipeline.steps[0][1]
    weights = features.transformer_weights or {}
    blocks = []
    for name, transformer, columns in features.transformers_:
        if transformer == "drop" or name == "remainder":
            continue
        out = _block(transformer, columns, data)
        weight = weights.get(name)
        blocks.append(out * weight if weight is not None else out)
    return sp.hstack([sp.csr_matrix(b) for b in blocks]).tocsr()


def predict_columns(pipeline: Pipeline, data: FeatureColumns) -> np.ndarray:
    """Class probabilities, one row per item (the classes in `pipeline.classes_` order)."""
    if len(data.numeric) == 0:
        return np.zeros((0, len(pipeline.classes_)))
    return np.asarray(pipeline.steps[-1][1].predict_proba(transform_columns(pipeline, data)))
