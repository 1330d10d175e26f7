"""How the synthetic generator writes values: the notations real exports mix (all normalise equal)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def pick(
    rng: np.random.Generator, values: Sequence[str], n: int, p: Sequence[float] | None = None
) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p)]


def _per_unique(
    rng: np.random.Generator, values: np.ndarray, variants: Callable[[Any], list[str]], p: Sequence[float]
) -> np.ndarray:
    """Render each distinct value in every notation once, then pick a notation per row."""
    uniques, inverse = np.unique(values, return_inverse=True)
    table = np.array([variants(value) for value in uniques.tolist()], dtype=object).reshape(
        len(uniques), len(p)
    )
    return np.asarray(table[inverse, rng.choice(len(p), len(values), p=p)])


def _amount_variants(value: float) -> list[str]:
    plain = f"{value:.2f}"
    if value >= 1000:
        return [
            plain,
            f"{value:,.2f}",
            f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", "."),
            f" {plain} ",
        ]
    return [plain, plain.replace(".", ","), f" {plain}", f"{plain} "]


def format_amounts(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """``4.99``, ``4,99``, `` 4.99``; large ones also ``1,234.56`` and ``1.234,56``."""
    return _per_unique(
        rng, np.round(np.asarray(values, dtype="float64"), 2), _amount_variants, [0.7, 0.15, 0.1, 0.05]
    )


def _campaign_variants(name: str) -> list[str]:
    if not name:
        return ["", " ", "", ""]
    return [name, name.lower(), f"  {name.title().replace(' ', '   ')} ", f"{name}\t"]


def format_campaigns(rng: np.random.Generator, names: np.ndarray) -> np.ndarray:
    """Canonical names written with other case, padding and inner whitespace."""
    return _per_unique(rng, np.asarray(names, dtype=str), _campaign_variants, [0.6, 0.2, 0.15, 0.05])


def format_times(rng: np.random.Generator, seconds: np.ndarray) -> np.ndarray:
    """UTC epoch seconds as ``YYYY-MM-DD HH:MM:SS``, ``...THH:MM:SSZ``, bare ISO, or local ``+02:00``."""
    seconds = np.asarray(seconds, dtype=np.int64)
    utc = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").astype(object)
    local = np.datetime_as_string((seconds + 7200).astype("datetime64[s]"), unit="s").astype(object)
    variant = rng.choice(4, len(seconds), p=[0.6, 0.2, 0.1, 0.1])
    out = np.where(variant == 0, np.char.replace(utc.astype(str), "T", " ").astype(object), utc)
    out = np.where(variant == 1, utc + "Z", out)
    return np.where(variant == 3, local + "+02:00", out)
