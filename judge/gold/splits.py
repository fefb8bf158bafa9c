"""Train/dev/test splits of the gold set, stratified by consensus category and stored apart from the items.

Assignment is deterministic and stable: within each stratum (one per consensus category, plus one for items
without consensus) items are ordered by sha256(f"{seed}:{item_id}") and the first share goes to train, the next
to dev, the rest to test. Each stratum's split sizes are its size times the ratios, rounded by largest
remainder (ties go to the earlier split), so a 1-item stratum goes to train and a 3-item stratum with the
default ratios to one item per split. An item's split depends only on the seed, its id and its stratum's
membership, never on other strata. The file `gold_labels/splits.json` holds {"seed", "ratios", "splits"}.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, field_validator

from judge.gold.gold_set import GoldItem

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")
DEFAULT_SPLITS_PATH = Path("gold_labels/splits.json")
DEFAULT_RATIOS: tuple[float, float, float] = (0.5, 0.2, 0.3)
DEFAULT_SEED = 13


class SplitFile(BaseModel):
    """Contents of a splits file."""

    seed: int
    """Seed the splits were drawn with."""
    ratios: tuple[float, float, float]
    """Target shares of train, dev, test."""
    splits: dict[str, Split]
    """{item_id: split}."""

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        check_ratios(v)
        return v


def check_ratios(ratios: tuple[float, float, float]) -> None:
    """Raise ValueError unless there are three non-negative ratios summing to 1."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise ValueError(f"ratios must be three non-negative shares of train, dev, test summing to 1, got {ratios}")


def allocate(size: int, ratios: tuple[float, float, float]) -> list[int]:
    """Split `size` into three counts proportional to `ratios` by the largest-remainder method."""
    quotas = [size * r for r in ratios]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(3), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: size - sum(counts)]:
        counts[i] += 1
    return counts


def _rank(seed: int, item_id: str) -> str:
    return hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()


def make_splits(
    items: Iterable[GoldItem], ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = DEFAULT_SEED
) -> dict[str, Split]:
    """Assign every item to train, dev or test, stratified by consensus category (see module doc)."""
    check_ratios(ratios)
    strata: dict[str, list[str]] = {}
    for item in items:
        strata.setdefault(item.consensus or "", []).append(item.item_id)
    out: dict[str, Split] = {}
    for ids in strata.values():
        ordered = sorted(ids, key=lambda i: (_rank(seed, i), i))
        n_train, n_dev, _ = allocate(len(ordered), ratios)
        for pos, item_id in enumerate(ordered):
            out[item_id] = "train" if pos < n_train else "dev" if pos < n_train + n_dev else "test"
    return dict(sorted(out.items()))


def extend_splits(splits: Mapping[str, Split], items: Iterable[GoldItem],
                  ratios: tuple[float, float, float] = DEFAULT_RATIOS, seed: int = DEFAULT_SEED) -> dict[str, Split]:
    """`splits` plus a split for every item not in it yet; items already assigned never move.

    Within each stratum (consensus category, or none), new items are taken in the seeded hash order of
    `make_splits`; each goes to the split furthest below its target share of the stratum (its ratio times the
    stratum's size with this item), ties to the earlier split. A stratum that grows one review round at a time
    therefore approaches the ratios instead of sending every first item to train.
    """
    check_ratios(ratios)
    out: dict[str, Split] = dict(splits)
    counts: dict[str, dict[str, int]] = {}
    new: dict[str, list[str]] = {}
    for item in items:
        stratum = item.consensus or ""
        c = counts.setdefault(stratum, dict.fromkeys(SPLITS, 0))
        if item.item_id in out:
            c[out[item.item_id]] += 1
        else:
            new.setdefault(stratum, []).append(item.item_id)
    for stratum, ids in new.items():
        c = counts[stratum]
        for item_id in sorted(dict.fromkeys(ids), key=lambda i: (_rank(seed, i), i)):
            size = sum(c.values()) + 1
            gaps = [ratios[k] * size - c[s] for k, s in enumerate(SPLITS)]
            best = SPLITS[max(range(3), key=lambda k: (gaps[k], -k))]
            out[item_id] = best
            c[best] += 1
    return dict(sorted(out.items()))


def save_splits(
    splits: Mapping[str, Split],
    path: str | Path = DEFAULT_SPLITS_PATH,
    *,
    seed: int = DEFAULT_SEED,
    ratios: tuple[float, float, float] = DEFAULT_RATIOS,
) -> None:
    """Write a splits file (keys sorted, so the file diffs cleanly)."""
    data = SplitFile(seed=seed, ratios=ratios, splits=dict(sorted(splits.items())))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data.model_dump(mode="json"), ensure_ascii=False, indent=1) + "\n", "utf-8")


def default_splits_path(gold: str | Path) -> Path:
    """Where a gold file's splits live unless given: `splits.json` in the gold file's folder."""
    return Path(gold).parent / "splits.json"


def load_splits(path: str | Path = DEFAULT_SPLITS_PATH) -> SplitFile:
    """Read a splits file."""
    return SplitFile.model_validate_json(Path(path).read_text(encoding="utf-8"))


def select_split(items: Iterable[GoldItem], splits: Mapping[str, str], split: Split) -> list[GoldItem]:
    """Items assigned to `split`; items missing from `splits` belong to no split and are never selected."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return [item for item in items if splits.get(item.item_id) == split]
