"""Run a query over whole posting lists with numpy: DFR (or BM25) scores, the top N and the exact total.

Whoosh walks a query's matchers one document at a time in Python, and counting the total takes
a second walk; at 100k documents a common word cost half a second. Here a term's postings are
read a block at a time into arrays (kept per immutable segment), scored with ranking's model in
one vector operation, and combined per segment as arrays: OR adds scores, AND intersects, AND NOT
and filters remove. An exact phrase intersects its words' (document, position) pairs; a date
range and a date sort read the date column. A part with no array form (a proximity phrase such
as `"a b"~3`, `*`) is walked by its own Whoosh matcher. Every query gets the same scores and the
same order as Whoosh's own matchers: highest score first, then lowest document number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from whoosh import columns, query
from whoosh.reading import TermNotFound

from search import analysis, cache, ranking, segments

_SHIFT = 32  # a (docnum, position) pair as one integer: docnum << _SHIFT | position (or narrower, below)
_NARROW_MARGIN = 1 << 10  # room kept above a narrow key's positions, for a phrase's offsets
_SEARCH_RATIO = 16  # _common looks values up one by one when one list is this many times shorter
# A phrase's next word's occurrences are first cut to the documents still in the running, unless
# at least this share of the segment's documents are (then the cut costs more than it saves).
_DENSE = 0.5
# The cut takes each remaining document's run of occurrences (two binary searches each) instead of
# passing over all of them when there are this many times more occurrences than documents: the
# documents a neighbouring-words bonus can lift into the top are a few hundred of a segment's.
_RUNS_RATIO = 64
_BONUS_BATCH = 8  # a neighbouring-words bonus is first matched in this many times the top's documents (_add_bonus)
# A bonus phrase is bounded (_add_bonus) when its words occur more than this many times a document of the
# segment; fewer (a title's, even of common words: 1.4), matching it costs less than coming back to it.
_BOUND_OCCURRENCES = 1.5
# Looking up a phrase's matched documents in a word's postings scatters the postings into a dense
# array first when more than a segment's documents / this many are wanted: 21 against 104 us for 9k
# of 11k documents (a binary search each), and 15 against 2 us for 50.
_LOOKUP_SCATTER = 8
# A word's scores over several fields are saturated only at the documents holding it when it is in
# fewer than a segment's documents / this many (a prefix's 64 expansions, most of them rare, were each
# saturated over every document of every segment: 40% of `aero*`'s scoring).
_SPARSE = 4
# A word on nearly every line (`the`: 0.4-0.8M occurrences a segment) is kept as a bit table of its
# places (_Table), not as position keys, when the table is at most this many times the keys' size:
# 1.3 against 3.4 MB in a segment of 23k documents, and a phrase looks its places up there with two
# gathers instead of a binary search among the occurrences (0.32 against 1.69 ms for 43k places).
_TABLE_SIZE = 1.0
_NARROW_MAX = np.iinfo(np.uint16).max  # postings kept as uint16 when every docnum and count fits (_narrow)
CHECK_EVERY = 256  # documents a walked matcher takes between two looks at the clock
# A segment's postings and lengths never change, so they are kept by segment id, up to this much.
# Sized by SEEDSEARCH_ARRAY_CACHE_MB when the app starts (set_array_cache): with every word indexed, a
# busy mix at 100k documents keeps about 110 MB of postings and positions; at 48 MB its common words'
# positions were decoded again and again (p50 55 ms against 7 ms at 160 MB, bench/RESULTS.md).
ARRAYS = cache.ResultCache(entries=100_000, max_bytes=128 * 1024 * 1024)
# The terms a segment lacks, remembered apart from the arrays (and only while they are kept), so
# that a query of many expansions (a prefix over fifteen languages' fields) never pushes them out.
ABSENT = cache.ResultCache(entries=50_000, max_bytes=50_000 * 200)
_ABSENT_BYTES = 200  # about what an entry and its key take


def set_array_cache(megabytes: int) -> None:
    """Keep about `megabytes` of segment arrays in this process (0 keeps none)."""
    ARRAYS.resize(megabytes * 1024 * 1024)


class _Part:
    """Which documents of one segment a query part matches, and their scores there."""

    __slots__ = ("mask", "scores", "tiers")

    def __init__(self, mask: np.ndarray, scores: np.ndarray, tiers: np.ndarray | None = None):
        self.mask = mask
        self.scores = scores
        # Ranked before the score, when set: 1 where a document holds every word (ranking.Coordinated).
        self.tiers = tiers


def sortable(searcher, fieldname: str) -> bool:
    """Return whether run() can order results by `fieldname` (a numeric column, such as a date)."""
    if fieldname not in searcher.schema:
        return False
    return isinstance(searcher.schema[fieldname].column_type, columns.NumericColumn)


def run(
    searcher,
    q: query.Query,
    limit: int,
    weighting: ranking.Model,
    check: Callable[[], None],
    newest_by: str | None = None,
    context=None,
):
    """Return (Whoosh Results of the top `limit`, exact total) for `q`; `check()` raises when time is up.

    The top is by score, or with `newest_by` (a `sortable` field) by that field, largest first,
    then by score; equal ones by document number. `context` is the Whoosh search context that
    parts walked by their own matchers get (the caller's may carry a deadline for them).
    """
    context = context or searcher.context()
    scored, bonus = _split_bonus(q) if newest_by is None and limit > 0 else (q, None)
    exact_bonus = True
    found_scores, found_docs, found_keys, found_tiers, found_upper, leaves = [], [], [], [], [], []
    for leaf, offset in searcher.leaf_searchers():
        size = leaf.doc_count_all()
        if size == 0:
            continue
        _read_phrase_words(leaf.reader(), q, check)
        part = _Evaluator(leaf, context, weighting, check, size).part(scored)
        mask = part.mask & segments.live_documents(leaf.reader())
        docs = np.flatnonzero(mask)
        found_scores.append(part.scores[docs])
        found_docs.append(docs + offset)
        found_tiers.append(part.tiers[docs] if part.tiers is not None else np.zeros(len(docs), dtype=np.int8))
        if newest_by is not None:
            found_keys.append(_sort_keys(leaf.reader(), newest_by)[docs])
        if bonus is not None:
            bounding = _Evaluator(leaf, context, weighting, check, size, bounding=True)
            bound = bounding.part(bonus)
            found_upper.append(np.where(bound.mask[docs], bound.scores[docs], 0.0))
            leaves.append((leaf, docs, bounding.exact))
            exact_bonus = exact_bonus and not bounding.bounded
        check()
    scores = np.concatenate(found_scores) if found_scores else np.zeros(0)
    docs = np.concatenate(found_docs) if found_docs else np.zeros(0, dtype=np.int64)
    tiers = np.concatenate(found_tiers) if found_tiers else np.zeros(0, dtype=np.int8)
    total = len(docs)
    if bonus is not None and total:
        upper = np.concatenate(found_upper)
        if exact_bonus:  # every phrase was matched, none bounded (pairs of common words, titles): the bonus itself
            scores = scores + upper
        else:
            _add_bonus(bonus, leaves, scores, tiers, upper, limit, (context, weighting, check))
    if newest_by is not None:
        keys = np.concatenate(found_keys) if found_keys else np.zeros(0, dtype=np.int64)
        order = np.lexsort((docs, -scores, -keys))[:limit]
    else:
        # The tier first, then the score: one key that orders the same way (scores are >= 0). It is
        # the score each result is given, so scores never rise down the list, as clients expect.
        scores = tiers * (float(scores.max()) + 1.0) + scores if total and tiers.any() else scores
        if total > limit > 0:
            # Only keys at least the limit-th best can be in the top; sort those alone.
            kth = np.partition(scores, total - limit)[total - limit]
            keep = scores >= kth
            scores, docs = scores[keep], docs[keep]
        order = np.lexsort((docs, -scores))[:limit]
    top = [(float(scores[i]), int(docs[i])) for i in order]
    results = segments.results_with_total(searcher, q, top, total)
    # How many documents hold every word of a Coordinated query (all of them for any other query).
    results.complete = int(np.count_nonzero(tiers)) if tiers.any() else (total if not _coordinated(q) else 0)
    return results, total


def _split_bonus(q: query.Query) -> tuple[query.Query, query.Query | None]:
    """Return (`q` without its bonus, the bonus) if `q` ranks higher by phrases it need not match, else (`q`, None).

    The bonus is an AndMaybe's optional part made only of exact phrases (query.prepare's
    neighbouring words), also under filters (Require) and exclusions (AndNot), which keep or drop
    the same documents with it or without it.
    """
    if isinstance(q, (query.Require, query.AndNot)):
        inner, bonus = _split_bonus(q.a)
        return (q.__class__(inner, q.b), bonus) if bonus is not None else (q, None)
    if isinstance(q, query.AndMaybe) and _only_phrases(q.b):
        return q.a, q.b
    return q, None


def _only_phrases(q: query.Query) -> bool:
    if type(q) in (query.Or, query.DefaultOr) and not getattr(q, "scale", None):
        return bool(q.subqueries) and all(_only_phrases(sub) for sub in q.subqueries)
    return isinstance(q, query.Phrase) and q.slop == 1 and len(q.words) > 1


def _add_bonus(bonus, leaves, scores, tiers, upper, limit: int, evaluating: tuple) -> None:
    """Add the bonus's scores, in place, to the found documents' `scores` that can reach the top `limit` with it.

    The found documents are every segment's (`leaves`: segment, its docnums, its phrases already
    matched) laid end to end, with their tiers. `upper` bounds each one's bonus from above: the
    phrase's words' scores where the document holds them all (the phrase's own score where it
    is, SpanNear2's sum). The bonus is matched first in the _BONUS_BATCH * `limit` documents whose
    score plus that bound is highest; the limit-th best of their scores then is a floor that the
    top's scores reach, and the bonus is matched in every other document whose score plus its
    bound reaches it. Any other document stays below the top: its score lacks the bonus.
    """
    may = np.flatnonzero(upper > 0)  # documents whose bonus may not be 0
    batch = _BONUS_BATCH * limit
    if len(may) <= batch:
        _match_bonus(bonus, leaves, scores, may, evaluating)
        return
    with_bonus = scores[may] + upper[may]
    # The tier first, then the score, as run() orders them (scores are >= 0); only where the bonus may be.
    scale = max(float(scores.max()), float(with_bonus.max())) + 1.0 if tiers.any() else 0.0
    highest = tiers[may] * scale + with_bonus  # as a document's rank with its bonus is summed
    chosen = np.argpartition(highest, len(may) - batch)[len(may) - batch :]
    first = may[chosen]
    _match_bonus(bonus, leaves, scores, first, evaluating)
    done = tiers[first] * scale + scores[first]
    floor = np.partition(done, len(done) - limit)[len(done) - limit] if len(done) >= limit else -np.inf
    rest = np.ones(len(may), dtype=bool)
    rest[chosen] = False
    _match_bonus(bonus, leaves, scores, may[rest & (highest >= floor)], evaluating)


def _match_bonus(bonus, leaves, scores: np.ndarray, picked: np.ndarray, evaluating: tuple) -> None:
    """Add the bonus's scores to `scores` (of every segment's found documents, laid end to end) at places `picked`."""
    chosen = np.zeros(len(scores), dtype=bool)
    chosen[picked] = True
    start = 0
    for leaf, docs, matched in leaves:
        here = np.flatnonzero(chosen[start : start + len(docs)])
        if len(here):
            held = docs[here]
            within = np.zeros(leaf.doc_count_all(), dtype=bool)
            within[held] = True
            # Only the phrases that were bounded are matched now; the others' parts are reused.
            evaluator = _Evaluator(leaf, *evaluating, leaf.doc_count_all(), within=within, known=matched)
            mask, extra = evaluator.phrases_at(bonus, held)
            scores[start + here] += np.where(mask, extra, 0.0)
        start += len(docs)


def _read_phrase_words(reader, q: query.Query, check: Callable[[], None]) -> None:
    """Read the postings and positions of every phrase word in `q` not yet kept, each in one pass over its blocks.

    A query's words are scored before the phrases among them (the neighbouring-words bonus) are
    matched: read first as plain postings, a common word's blocks were decoded a second time for
    its positions (`to be or not to be` at 100k: 0.5 s of its 1.4 s in a fresh process). Only
    when the arrays can be kept: otherwise each would be read again.
    """
    if not _keeping():
        return
    for phrase in _phrases(q):
        if phrase.fieldname not in reader.schema:
            continue
        units = _units(reader.schema, phrase)
        if _one_pair(units, phrase.fieldname):
            continue  # matched on the pair's postings alone (_Evaluator._pair)
        for _, fieldname, text in units:
            try:
                _phrase_postings(reader, fieldname, reader.schema[fieldname].to_bytes(text))
            except (ValueError, TermNotFound):
                break  # the phrase matches nothing in this segment
            check()


def _units(schema, phrase: query.Phrase) -> list[tuple[int, str, str]]:
    """Return what a phrase's positions are read from: (offset, field, term) for each word or pair of common words."""
    pairs = analysis.pairs_of(schema, phrase.fieldname)
    return [
        (offset, phrase.fieldname, phrase.words[offset])
        if size == 1
        else (offset, pairs.name, " ".join(phrase.words[offset : offset + size]))
        for offset, size in analysis.phrase_units(phrase.words, pairs)
    ]


def _one_pair(units: list[tuple[int, str, str]], fieldname: str) -> bool:
    """Return whether a phrase of field `fieldname` is, by its `_units`, one pair of common words."""
    return len(units) == 1 and units[0][1] != fieldname


def _phrases(q: query.Query) -> Iterator[query.Phrase]:
    if isinstance(q, query.Phrase):
        if q.slop == 1 and len(q.words) > 1:  # the phrases _Evaluator._phrase matches
            yield q
        return
    for child in q.children():
        yield from _phrases(child)


def _coordinated(q: query.Query) -> bool:
    """Return whether the scored part of `q` is a Coordinated query."""
    while isinstance(q, (query.AndNot, query.Require, query.AndMaybe)):
        q = q.a
    return isinstance(q, ranking.Coordinated)


class _Evaluator:
    """Evaluate a query's parts over one segment.

    `bounding`: an exact phrase scores where its words all are, without reading their positions
    (an upper bound of its score: see _add_bonus). `within`: phrases are matched in these
    documents only (a mask of the segment's), every other one scored 0.
    """

    def __init__(
        self, leaf, context, weighting: ranking.Model, check, size: int, bounding=False, within=None, known=None
    ):
        self.leaf, self.context, self.weighting, self.check, self.size = leaf, context, weighting, check, size
        self.bounding, self.within = bounding, within
        self.bounded: set[int] = set()  # bounding: the ids of the phrases scored without their positions
        self.exact: dict[int, _Part] = {}  # bounding: the other phrases' parts, by id (matched, not bounded)
        self.known = known or {}  # parts already matched, by their phrase's id (a bounding run's `exact`)

    def part(self, q: query.Query) -> _Part:
        """Return what `q` matches in this segment, scored as Whoosh's matchers score it."""
        if isinstance(q, query.Term) and q.fieldname in self.leaf.schema:
            return self._term(q)
        if isinstance(q, query.DateRange) and q.constantscore and sortable(self.leaf, q.fieldname):
            return self._dates(q)
        if isinstance(q, ranking.Coordinated):
            return self._coordinated(q)
        if isinstance(q, ranking.Compound):
            return self._compound(q)
        if isinstance(q, ranking.Fields):
            return self._fields(q)
        if isinstance(q, (query.And, query.Or)) and not getattr(q, "scale", None):
            subs = q.subqueries
            if len(subs) == 1:
                return self.part(subs[0])  # Whoosh applies no boost to a lone clause
            found = self._combine(subs, _both if isinstance(q, query.And) else _either)
            if q.boost != 1.0:
                found.scores = found.scores * q.boost
            return found
        if isinstance(q, query.Phrase) and q.slop == 1 and len(q.words) > 1 and q.fieldname in self.leaf.schema:
            if id(q) in self.known:
                return self.known[id(q)]
            found = self._phrase(q)
            if self.bounding and id(q) not in self.bounded:
                self.exact[id(q)] = found
            return found
        if isinstance(q, query.AndNot):
            keep, drop = self.part(q.a), self.part(q.b)
            mask = keep.mask & ~drop.mask
            return _Part(mask, np.where(mask, keep.scores, 0.0), _masked(keep.tiers, mask))
        if isinstance(q, query.Require):
            scored, required = self.part(q.a), self.part(q.b)
            mask = scored.mask & required.mask
            return _Part(mask, np.where(mask, scored.scores, 0.0), _masked(scored.tiers, mask))
        if isinstance(q, query.AndMaybe):
            required, optional = self.part(q.a), self.part(q.b)
            extra = np.where(required.mask & optional.mask, optional.scores, 0.0)
            return _Part(required.mask, np.where(required.mask, required.scores + extra, 0.0), required.tiers)
        return self._walk(q)

    def phrases_at(self, q: query.Query, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return what part(q) gives at documents `docs` (mask, scores), for `q` an Or of exact phrases (_only_phrases).

        The phrases' parts are combined there only, adding them in the same order as part().
        """
        if isinstance(q, query.Phrase):
            found = self.part(q)
            return found.mask[docs], found.scores[docs]
        if len(q.subqueries) == 1:
            return self.phrases_at(q.subqueries[0], docs)  # no boost on a lone clause, as part()
        mask, scores = self.phrases_at(q.subqueries[0], docs)
        for sub in q.subqueries[1:]:
            other_mask, other_scores = self.phrases_at(sub, docs)
            mask, scores = mask | other_mask, scores + other_scores
        return mask, scores * q.boost if q.boost != 1.0 else scores

    def _combine(self, subqueries, how) -> _Part:
        parts = [self.part(sub) for sub in subqueries]
        if not parts:
            return self._nothing()
        result = parts[0]
        for other in parts[1:]:
            result = how(result, other)
        return result

    def _any(self, q: query.Or) -> tuple[list[_Part], np.ndarray, np.ndarray]:
        """Return the parts of `q`'s clauses, the documents matching any of them, and their summed scores."""
        parts = [self.part(sub) for sub in q.subqueries]
        mask = np.zeros(self.size, dtype=bool)
        scores = np.zeros(self.size)
        for found in parts:
            mask |= found.mask
            scores += found.scores
        return parts, mask, scores * q.boost if q.boost != 1.0 else scores

    def _coordinated(self, q: ranking.Coordinated) -> _Part:
        """Match any clause, score their sum, and put the documents holding every clause in the top tier."""
        parts, mask, scores = self._any(q)
        # A clause with its own tier (a compound word, a group in brackets) is held when all of it is.
        held = [found.mask if found.tiers is None else found.tiers.astype(bool) for found in parts]
        return _Part(mask, scores, np.logical_and.reduce(held).astype(np.int8))

    def _compound(self, q: ranking.Compound) -> _Part:
        """Match any form or part of a compound word, score their sum; its tier: held as a whole or by every part."""
        parts, mask, scores = self._any(q)
        whole = [found.mask for found in parts[: q.alternatives]]
        every = np.logical_and.reduce([found.mask for found in parts[q.alternatives :]])
        return _Part(mask, scores, np.logical_or.reduce([every, *whole]).astype(np.int8))

    def _fields(self, q: ranking.Fields) -> _Part:
        """Score one word over several fields as BM25F does: weighted, normalised frequencies summed, then saturated."""
        reader, weighting = self.leaf.reader(), self.weighting
        frequency = np.zeros(self.size)
        held = []  # (field, the word's statistics there) for each field that holds the word in this segment
        postings_held = 0
        for sub in q.subqueries:
            if not (isinstance(sub, query.Term) and self._scored(sub.fieldname)):
                return self._combine(q.subqueries, _either)
            try:
                text = self.leaf.schema[sub.fieldname].to_bytes(sub.text)
                found = postings(reader, sub.fieldname, text)
            except (ValueError, TermNotFound):
                continue
            if found is None:
                return self._combine(q.subqueries, _either)
            field_stats = weighting.term_stats(self.leaf, sub.fieldname, text)
            held.append((sub.fieldname, field_stats))
            docs, weights = found
            postings_held += len(docs)
            norms = _length_norms(reader, sub.fieldname, weighting, field_stats.avgfl)
            index = _index(docs)  # used twice as an index
            weighted = norms[index]
            weighted *= weights
            if sub.boost != 1.0:
                weighted *= sub.boost
            if len(held) == 1:
                frequency[index] = weighted  # the first field's: nothing to add to
            else:
                frequency[index] += weighted
        if not held:
            return self._nothing()
        mask = frequency > 0
        stats = weighting.across_fields(held)
        if postings_held * _SPARSE < self.size:
            # A word in few of the segment's documents (most of a prefix's expansions): saturated
            # where it is, not over the whole segment (the same numbers, element by element).
            where = np.flatnonzero(mask)
            scores = np.zeros(self.size)
            scores[where] = weighting.saturate(frequency[where], stats) * q.boost
        else:
            # Both models score a frequency of 0 as 0: no need to pick the documents holding the word.
            scores = weighting.saturate(frequency, stats)
            if q.boost != 1.0:
                scores *= q.boost
        self.check()
        return _Part(mask, scores)

    def _nothing(self) -> _Part:
        return _Part(np.zeros(self.size, dtype=bool), np.zeros(self.size))

    def _scored(self, fieldname: str) -> bool:
        schema = self.leaf.schema
        return fieldname in schema and schema[fieldname].scorable

    def _term(self, q: query.Term) -> _Part:
        reader = self.leaf.reader()
        try:
            text = self.leaf.schema[q.fieldname].to_bytes(q.text)
            found = postings(reader, q.fieldname, text)
        except (ValueError, TermNotFound):
            return self._nothing()
        if found is None:
            return self._walk(q)
        docs, weights = found
        docs = _index(docs)  # used three times as an index
        scored = self._scores(q.fieldname, text, docs, weights)
        scores = np.zeros(self.size)
        scores[docs] = scored * q.boost if q.boost != 1.0 else scored
        mask = np.zeros(self.size, dtype=bool)
        mask[docs] = True
        self.check()
        return _Part(mask, scores)

    def _scores(self, fieldname: str, text: bytes, docs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Return a term's scores in documents `docs`, where it occurs `weights` times, as Whoosh's scorer gives them."""
        if not self._scored(fieldname):  # a field without lengths (type, folder): Whoosh's WeightScorer, the weight
            return weights.astype(np.float64)
        stats = self.weighting.term_stats(self.leaf, fieldname, text)
        norms = _length_norms(self.leaf.reader(), fieldname, self.weighting, stats.avgfl)
        return self.weighting.saturate(weights * norms[docs], stats)

    def _dates(self, q: query.DateRange) -> _Part:
        """Match a date range on the date column (the same numbers as the range's ends), scored q.boost as Whoosh does."""
        keys = _sort_keys(self.leaf.reader(), q.fieldname)
        mask = np.ones(self.size, dtype=bool)
        if q.start is not None:
            mask &= keys > q.start if q.startexcl else keys >= q.start
        if q.end is not None:
            mask &= keys < q.end if q.endexcl else keys <= q.end
        return _Part(mask, np.where(mask, float(q.boost), 0.0))

    def _phrase(self, q: query.Phrase) -> _Part:
        """Match the words at consecutive positions; score the sum of the words' scores, as SpanNear2 does.

        Neighbouring common words are matched on their pair's occurrences (analysis.PairsField)
        where the segment has them, not on the merged positions of two words in every document;
        a phrase that is one such pair, on the pair's documents alone (_pair).
        """
        # The words' postings, not their scored parts: only the documents with the phrase are scored.
        reader, field = self.leaf.reader(), self.leaf.schema[q.fieldname]
        units = _units(self.leaf.schema, q)
        if _one_pair(units, q.fieldname):
            return self._pair(q, units[0][1], units[0][2])
        alone = {offset for offset, fieldname, _ in units if fieldname == q.fieldname}
        words, read = [], {}
        for offset, word in enumerate(q.words):
            try:
                text = field.to_bytes(word)
                found = (
                    _phrase_postings(reader, q.fieldname, text)
                    if offset in alone
                    else postings(reader, q.fieldname, text)
                )
            except (ValueError, TermNotFound):
                return self._nothing()
            if found is None:
                return self._walk(q)
            words.append((text, found[0], found[1]))
            if offset in alone:
                read[offset] = found[2]
            self.check()
        located = []  # (offset, field, term bytes, docs, keys if read)
        for offset, fieldname, text in units:
            if fieldname == q.fieldname:
                located.append((offset, fieldname, words[offset][0], words[offset][1], read[offset]))
                continue
            try:
                tbytes = self.leaf.schema[fieldname].to_bytes(text)
                found = _phrase_postings(reader, fieldname, tbytes)
            except (ValueError, TermNotFound):
                return self._nothing()
            if found is None:
                return self._walk(q)
            located.append((offset, fieldname, tbytes, found[0], found[2]))
        # Every word's documents, and the pairs' (a word's unit has the word's own: not twice).
        pairs = [docs for _, fieldname, _, docs, _ in located if fieldname != q.fieldname]
        candidates = self._holding([docs for _, docs, _ in words] + pairs)
        if not candidates.any():
            return self._nothing()  # no document holds every word: no positions to read
        if self.bounding and sum(int(weights.sum()) for _, _, weights in words) > _BOUND_OCCURRENCES * self.size:
            self.bounded.add(id(q))
            return self._phrase_scores(q, words, candidates)  # as if every one of them held the phrase
        for at, (offset, fieldname, text, docs, keys) in enumerate(located):
            if keys is None:
                keys = _position_keys(reader, fieldname, text)
                if keys is None:
                    return self._walk(q)
                located[at] = (offset, fieldname, text, docs, keys)
        # The rarest unit first: the phrase's possible starts are then few, and a commoner unit
        # (`the` in `"the boundary layer"`: 0.4M occurrences a segment) is intersected with them whole,
        # not first cut to the candidate documents (a pass over all of it).
        located.sort(key=lambda unit: len(unit[4]))
        if isinstance(located[0][4], _Table):  # the starts are taken from its keys
            located[0] = (*located[0][:4], located[0][4].keys(reader))
        # All keys in one encoding: wide if any is, or if the phrase is longer than narrow keys leave room for.
        narrow = _narrow_shift(self.size)
        if len(q.words) >= _NARROW_MARGIN or any(_wide(keys) for *_, keys in located):
            located = [
                (*unit[:4], unit[4] if _wide(unit[4]) or isinstance(unit[4], _Table) else _widen(unit[4], narrow))
                for unit in located
            ]
        shift = _SHIFT if located[0][4].dtype == np.int64 else narrow
        place = located[0][4].dtype.type((1 << shift) - 1)  # a key's position bits
        starts = None
        for offset, _, _, _, keys in located:
            count = np.count_nonzero(candidates)
            if not count:
                return self._nothing()
            if isinstance(keys, _Table):
                starts = keys.holding(starts + offset, shift) - offset
            else:
                searched = starts is not None and len(starts) * _SEARCH_RATIO < len(keys)  # by _common, one by one
                if count * _RUNS_RATIO < len(keys) and not searched:
                    keys = _runs_of(keys, np.flatnonzero(candidates), shift)
                elif count < _DENSE * self.size and not searched:
                    keys = np.compress(np.take(candidates, keys >> shift), keys)
                if starts is None:
                    # Where the phrase would start if this unit is at `offset`: not before a document's start.
                    starts = np.compress((keys & place) >= offset, keys) - offset if offset else keys
                else:
                    starts = _common(starts + offset, keys) - offset
            candidates = np.zeros(self.size, dtype=bool)
            candidates[_index(starts >> shift)] = True
            self.check()
        return self._phrase_scores(q, words, candidates)

    def _pair(self, q: query.Phrase, fieldname: str, text: str) -> _Part:
        """Match a phrase of two common words on their pair's postings: the documents holding the pair hold the phrase."""
        reader, field = self.leaf.reader(), self.leaf.schema[q.fieldname]
        try:
            found = postings(reader, fieldname, self.leaf.schema[fieldname].to_bytes(text))
            if found is None:
                return self._walk(q)
            words = []
            for word in q.words:
                wbytes = field.to_bytes(word)
                word_postings = postings(reader, q.fieldname, wbytes)
                if word_postings is None:
                    return self._walk(q)
                words.append((wbytes, *word_postings))
        except (ValueError, TermNotFound):
            return self._nothing()
        candidates = self._holding([found[0]])
        self.check()
        return self._phrase_scores(q, words, candidates)

    def _holding(self, doc_lists: list[np.ndarray]) -> np.ndarray:
        """Return a mask of the documents in each of `doc_lists` (ascending docnums) and, if set, `within`."""
        if self.within is not None:
            wanted = np.flatnonzero(self.within)
            if len(wanted) * _SEARCH_RATIO < self.size:  # a few: each looked up in each list
                for docs in doc_lists:
                    wanted = wanted[wanted <= docs[-1]] if len(docs) else wanted[:0]
                    at = np.searchsorted(docs, wanted.astype(docs.dtype))  # fits: none is past the last
                    wanted = wanted[docs[at] == wanted]
                mask = np.zeros(self.size, dtype=bool)
                mask[wanted] = True
                return mask
        mask = np.zeros(self.size, dtype=bool)
        mask[_index(doc_lists[0])] = True
        for docs in doc_lists[1:]:
            holds = np.zeros(self.size, dtype=bool)
            holds[_index(docs)] = True
            mask &= holds
        return mask if self.within is None else mask & self.within

    def _phrase_scores(self, q: query.Phrase, words: list, candidates: np.ndarray) -> _Part:
        """Score the sum of the phrase's words' scores where it is (`candidates`), added in the words' order as SpanNear2 does."""
        matched = np.flatnonzero(candidates)
        summed = np.zeros(len(matched))  # summed where the phrase is, then placed once
        for text, docs, weights in words:
            summed += self._scores(q.fieldname, text, matched, _weights_at(docs, weights, matched, self.size))
        if q.boost != 1.0:
            summed *= q.boost
        scores = np.zeros(self.size)
        scores[matched] = summed
        return _Part(candidates, scores)

    def _walk(self, q: query.Query) -> _Part:
        """Walk `q`'s own Whoosh matcher over this segment, document by document."""
        mask, scores = self._nothing().mask, np.zeros(self.size)
        matcher = q.matcher(self.leaf, self.context)
        seen = 0
        while matcher.is_active():
            docnum = matcher.id()
            mask[docnum] = True
            scores[docnum] = matcher.score()
            seen += 1
            if seen % CHECK_EVERY == 0:
                self.check()
            matcher.next()
        return _Part(mask, scores)


def _masked(tiers: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    return None if tiers is None else np.where(mask, tiers, 0).astype(np.int8)


def _weights_at(docs: np.ndarray, weights: np.ndarray, wanted: np.ndarray, size: int) -> np.ndarray:
    """Return a term's weights in documents `wanted`, each of which it is in (`docs` ascending, of a segment of `size`)."""
    if len(wanted) * _LOOKUP_SCATTER > size:
        dense = np.zeros(size, dtype=weights.dtype)
        dense[_index(docs)] = weights
        return dense[wanted]
    # Docnums ascend, and every wanted document holds the term (in the postings' own dtype: no copy).
    return weights[np.searchsorted(docs, wanted.astype(docs.dtype, copy=False))]


def _index(positions: np.ndarray) -> np.ndarray:
    """Return `positions` (16- or 32-bit, as kept) as numpy's own index type.

    Indexing with narrower integers converts them at every use, at twice the cost of converting
    them once and indexing with the result (numpy 2.4: 19.7 against 2.3 + 10.7 us for 15k).
    """
    return positions.astype(np.intp, copy=False)


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the values that sorted arrays `a` and `b` (each without repeats) both hold, sorted."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) == 0:
        return a
    if len(a) * _SEARCH_RATIO < len(b):  # a few values in a long list: look each one up
        at = np.minimum(np.searchsorted(b, a), len(b) - 1)
        return np.compress(b[at] == a, a)
    # Lists of similar length: merge them. A stable sort is timsort, which finds the two sorted
    # runs and merges them in one linear pass; a value in both ends up twice, side by side.
    # (Binary search cost 4x as much on the 250k and 380k occurrences of "of" and "the" per segment.)
    merged = np.concatenate((a, b))
    merged.sort(kind="stable")
    later = merged[1:]
    # np.compress, not later[mask]: indexing by a mask a quarter to half true took 5-7x as long (numpy
    # 2.4: 380 against 52 us for 100k values); the same wherever a phrase keeps part of an array.
    return np.compress(later == merged[:-1], later)


def _runs_of(keys: np.ndarray, docs: np.ndarray, shift: int) -> np.ndarray:
    """Return the position keys (ascending, `shift` bits of position) of documents `docs` (ascending), in order."""
    docs = docs.astype(keys.dtype)
    first = np.searchsorted(keys, docs << keys.dtype.type(shift))
    lengths = np.searchsorted(keys, (docs + keys.dtype.type(1)) << keys.dtype.type(shift)) - first
    # Output place k of run i (runs laid end to end) is keys[first[i] + k - where run i begins].
    return keys[np.repeat(first - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())]


class _Table:
    """A term's places in a segment as one bit per document position: kept instead of its position keys when smaller.

    Document d's positions 0..e-1, where e is one past its last occurrence, are bits
    starts[d]..starts[d + 1] - 1 of `bits`. A word on nearly every line fills most of them.
    """

    __slots__ = ("starts", "bits", "count", "nbytes")

    def __init__(self, starts: np.ndarray, bits: np.ndarray, count: int):
        self.starts, self.bits, self.count = starts, bits, count
        self.nbytes = starts.nbytes + bits.nbytes  # what the array cache counts

    def __len__(self) -> int:
        return self.count  # occurrences, as len() of position keys

    @classmethod
    def of(cls, docs: np.ndarray, places: np.ndarray, size: int) -> _Table | None:
        """Return the table of occurrences (`docs` ascending, each one's `places` ascending), or None if larger than _TABLE_SIZE their keys."""
        if not len(docs) or size + 1 > _TABLE_SIZE * len(docs):  # its starts alone: 4 bytes a document, as a key
            return None
        last = np.flatnonzero(np.append(docs[1:] != docs[:-1], True))
        extents = np.zeros(size, dtype=np.int64)
        extents[docs[last]] = places[last].astype(np.int64) + 1  # a document's last occurrence is its last place
        starts = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(extents, out=starts[1:])
        if starts[-1] > np.iinfo(np.uint32).max or 4 * (size + 1) + int(starts[-1]) // 8 > _TABLE_SIZE * 4 * len(docs):
            return None
        starts = starts.astype(np.uint32)
        at = starts[docs]
        at += places.astype(np.uint32)
        bits = np.zeros(int(starts[-1]), dtype=bool)
        bits[at] = True
        return cls(starts, np.packbits(bits, bitorder="little"), len(docs))

    def keys(self, reader) -> np.ndarray:
        """Return the occurrences as position keys (_keys)."""
        at = np.flatnonzero(np.unpackbits(self.bits, count=int(self.starts[-1]), bitorder="little"))
        docs = np.searchsorted(self.starts, at, side="right") - 1
        return _keys(reader, docs, at - self.starts[docs])

    def holding(self, values: np.ndarray, shift: int) -> np.ndarray:
        """Return the position keys among `values` (ascending, `shift` bits of position) that are occurrences, in order."""
        docs = (values >> shift).astype(np.intp)
        places = (values & values.dtype.type((1 << shift) - 1)).astype(np.intp)
        at = self.starts[docs] + places
        inside = at < self.starts[docs + 1]  # past its document's last occurrence: not there
        at = np.where(inside, at, 0)
        return np.compress(inside & ((self.bits[at >> 3] >> (at & 7)) & 1).astype(bool), values)


def _wide(keys: np.ndarray | _Table) -> bool:
    """Return whether `keys` are wide position keys (int64), not narrow ones or a _Table."""
    return isinstance(keys, np.ndarray) and keys.dtype == np.int64


def _either(a: _Part, b: _Part) -> _Part:
    return _Part(a.mask | b.mask, a.scores + b.scores)


def _both(a: _Part, b: _Part) -> _Part:
    mask = a.mask & b.mask
    return _Part(mask, np.where(mask, a.scores + b.scores, 0.0))


def _segment_key(reader) -> str:
    return reader.segment().segment_id()


def postings(reader, fieldname: str, text: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Return a term's (docnums, weights) in a segment, deleted documents included; None if unreadable here."""
    key = ("postings", _segment_key(reader), fieldname, text)
    return _kept(key, lambda: _narrow(segments.postings_arrays(reader, fieldname, text)))


def _narrow(found: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Return postings in half the memory where they fit: uint16 docnums and counts instead of 32 bits.

    Segments hold fewer than 65,536 documents but for the largest indexes, and a weight is a
    count of occurrences: a 100k-document mix kept 22 MB of postings per web worker, 11 MB so.
    Indexing and arithmetic take either type alike (counts are widened to float64 when scored).
    """
    if found is None:
        return None
    docs, weights = found
    if len(docs) and docs[-1] <= _NARROW_MAX:  # docnums ascend
        docs = docs.astype(np.uint16)
    if len(weights) and weights.max() <= _NARROW_MAX and np.array_equal(weights, np.floor(weights)):
        weights = weights.astype(np.uint16)
    return docs, weights


def _position_keys(reader, fieldname: str, text: bytes) -> np.ndarray | _Table | None:
    """Return every occurrence of a term in a segment as one sorted key each (or a _Table); None without positions.

    A key is docnum << _narrow_shift(segment size) | position as uint32 when the term's positions
    there leave room (nearly always), else docnum << _SHIFT | position as int64 (see _widen).
    """
    key = ("positions", _segment_key(reader), fieldname, text)
    return _kept(key, lambda: _read_position_keys(reader, fieldname, text))


def _phrase_postings(reader, fieldname: str, text: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Return a phrase word's postings() and its position keys if read in the same pass (else None: _position_keys).

    When neither is kept yet, both come from one read of the word's blocks (segments.term_arrays).
    """
    segment = _segment_key(reader)
    postings_key, positions_key = ("postings", segment, fieldname, text), ("positions", segment, fieldname, text)
    found = _known(postings_key)
    if found is None and ARRAYS.get(positions_key) is None:
        read = _noting_absence(postings_key, lambda: segments.term_arrays(reader, fieldname, text))
        if read is not None:
            docs, weights, located, places = read
            keys = _kept(positions_key, lambda: _positions(reader, located, places))
            return (*_kept(postings_key, lambda: _narrow((docs, weights))), keys)
    if found is None:
        found = postings(reader, fieldname, text)
    return None if found is None else (*found, None)


def _read_position_keys(reader, fieldname: str, text: bytes) -> np.ndarray | _Table | None:
    located = segments.positions_arrays(reader, fieldname, text)
    return None if located is None else _positions(reader, *located)


def _positions(reader, docs: np.ndarray, places: np.ndarray) -> np.ndarray | _Table:
    """Return a term's occurrences in a segment as position keys, or as a _Table when that is smaller (and kept)."""
    table = _Table.of(docs, places, reader.doc_count_all()) if _keeping() else None
    return table if table is not None else _keys(reader, docs, places)


def _keys(reader, docs: np.ndarray, places: np.ndarray) -> np.ndarray:
    narrow = _narrow_shift(reader.doc_count_all())
    # Half the memory (and a faster merge) when the docnum and the position fit in 32 bits with room
    # to spare: a phrase subtracts its words' offsets, which must not reach the docnum's bits.
    if narrow > 0 and (len(places) == 0 or int(places.max()) < (1 << narrow) - _NARROW_MARGIN):
        return (docs.astype(np.uint32) << np.uint32(narrow)) | places.astype(np.uint32)
    return (docs.astype(np.int64) << _SHIFT) | places.astype(np.int64)


def _narrow_shift(size: int) -> int:
    """Return the bits a position gets in a narrow (uint32) key of a segment of `size` documents."""
    return 32 - size.bit_length()


def _widen(keys: np.ndarray, narrow: int) -> np.ndarray:
    """Return narrow (uint32) keys as wide ones (int64, docnum << _SHIFT | position)."""
    docs = (keys >> np.uint32(narrow)).astype(np.int64)
    return (docs << _SHIFT) | (keys & np.uint32((1 << narrow) - 1)).astype(np.int64)


def _length_norms(reader, fieldname: str, weighting: ranking.Model, avgfl: float) -> np.ndarray:
    """Return what each document's frequencies of `fieldname` are multiplied by in a segment (ranking's length_norm).

    Computed once per segment and average length (a commit changes the average), not once per
    term: DFR's logarithm over every document holding a word was a tenth of a two-word query.
    Only the norms are kept: the lengths are read again when a commit changes the average.
    """
    key = ("norms", _segment_key(reader), fieldname, weighting.length_key(fieldname), avgfl)
    return _kept(key, lambda: weighting.length_norm(_lengths(reader, fieldname), fieldname, avgfl))


def _lengths(reader, fieldname: str) -> np.ndarray:
    """Return every document's length of `fieldname` in a segment, as the scorer reads it."""
    found = segments.field_lengths(reader, fieldname)
    if found is None:  # no lengths stored: the scorer's default (doc_field_length(..., 1))
        return np.ones(reader.doc_count_all())
    # A zero byte only marks a document without the field, which has no posting to score; 1 keeps it finite.
    return np.maximum(found, 1).astype(np.float64)


def _sort_keys(reader, fieldname: str) -> np.ndarray:
    """Return a numeric column of a segment as int64 (or float64), kept like the postings."""
    return _kept(("sort", _segment_key(reader), fieldname), lambda: _read_sort_keys(reader, fieldname))


def _read_sort_keys(reader, fieldname: str) -> np.ndarray:
    stored = segments.numeric_column(reader, fieldname)
    return stored.astype(np.float64 if stored.dtype.kind == "f" else np.int64)


def _known(key: tuple):
    """Return ARRAYS[key] (None if not kept); raise TermNotFound if the segment is known to lack the term."""
    found = ARRAYS.get(key)
    if found is None and ABSENT.get(key) is not None:
        raise TermNotFound(key)
    return found


def _keeping() -> bool:
    """Return whether this process keeps segment arrays (a derived one is worth building only then)."""
    return ARRAYS.entries > 0 and ARRAYS.max_bytes > 0


def _noting_absence(key: tuple, read):
    """Return `read()`; if it raises TermNotFound, remember that the term of `key` is absent (unless nothing is kept)."""
    try:
        return read()
    except TermNotFound:
        if _keeping():
            ABSENT.put(key, True, size=_ABSENT_BYTES)
        raise


def _kept(key: tuple, read):
    """Return ARRAYS[key], or what `read()` returns, kept there unless None (segments never change).

    A term the segment lacks is remembered (in ABSENT), and raises TermNotFound again without a lookup:
    a prefix's or a misspelling's expansions are mostly words a given segment lacks (`aero*`
    looked up ~120 of them a search, ~15 us each in the segment's term table).
    """
    found = _known(key)
    if found is None:
        found = _noting_absence(key, read)
        if found is not None:
            arrays = found if isinstance(found, tuple) else (found,)
            ARRAYS.put(key, found, size=sum(array.nbytes for array in arrays) + 200)
    return found
