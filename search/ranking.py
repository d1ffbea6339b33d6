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

from whoosh import query, scoring


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


class Coordinated(query.Or):
    """Any of the query's words, documents holding all of them first (the default matching strategy).

    Someone typing two or three words expects the documents with all of them first; someone
    pasting a question expects BM25 over any of its words. One query serves both: every
    document with any of the clauses matches and scores their BM25 sum, and the documents
    holding every clause rank above the rest (search/evaluate.py orders by that tier, then
    by score). Repeated clauses are kept once with their count as the boost, so a word said
    twice in a long query weighs twice, as in BM25 with query term frequency.
    """

    def normalize(self):
        weights: dict[query.Query, float] = {}
        for sub in self.subqueries:
            sub = sub.normalize()
            if sub is query.NullQuery:
                continue
            key = sub.with_boost(1.0)
            weights[key] = weights.get(key, 0.0) + sub.boost
        if not weights:
            return query.NullQuery
        subs = [sub.with_boost(boost) for sub, boost in weights.items()]
        if len(subs) == 1:
            return subs[0].with_boost(subs[0].boost * self.boost)
        return self.__class__(subs, boost=self.boost)


class Fields(query.Or):
    """One word in several fields of a document (title and body), scored as BM25F.

    Summing a separate BM25 per field lets a word in the title count as a whole second
    word, saturated on its own; BM25F (Robertson and Zaragoza) adds the word's
    length-normalised, weighted frequencies over the fields first and saturates once, so
    the title weighs in as extra occurrences. Each clause is a Term whose boost is its
    field's weight; evaluate.py does the arithmetic.
    """


class Compound(query.Or):
    """A compound word ("wind-tunnel"): any of its forms or parts matches, and their scores add up.

    A document holds the compound, for the all-words tier of a Coordinated query, when it has
    one of the `alternatives` (the exact sequence, the word written joined) or every one of the
    parts: "shock-sound wave" puts a document with shock, sound and wave in the top tier, and
    one with only shock and wave below it.
    """

    def __init__(self, alternatives, parts, boost: float = 1.0):
        super().__init__([*alternatives, *parts], boost=boost)
        self.alternatives = len(alternatives)

    def __eq__(self, other):
        return super().__eq__(other) and self.alternatives == getattr(other, "alternatives", None)

    def __hash__(self):
        return hash((super().__hash__(), self.alternatives))

    def normalize(self):
        alternatives = [sub.normalize() for sub in self.subqueries[: self.alternatives]]
        parts = [sub.normalize() for sub in self.subqueries[self.alternatives :]]
        alternatives = [sub for sub in alternatives if sub is not query.NullQuery]
        parts = [sub for sub in parts if sub is not query.NullQuery]
        if not parts or len(parts) == 1 and not alternatives:
            return query.Or(alternatives + parts, boost=self.boost).normalize()
        return self.__class__(alternatives, parts, boost=self.boost)
