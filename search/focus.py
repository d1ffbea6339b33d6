"""Focus a natural-language query: its common words, its words in a long paste, its neighbouring pairs."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

from whoosh import query
from whoosh.lang import has_stopwords, stopwords_for_language

from search import ranking
from search.analysis import word_analyzer

MAX_QUERY_TERMS = 64  # words a long query is ranked by (Lucene's MoreLikeThis takes 25; more measured better)
MAX_PAIRS = 10  # neighbouring pairs a query may rank by (query.PROXIMITY_WEIGHT); more is a pasted paragraph


@functools.cache
def stop_words(langs: tuple[str, ...]) -> frozenset[str]:
    """Return the stop words of `langs` that carry no meaning on their own (one-letter words carry some)."""
    words: set[str] = set()
    for lang in langs:
        if has_stopwords(lang):
            words.update(word for word in stopwords_for_language(lang) if len(word) > 1)
    return frozenset(words)


def focus(q: query.Query, reader, langs: Iterable[str]) -> tuple[query.Query, list[str] | None]:
    """Return the words of a natural-language query that rank it, and the words kept when some were dropped.

    Every word is indexed, and a query made only of common words ("the who", "to be or not
    to be") is answered with them. When a query has other words too, its common words (the
    stop words of the index's languages) are left out of the ranking: measured on six test
    collections they only add noise. A query of more than MAX_QUERY_TERMS words (a pasted
    paragraph) keeps its most informative ones, as Lucene's MoreLikeThis picks them: the
    most frequent in the query, times the rarest in the index.
    """
    if not isinstance(q, ranking.Coordinated):
        return q, None
    stops = stop_words(tuple(langs))
    words = [sub for sub in q.subqueries if type(sub) is query.Term]
    others = [sub for sub in q.subqueries if type(sub) is not query.Term]
    content = [sub for sub in words if sub.text not in stops]
    if content or others:
        words = content
    if len(words) + len(others) <= MAX_QUERY_TERMS:
        return ranking.Coordinated(others + words, boost=q.boost).normalize(), None
    documents = reader.doc_count() or 1

    def informative(term: query.Term) -> float:
        found = reader.doc_frequency("words", term.text)
        return term.boost * math.log(1 + documents / found) if found else 0.0

    chosen = sorted(words, key=informative, reverse=True)[: max(0, MAX_QUERY_TERMS - len(others))]
    chosen = [term for term in chosen if informative(term) > 0] or chosen[:1]
    kept = {term.text for term in chosen}
    return ranking.Coordinated(others + chosen, boost=q.boost).normalize(), [
        term.text for term in words if term.text in kept
    ]


def pairs(text: str, q: query.Query) -> list[query.Phrase]:
    """Return the query's neighbouring words (as typed, both ranked by `q`) as two-word phrases, at most MAX_PAIRS."""
    if not isinstance(q, ranking.Coordinated):
        return []
    ranked = {sub.text for sub in q.subqueries if type(sub) is query.Term}
    tokens = [token.text for token in word_analyzer()(text)]
    found: dict[tuple[str, str], None] = {}
    for first, second in zip(tokens, tokens[1:], strict=False):
        if first in ranked and second in ranked and first != second:
            found[(first, second)] = None
    if len(found) > MAX_PAIRS:
        return []  # a pasted paragraph, not a phrase-like query: its neighbours say little
    return [query.Phrase("text", list(pair)) for pair in found]
