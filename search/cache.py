"""Small thread-safe LRU caches: search results per index state, and search.evaluate's arrays.

A search result depends only on the request and on the committed index, so each web
worker keeps the most recent results, keyed by both (popular queries, reloads, the back
button). A commit makes a new index state, and results of older states are never served
again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

MAX_BYTES = 16 * 1024 * 1024  # roughly, per process


def index_state(searcher) -> Hashable:
    """Return what identifies the committed index `searcher` reads: generation, segments, deletions."""
    reader = searcher.reader()
    segments = []
    for leaf, _ in reader.leaf_readers():
        segment = leaf.segment() if hasattr(leaf, "segment") else None
        if segment is not None:
            # Segment ids are random, so an index deleted and rebuilt never repeats a state.
            segments.append((segment.segment_id(), segment.deleted_count()))
    return reader.generation(), tuple(segments)


class ResultCache:
    """A thread-safe LRU of at most `entries` values and about `max_bytes`."""

    def __init__(self, entries: int, max_bytes: int = MAX_BYTES):
        self.entries = entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """Return the cached value for `key`, or None."""
        if self.entries <= 0:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        """Remember `value` (about `size` bytes) under `key`, forgetting the least recently used."""
        if self.entries <= 0 or size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > self.entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def resize(self, max_bytes: int) -> None:
        """Hold about `max_bytes` from now on, forgetting the least recently used past it."""
        with self._lock:
            self.max_bytes = max_bytes
            while self._items and self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._items)
