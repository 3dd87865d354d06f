"""Identifier spaces: every table draws ids from its own range; synthetic rows from another.

Ids look like the platform's 19-digit ids and are a bijective scramble of a row index, so
they are unique without a lookup and carry no ordering. Synthetic ids are negative — a range
no real platform id uses, for generated and imported data alike — which is what guarantees
that no identifier of a real minor's row ever appears in the ``minor_synthetic`` partition.
"""

from __future__ import annotations

import numpy as np

_BITS = 44
_MASK = np.uint64((1 << _BITS) - 1)
_MULT = np.uint64(0x9E3779B97F4A7C15 & ((1 << _BITS) - 1) | 1)  # odd → bijection mod 2**44

BASES: dict[str, int] = {
    "users": 6_900_000_000_000_000_000,
    "videos": 7_300_000_000_000_000_000,
    "comments": 7_310_000_000_000_000_000,
    "playlists": 7_320_000_000_000_000_000,
    "hashtags": 1_000_000_000_000,
    "music": 7_000_000_000_000_000_000,
    "shops": 7_400_000_000_000_000_000,
    "products": 7_410_000_000_000_000_000,
    "product_reviews": 7_420_000_000_000_000_000,
}
_OTHER_BASE = 8_000_000_000_000_000_000  # imported tables with no space of their own


def make_ids(space: str, index: np.ndarray, *, synthetic: bool = False) -> np.ndarray:
    """Map row indexes ``0..n`` of ``space`` to int64 ids, distinct per space and flag.

    >>> a = make_ids("users", np.arange(5))
    >>> b = make_ids("users", np.arange(5), synthetic=True)
    >>> len(set(a) | set(b))
    10
    >>> bool((b < 0).all()), bool((a < 0).any())
    (True, False)
    """
    scrambled = ((index.astype(np.uint64) * _MULT) & _MASK).astype(np.int64)
    ids = scrambled + np.int64(BASES.get(space, _OTHER_BASE))
    return -ids if synthetic else ids
