"""BM25 scoring with Lucene's IDF and per-language collection statistics.

Whoosh's BM25F uses the classic `log(N / (df + 1)) + 1` IDF, which never lets a
common word fade out, and averages field lengths over every document in the
index, so in a mixed corpus a Russian body looked enormous next to the average
over documents that mostly have no Russian body at all. Here the IDF is
BM25's `log(1 + (N - df + 0.5) / (df + 0.5))` and N and the average length for
`body_ru` are taken over the Russian documents only.
"""

from __future__ import annotations

from math import log

from whoosh import scoring


def _language_docs(searcher, fieldname: str) -> int:
    """Return how many documents can have `fieldname` (those in its language)."""
    prefix, _, lang = fieldname.partition("_")
    if prefix in ("title", "body") and lang:
        return searcher.doc_frequency("lang", lang) or 1
    return searcher.doc_count() or 1


def bm25(weight, length, idf: float, avgfl: float, k1: float, b: float):
    """Return BM25's score of a term `weight` times in a field `length` long (numbers or numpy arrays)."""
    norm = k1 * ((1 - b) + b * length / avgfl)
    return idf * weight * (k1 + 1) / (weight + norm)


class BM25(scoring.WeightingModel):
    """Per-field BM25 (summed over fields by the query) with field-specific B.

    One instance serves one searcher: it remembers the collection statistics of the
    terms it has scored, which Whoosh would otherwise gather again for every segment.
    """

    MAX_REMEMBERED = 50_000  # terms' statistics kept before starting afresh

    def __init__(self, k1: float = 1.2, b: float = 0.75, field_b: dict[str, float] | None = None):
        self.k1 = k1
        self.b = b
        self.field_b = field_b or {}
        self._stats: dict[tuple[str, object], tuple[float, float]] = {}

    def supports_block_quality(self) -> bool:
        return True

    def field_b_of(self, fieldname: str) -> float:
        """Return B for `fieldname` (title_en takes the "title" setting)."""
        return self.field_b.get(fieldname.partition("_")[0], self.b)

    def term_stats(self, searcher, fieldname: str, text) -> tuple[float, float]:
        """Return (IDF, average field length) of a term, from the whole index `searcher` belongs to."""
        key = (fieldname, text)
        found = self._stats.get(key)
        if found is None:
            # Collection statistics are global, so take them from the top searcher.
            parent = searcher.get_parent()
            docs = _language_docs(parent, fieldname)
            df = parent.doc_frequency(fieldname, text)
            idf = log(1 + (docs - df + 0.5) / (df + 0.5))
            avgfl = (parent.field_length(fieldname) / docs) or 1
            if len(self._stats) >= self.MAX_REMEMBERED:
                self._stats.clear()
            found = self._stats[key] = (idf, avgfl)
        return found

    def scorer(self, searcher, fieldname, text, qf=1):
        """Return the scorer for one term in one field."""
        if not searcher.schema[fieldname].scorable:
            return scoring.WeightScorer.for_(searcher, fieldname, text)
        idf, avgfl = self.term_stats(searcher, fieldname, text)
        return _Scorer(searcher, fieldname, text, idf, avgfl, self.k1, self.field_b_of(fieldname))


class _Scorer(scoring.WeightLengthScorer):
    def __init__(self, searcher, fieldname, text, idf: float, avgfl: float, k1: float, b: float):
        self.idf, self.avgfl, self.k1, self.b = idf, avgfl, k1, b
        self.setup(searcher, fieldname, text)

    def _score(self, weight, length):
        return bm25(weight, length, self.idf, self.avgfl, self.k1, self.b)
