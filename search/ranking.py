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


class BM25(scoring.WeightingModel):
    """Per-field BM25 (summed over fields by the query) with field-specific B."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, field_b: dict[str, float] | None = None):
        self.k1 = k1
        self.b = b
        self.field_b = field_b or {}

    def supports_block_quality(self) -> bool:
        return True

    def scorer(self, searcher, fieldname, text, qf=1):
        """Return the scorer for one term in one field."""
        if not searcher.schema[fieldname].scorable:
            return scoring.WeightScorer.for_(searcher, fieldname, text)
        prefix = fieldname.partition("_")[0]
        b = self.field_b.get(prefix, self.b)
        return _Scorer(searcher, fieldname, text, self.k1, b)


class _Scorer(scoring.WeightLengthScorer):
    def __init__(self, searcher, fieldname, text, k1: float, b: float):
        # Collection statistics are global, so take them from the top searcher.
        parent = searcher.get_parent()
        docs = _language_docs(parent, fieldname)
        df = parent.doc_frequency(fieldname, text)
        self.idf = log(1 + (docs - df + 0.5) / (df + 0.5))
        self.avgfl = (parent.field_length(fieldname) / docs) or 1
        self.k1 = k1
        self.b = b
        self.setup(searcher, fieldname, text)

    def _score(self, weight, length):
        norm = self.k1 * ((1 - self.b) + self.b * length / self.avgfl)
        return self.idf * weight * (self.k1 + 1) / (weight + norm)
