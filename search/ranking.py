"""Probabilistic scoring (DFR's In_expB2, and BM25) with per-language collection statistics.

Whoosh's BM25F uses the classic `log(N / (df + 1)) + 1` IDF, which never lets a
common word fade out, and averages field lengths over every document in the
index, so in a mixed corpus a Russian body looked enormous next to the average
over documents that mostly have no Russian body at all. Here N and the average
length for `body_ru` are taken over the Russian documents only.

The product ranks with DFR (divergence from randomness, Amati and van Rijsbergen 2002) in
the form Lucene and Terrier call In_expB2: a word's frequency normalised by the document's
length (normalisation 2), its informativeness measured against the documents expected to hold
it by chance (basic model I(n_exp)), and the gain of one more occurrence discounted as Bernoulli
would (after-effect B). Over title and body the normalised frequencies are added first, as
BM25F does (Macdonald et al. 2005, per-field normalisation). Measured on six test collections
it ranks better than BM25 on five and within 0.005 on the sixth (bench/RESULTS.md). Both
models score in two steps, which search/evaluate.py runs over whole arrays: a frequency
times the document's `length_norm` for the field (the same factor for every term, so evaluate.py
keeps it per segment), then `saturate` (the score of the fields' sum).
"""

from __future__ import annotations

from math import log
from typing import NamedTuple

import numpy as np
from whoosh import query, scoring


class TermStats(NamedTuple):
    """A term's statistics in one field, over the documents of the field's language in the whole index."""

    docs: int  # documents that can have the field (those in its language)
    df: int  # documents holding the term
    frequency: float  # the term's occurrences in all of them
    avgfl: float  # the field's average length


def _language_docs(searcher, fieldname: str) -> int:
    """Return how many documents can have `fieldname` (those in its language)."""
    prefix, _, lang = fieldname.partition("_")
    if prefix in ("title", "body") and lang:
        return searcher.doc_frequency("lang", lang) or 1
    return searcher.doc_count() or 1


class Model(scoring.WeightingModel):
    """A model scoring a term from its normalised frequency in a document and its TermStats.

    One instance serves one searcher: it remembers the collection statistics of the
    terms it has scored, which Whoosh would otherwise gather again for every segment.
    """

    MAX_REMEMBERED = 50_000  # terms' statistics kept before starting afresh

    def __init__(self):
        self._stats: dict[tuple[str, object], TermStats] = {}

    def supports_block_quality(self) -> bool:
        return True

    def term_stats(self, searcher, fieldname: str, text) -> TermStats:
        """Return a term's statistics, from the whole index `searcher` belongs to."""
        key = (fieldname, text)
        found = self._stats.get(key)
        if found is None:
            # Collection statistics are global, so take them from the top searcher.
            parent = searcher.get_parent()
            docs = _language_docs(parent, fieldname)
            avgfl = (parent.field_length(fieldname) / docs) or 1
            found = TermStats(docs, parent.doc_frequency(fieldname, text), parent.frequency(fieldname, text), avgfl)
            if len(self._stats) >= self.MAX_REMEMBERED:
                self._stats.clear()
            self._stats[key] = found
        return found

    def normalise(self, weight, length, fieldname: str, stats: TermStats):
        """Return a term's frequency `weight` in a field `length` long, normalised by the length."""
        return weight * self.length_norm(length, fieldname, stats.avgfl)

    def length_norm(self, length, fieldname: str, avgfl: float):
        """Return what a frequency is multiplied by in a field `length` long (the same for every term)."""
        raise NotImplementedError

    def length_key(self, fieldname: str) -> tuple:
        """Return what length_norm depends on besides the lengths and the average: the model and its settings."""
        raise NotImplementedError

    def saturate(self, frequency, stats: TermStats):
        """Return the score of a term's normalised frequency (summed over fields)."""
        raise NotImplementedError

    def across_fields(self, held: list[tuple[str, TermStats]]) -> TermStats:
        """Return the statistics that saturate a word's frequencies summed over `held`, (field, stats) pairs."""
        raise NotImplementedError

    def score(self, weight, length, fieldname: str, stats: TermStats):
        """Return a term's score in one field (numbers or numpy arrays)."""
        return self.saturate(self.normalise(weight, length, fieldname, stats), stats)

    def scorer(self, searcher, fieldname, text, qf=1):
        """Return the scorer for one term in one field."""
        if not searcher.schema[fieldname].scorable:
            return scoring.WeightScorer.for_(searcher, fieldname, text)
        return _Scorer(searcher, fieldname, text, self, self.term_stats(searcher, fieldname, text))


class DFR(Model):
    """In_expB2 with normalisation 2 (Lucene's DFRSimilarity(BasicModelIne, AfterEffectB, NormalizationH2))."""

    def __init__(self, c: float = 1.0):
        super().__init__()
        self.c = c

    def length_norm(self, length, fieldname: str, avgfl: float):
        return np.log2(1 + self.c * avgfl / length)

    def length_key(self, fieldname: str) -> tuple:
        return ("dfr", self.c)

    def across_fields(self, held: list[tuple[str, TermStats]]) -> TermStats:
        # The body's: the models' statistics describe a word's occurrences in running text (a title
        # has one or two). The title's only for a word no body in the segment holds.
        return next((stats for fieldname, stats in held if fieldname.startswith("body_")), held[0][1])

    def saturate(self, frequency, stats: TermStats):
        docs, df, occurrences, _ = stats
        # Documents expected to hold the term if its occurrences fell at random.
        expected = docs * (1 - ((docs - 1) / docs) ** occurrences)
        informative = np.log2((docs + 1) / (expected + 0.5))
        # The frequency's factor, then the term's (one number): three array operations, not five.
        return frequency / (frequency + 1) * (informative * (occurrences + 1) / df)


class BM25(Model):
    """Per-field BM25 with field-specific B and Lucene's IDF `log(1 + (N - df + 0.5) / (df + 0.5))`."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, field_b: dict[str, float] | None = None):
        super().__init__()
        self.k1 = k1
        self.b = b
        self.field_b = field_b or {}

    def field_b_of(self, fieldname: str) -> float:
        """Return B for `fieldname` (title_en takes the "title" setting)."""
        return self.field_b.get(fieldname.partition("_")[0], self.b)

    def length_norm(self, length, fieldname: str, avgfl: float):
        b = self.field_b_of(fieldname)
        return 1 / ((1 - b) + b * length / avgfl)

    def length_key(self, fieldname: str) -> tuple:
        return ("bm25", self.field_b_of(fieldname))

    def across_fields(self, held: list[tuple[str, TermStats]]) -> TermStats:
        # The field where the word is most common: its smallest IDF.
        return max((stats for _, stats in held), key=lambda stats: stats.df)

    def saturate(self, frequency, stats: TermStats):
        idf = log(1 + (stats.docs - stats.df + 0.5) / (stats.df + 0.5))
        return frequency / (frequency + self.k1) * (idf * (self.k1 + 1))


class _Scorer(scoring.WeightLengthScorer):
    def __init__(self, searcher, fieldname, text, model: Model, stats: TermStats):
        self.model, self.stats, self.fieldname = model, stats, fieldname
        self.setup(searcher, fieldname, text)

    def _score(self, weight, length):
        # At least 1, as evaluate.py reads lengths: a document without the field has no posting to score.
        return float(self.model.score(weight, max(length, 1), self.fieldname, self.stats))


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
