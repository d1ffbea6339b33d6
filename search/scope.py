"""Which documents a caller may see: one Scope, applied inside every query function.

A key created with folders sees only the documents under them. search.query adds the scope's
restriction to every search it runs (first try and relaxed ones alike, so totals are the scope's),
and asks `visible()` for the scope's documents wherever it reads the vocabulary: a word counts for
"did you mean" and completions only if a document the caller may see contains it, and is ranked
by how many of those documents do. Otherwise the words of a hidden document would leak through
suggestions, which is where other engines' per-tenant restrictions stop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from whoosh import query

from search import cache, evaluate, segments

VISIBLE_CACHE = cache.ResultCache(entries=32, max_bytes=32 * 1024 * 1024)


@dataclass(frozen=True)
class Scope:
    """The folders a caller may see; None means every document."""

    folders: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        """Return whether this scope hides nothing."""
        return self.folders is None

    def restriction(self) -> query.Query | None:
        """Return the query for the documents under the scope's folders (None: no restriction)."""
        if self.folders is None:
            return None
        # The index's `folder` field holds every ancestor folder of a document.
        return query.Or([query.Term("folder", folder) for folder in self.folders]).normalize()

    def shows_folder(self, folder: str) -> bool:
        """Return whether `folder` is one of the scope's folders or inside one."""
        if self.folders is None:
            return True
        return any(folder == mine or folder.startswith(mine + "/") for mine in self.folders)


EVERYTHING = Scope()


def of(folders: Iterable[str]) -> Scope:
    """Return the scope of a key with `folders` (none: every document)."""
    folders = tuple(folders)
    return Scope(folders) if folders else EVERYTHING


class Visible:
    """The live documents of one index state that a scope shows, as a mask over document numbers."""

    def __init__(self, reader, mask: np.ndarray):
        self.reader = reader
        self.mask = mask

    def count(self) -> int:
        """Return the number of documents the scope shows."""
        return int(self.mask.sum())

    def has(self, docnum: int) -> bool:
        """Return whether the scope shows document `docnum`."""
        return 0 <= docnum < len(self.mask) and bool(self.mask[docnum])

    def doc_frequency(self, fieldname: str, text: str) -> int:
        """Return how many of the scope's documents contain `text` in `fieldname`."""
        return self._count(fieldname, text, first=False)

    def holds(self, fieldname: str, text: str) -> bool:
        """Return whether any of the scope's documents contains `text` in `fieldname`."""
        return self._count(fieldname, text, first=True) > 0

    def _count(self, fieldname: str, text: str, first: bool) -> int:
        """Count the scope's documents with `text` in `fieldname`; with `first`, stop at the first segment with one."""
        total = 0
        for leaf, offset in self.reader.leaf_readers():
            try:
                term = leaf.schema[fieldname].to_bytes(text)
            except (KeyError, ValueError):
                return 0
            if (fieldname, term) not in leaf:
                continue
            # evaluate keeps each segment's postings as arrays; counting with them is one vector operation.
            found = evaluate.postings(leaf, fieldname, term)
            docs = found[0] if found is not None else np.fromiter(leaf.postings(fieldname, term).all_ids(), np.int64)
            total += int(np.count_nonzero(self.mask[offset : offset + leaf.doc_count_all()][docs]))
            if first and total:
                break
        return total


def visible(searcher, scope: Scope) -> Visible | None:
    """Return the live documents `scope` shows in `searcher`'s index state, or None when that is every document.

    Deleted documents keep their words in the vocabulary until their segment is merged away,
    so an index with deletions gets a mask even for an unscoped caller: "did you mean" and
    completions must never offer a word that only deleted documents had.
    """
    reader = searcher.reader()
    if scope.everything and not reader.has_deletions():
        return None
    key = (cache.index_state(searcher), scope)
    mask = VISIBLE_CACHE.get(key)
    if mask is None:
        if scope.everything:
            mask = segments.live_documents(reader)
        else:
            mask = np.zeros(reader.doc_count_all(), dtype=bool)
            mask[np.fromiter(searcher.docs_for_query(scope.restriction()), dtype=np.int64)] = True  # skips deleted ones
        mask.flags.writeable = False  # shared by every thread of this process
        VISIBLE_CACHE.put(key, mask, size=mask.nbytes + 200)
    return Visible(searcher.reader(), mask)
