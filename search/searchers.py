"""One up-to-date searcher per thread, scoring with DFR's In_expB2 over title and body; the read path never writes."""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

from search import cache, indexer, ranking

# In_expB2 with per-field normalisation 2 at its default c (ranking.DFR), measured above BM25F
# (k1 1.6, b 0.75) on cranfield, cisi and cacm and checked on med, npl and scifact (bench/RESULTS.md);
# the title's weight against the body is expansion.TITLE_BOOST.
DFR_C = 1.0
# Queries kept parsed and expanded, per index state (query.prepared): a repeated query's words are
# not parsed, focused, expanded (a prefix walks the vocabulary) and checked for spelling again.
PREPARED_ENTRIES = 1024
PREPARED_BYTES = 8 * 1024 * 1024


def weighting() -> ranking.DFR:
    """Return the DFR scorer with per-field length normalisation."""
    return ranking.DFR(c=DFR_C)


class Searchers:
    """Hand out one up-to-date searcher per thread, refreshed when the index has a new generation."""

    def __init__(self, index_dir: str | Path, cache_entries: int = 0, prepared_entries: int = PREPARED_ENTRIES):
        self.index_dir = Path(index_dir)
        self._local = threading.local()
        self._ix = None
        self.results = cache.ResultCache(cache_entries)
        self.prepared = cache.ResultCache(prepared_entries, PREPARED_BYTES)
        # Every searcher handed out and not yet replaced: their segment files stay open
        # until they are closed, here or when this object is collected.
        self._handed_out: set = set()
        self._handed_out_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._handed_out, self._handed_out_lock)

    def close(self) -> None:
        """Close every searcher handed out (the next get() opens a fresh one)."""
        _close_all(self._handed_out, self._handed_out_lock)
        self._local = threading.local()

    def get(self):
        """Return this thread's searcher on the newest committed generation."""
        if self._ix is None:
            # The read path never writes: with no index yet this raises IndexMissing (a 503),
            # and the next request tries again, so the first indexer's commit is seen at once.
            self._ix = indexer.open_index(self.index_dir)
        current = getattr(self._local, "searcher", None)
        if current is not None and current.up_to_date():
            return current
        # Not Searcher.refresh(): in Whoosh 2.7 its reader reuse keeps the old
        # generation's segments, so documents dropped by a rebuild would linger.
        fresh = indexer.open_searcher(self._ix, weighting=weighting())
        with self._handed_out_lock:
            self._handed_out.add(fresh)
            if current is not None:
                self._handed_out.discard(current)
        if current is not None:
            current.close()  # only this thread used it, and its request is over
        self._local.searcher = fresh
        return fresh


def _close_all(searchers: set, lock: threading.Lock) -> None:
    with lock:
        for searcher in searchers:
            searcher.close()
        searchers.clear()
