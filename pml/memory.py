"""Keeping the garbage collector off the large structures a process holds for hours.

A compiled catalogue release (and the reconciliation resolver built over it) is hundreds of thousands of
objects that live until the next release. CPython's full collections walk every tracked object: 55 ms for the
bundled FEST extract on the development machine, more for a full release, paid by whichever request happens to
trigger the collection. Freezing moves everything alive into a generation the collector never walks.
"""

from __future__ import annotations

import gc


def settle_long_lived_objects() -> None:
    """Freeze what is alive now, after collecting what the previous release left behind. Unfreezing first
    lets a replaced release that holds reference cycles be freed; the collection is one pause, at a release
    swap or a resolver build (rare), instead of one in some request's path every few thousand requests."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
