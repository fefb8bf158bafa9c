"""Class probabilities of a fitted baseline pipeline for many items, from feature columns instead of a DataFrame.

`predict_columns` gives what `pipeline.predict_proba(items_frame(items))` gives, with less work per item: the
fitted ColumnTransformer's blocks are applied one by one to the columns of `judge.offline.features.FeatureColumns`
(each distinct text is vectorised once: a prompt's instruction head, or a short answer such as "<A>", recurs over
many items; a plain character n-gram vectoriser counts each text's n-grams with a Counter), weighted and stacked as
the ColumnTransformer does, and then passed to the fitted classifier.
A test checks that both give the same probabilities.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from judge.offline.features import NUMERIC_COLUMNS, FeatureColumns

_WHITE_SPACES = re.compile(r"\s\s+")


def _char_wb_grams(text: str, min_n: int, max_n: int) -> list[str]:
    """The character n-grams of TfidfVectorizer(analyzer="char_wb") of a lower-cased text, in any order: n-grams
    inside words padded with one space, a word shorter than n counted once as a whole."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        w = f" {word} "
        size = len(w)
        for n in range(min_n, max_n + 1):
            if size <= n:
                grams.append(w)
                break
            grams.extend([w[i : i + n] for i in range(size - n + 1)])
    return grams


def _char_wb_counts(text: str, min_n: int, max_n: int) -> Counter[str]:
    """`Counter(_char_wb_grams(text, min_n, max_n))`, plus n-grams holding two spaces in a row (which no char_wb
    n-gram holds, so no vocabulary has them). For min_n <= 3 every padded word is at least min_n long, and its
    n-grams are those of the words padded and joined into one string (" a  bc ") that do not cross two spaces."""
    words = _WHITE_SPACES.sub(" ", text).split()
    if min_n > 3 or not words:
        return Counter(_char_wb_grams(text, min_n, max_n))
    joined = f" {'  '.join(words)} "
    counts: Counter[str] = Counter()
    pairs: list[str] = []
    for n in range(min_n, max_n + 1):
        if n == 1:
            counts.update(joined)
        elif n == 2:
            pairs = list(map(str.__add__, joined[:-1], joined[1:]))
            counts.update(pairs)
        elif n == 3 and pairs:  # joined[i:i+3] is pair i and character i+2
            counts.update(map(str.__add__, pairs[:-1], joined[2:]))
        else:
            counts.update([joined[i : i + n] for i in range(len(joined) - n + 1)])
    return counts


def _is_plain_char_wb(vectorizer: Any) -> bool:
    return (isinstance(vectorizer, TfidfVectorizer) and vectorizer.analyzer == "char_wb"
            and vectorizer.input == "content" and vectorizer.preprocessor is None and not vectorizer.strip_accents
            and vectorizer.lowercase and not vectorizer.binary and hasattr(vectorizer, "_tfidf"))


def _tfidf_char_wb(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    """`vectorizer.transform(texts)` for a plain char_wb vectoriser: the same n-grams, counted with a Counter and
    looked up once per distinct n-gram instead of once per occurrence; sklearn's own idf weighting and norm."""
    vocabulary = vectorizer.vocabulary_
    min_n, max_n = vectorizer.ngram_range
    columns: list[int] = []  # every distinct n-gram's column, -1 when out of the vocabulary
    counts: list[int] = []
    ends = [0]
    for text in texts:
        grams = _char_wb_counts(text.lower(), min_n, max_n)
        columns.extend(map(vocabulary.get, grams, repeat(-1)))  # no vocabulary entry holds two spaces
        counts.extend(grams.values())
        ends.append(len(columns))
    column = np.asarray(columns, dtype=np.int64)
    known = column >= 0
    indptr = np.concatenate(([0], np.cumsum(known)))[ends]  # each text's row keeps its known n-grams
    x = sp.csr_matrix((np.asarray(counts, dtype=vectorizer.dtype)[known], column[known].astype(np.int32),
                       indptr.astype(np.int32)), shape=(len(texts), len(vocabulary)))
    x.sort_indices()
    return vectorizer._tfidf.transform(x, copy=False)


_BITS = 21
"""Bits per character of an n-gram's number: a code point plus one is below 2**21."""
_MAX_CODED = 3
"""Longest n-gram that fits a 64-bit number (3 x 21 bits)."""
_VOCAB_CODES: weakref.WeakKeyDictionary[Any, tuple[pd.Index, np.ndarray]] = weakref.WeakKeyDictionary()
"""Each fitted vectoriser's vocabulary as (an index of its n-gram numbers, their columns), worked out once."""


def _gram_code(gram: str) -> int:
    """An n-gram (n <= 3) as one number: (c1+1, c2+1, c3+1) in 21-bit digits, so n-grams of different length or
    content never share a number."""
    code = 0
    for ch in gram:
        code = (code << _BITS) | (ord(ch) + 1)
    return code


def _vocabulary_codes(vectorizer: TfidfVectorizer) -> tuple[pd.Index, np.ndarray]:
    found = _VOCAB_CODES.get(vectorizer)
    if found is None:
        vocabulary = {g: c for g, c in vectorizer.vocabulary_.items() if len(g) <= _MAX_CODED}
        codes = np.fromiter(map(_gram_code, vocabulary), dtype=np.uint64, count=len(vocabulary))
        found = (pd.Index(codes), np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary)))
        _VOCAB_CODES[vectorizer] = found
    return found


def _tfidf_char_wb_coded(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    """`_tfidf_char_wb` for n-grams of at most 3 characters, counted by numpy over all texts at once.

    Each text's words are padded and joined (" a  bc ", see `_char_wb_counts`) and the texts are concatenated: every
    n-gram that crosses two texts or two words holds two spaces in a row, which no vocabulary entry holds. Every
    n-gram of the concatenation becomes a number (`_gram_code`), is looked up in a hash table of the vocabulary's
    numbers, and the ones found are counted per (text, column) pair."""
    min_n, max_n = vectorizer.ngram_range
    vocab_codes, vocab_columns = _vocabulary_codes(vectorizer)
    joined = []
    for text in texts:
        words = _WHITE_SPACES.sub(" ", text.lower()).split()
        joined.append(f" {'  '.join(words)} " if words else "")
    lengths = np.fromiter(map(len, joined), dtype=np.int64, count=len(joined))
    points = np.frombuffer("".join(joined).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    points += np.uint64(1)
    row_of = np.repeat(np.arange(len(texts), dtype=np.int32), lengths)
    rows, columns = [], []
    for n in range(min_n, max_n + 1):
        if len(points) < n:
            break
        codes = points[: len(points) - n + 1].copy()
        for k in range(1, n):
            codes <<= np.uint64(_BITS)
            codes |= points[k : len(points) - n + 1 + k]
        at = vocab_codes.get_indexer(codes)
        known = at >= 0
        rows.append(row_of[: len(codes)][known])
        columns.append(vocab_columns[at[known]])
    width = len(vectorizer.vocabulary_)
    cells = (np.concatenate(rows).astype(np.int64) * width + np.concatenate(columns) if rows
             else np.empty(0, dtype=np.int64))
    cells, counts = np.unique(cells, return_counts=True)  # sorted: by text, then by column
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells // width, minlength=len(texts)), out=indptr[1:])
    x = sp.csr_matrix((counts.astype(vectorizer.dtype), (cells % width).astype(np.int32), indptr),
                      shape=(len(texts), width))
    return vectorizer._tfidf.transform(x, copy=False)


def _unique_transform(transformer: Any, texts: list[str]) -> sp.csr_matrix:
    """`transformer.transform(texts)` with each distinct text transformed once (rows are independent)."""
    index: dict[str, int] = {}
    rows = [index.setdefault(t, len(index)) for t in texts]
    distinct = list(index)
    if not _is_plain_char_wb(transformer):
        out = transformer.transform(distinct)
    elif transformer.ngram_range[0] >= 1 and transformer.ngram_range[1] <= _MAX_CODED:
        out = _tfidf_char_wb_coded(transformer, distinct)
    else:
        out = _tfidf_char_wb(transformer, distinct)
    return sp.csr_matrix(out)[rows]


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
