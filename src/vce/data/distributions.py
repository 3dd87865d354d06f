"""Samplers for the shapes platform data has: heavy tails, Zipf popularity, weekly rhythm.

All take an explicit ``numpy.random.Generator`` so that generation is deterministic for a
seed, chunk by chunk, whatever order chunks run in.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

WINDOW_START = dt.datetime(2025, 10, 1)
WINDOW_DAYS = 365
_EPOCH_US = int(WINDOW_START.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)
_DAY_US = 86_400 * 1_000_000

# EU regions dominate; the rest are the platform's other large markets.
REGIONS = np.array(
    ["DE", "FR", "IT", "ES", "PL", "NL", "RO", "BE", "SE", "PT", "CZ", "AT", "IE", "DK", "FI",
     "GR", "HU", "GB", "US", "TR", "BR", "UA", "IN"]
)  # fmt: skip
REGION_WEIGHTS = np.array(
    [14, 12, 10, 10, 7, 5, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 6, 8, 4, 3, 2, 2], dtype=float
)
REGION_WEIGHTS /= REGION_WEIGHTS.sum()

AGE_WEIGHTS = np.array([0.12, 0.13, 0.27, 0.23, 0.15, 0.10])  # 25% under 18

# Weekly rhythm (Mon..Sun) and a daily curve peaking in the evening.
_WEEKDAY = np.array([0.9, 0.88, 0.9, 0.95, 1.08, 1.2, 1.15])
_HOUR = np.array(
    [3, 2, 1.2, 0.8, 0.6, 0.7, 1.2, 2, 2.6, 2.8, 3, 3.3, 3.8, 3.8, 3.7, 4, 4.6, 5.2, 5.8, 6.3,
     6.6, 6.2, 5.2, 4]
)  # fmt: skip


def _day_weights() -> np.ndarray:
    days = np.arange(WINDOW_DAYS)
    weekday = (WINDOW_START.weekday() + days) % 7
    growth = 1.0 + 0.35 * days / WINDOW_DAYS  # the platform grows over the year
    w = _WEEKDAY[weekday] * growth
    return w / w.sum()


_DAYS_CDF = np.cumsum(_day_weights())
_HOURS_CDF = np.cumsum(_HOUR / _HOUR.sum())


def timestamps(rng: np.random.Generator, n: int) -> np.ndarray:
    """Microsecond timestamps in the 12-month window, weekly and daily rhythm included."""
    day = np.searchsorted(_DAYS_CDF, rng.random(n) * _DAYS_CDF[-1])
    hour = np.searchsorted(_HOURS_CDF, rng.random(n) * _HOURS_CDF[-1])
    within = rng.integers(0, 3_600_000_000, n)
    return (
        _EPOCH_US + day.astype(np.int64) * _DAY_US + hour.astype(np.int64) * 3_600_000_000 + within
    )


def before_window(rng: np.random.Generator, n: int, years: float = 5.0) -> np.ndarray:
    """Timestamps up to ``years`` before the window (account creation)."""
    return _EPOCH_US - (rng.random(n) * years * 365 * _DAY_US).astype(np.int64)


def clamp_to_window(ts: np.ndarray) -> np.ndarray:
    """Keep derived timestamps (e.g. a reply's) inside the window."""
    return np.minimum(ts, _EPOCH_US + WINDOW_DAYS * _DAY_US - 1)


def zipf_weights(n: int, s: float = 1.1) -> np.ndarray:
    """Probabilities proportional to ``1 / rank**s`` — hashtag and music popularity."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    return w / w.sum()


def choice_cdf(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """Draw ``n`` indexes from a cumulative distribution (faster than ``rng.choice(p=)``)."""
    return np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").clip(0, len(cdf) - 1)


class Sampler:
    """Draw indexes in proportion to weights, fast for millions of weights.

    A guide table (the CDF's inverse on a grid twice as fine as the weights) puts each draw
    next to its answer, so the search is a step or two instead of a ~20-step binary search
    with a cache miss at every step. Same draws as :func:`choice_cdf` for the same stream.

    >>> rng = np.random.default_rng(1)
    >>> s = Sampler(np.array([1.0, 0.0, 3.0]))
    >>> bool((s.draw(rng, 1000) != 1).all())
    True
    >>> w = zipf_weights(500)
    >>> bool((Sampler(w).draw(np.random.default_rng(2), 999) ==
    ...       choice_cdf(np.random.default_rng(2), np.cumsum(w), 999)).all())
    True
    """

    def __init__(self, weights: np.ndarray) -> None:
        self.cdf = np.cumsum(np.asarray(weights, dtype=float))
        self.total = self.cdf[-1]
        buckets = max(2 * len(self.cdf), 16)
        self.scale = buckets / self.total
        self.guide = np.searchsorted(self.cdf, np.arange(buckets) / self.scale, side="right")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` indexes, each ``i`` with probability ``weights[i] / sum(weights)``."""
        x = rng.random(n) * self.total
        bucket = np.minimum((x * self.scale).astype(np.int64), len(self.guide) - 1)
        idx = self.guide[bucket]
        todo = np.flatnonzero(self.cdf[np.minimum(idx, len(self.cdf) - 1)] <= x)
        while todo.size:
            idx[todo] += 1
            todo = todo[self.cdf[np.minimum(idx[todo], len(self.cdf) - 1)] <= x[todo]]
        return np.minimum(idx, len(self.cdf) - 1)


def heavy_counts(rng: np.random.Generator, n: int, median: float, sigma: float) -> np.ndarray:
    """Log-normal counts: most rows small, a few enormous (views, followers)."""
    return np.floor(rng.lognormal(np.log(median), sigma, n)).astype(np.int64)
