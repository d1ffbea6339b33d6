"""Focus a natural-language query: its common words, its words in a long paste, its neighbouring pairs."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

from whoosh import query
from whoosh.lang import has_stopwords, stopwords_for_language

from search import ranking
from search.analysis import word_analyzer
from search.parsing import SplitWord

MAX_QUERY_TERMS = 64  # words a long query is ranked by (Lucene's MoreLikeThis takes 25; more measured better)
MAX_QUERY_SPLIT_WORDS = 8  # of those, split words (matched as phrases: their positions are read); more cost seconds
MAX_PAIRS = 10  # neighbouring pairs a query may rank by (query.PROXIMITY_WEIGHT); more is a pasted paragraph


@functools.cache
def stop_words(langs: tuple[str, ...]) -> frozenset[str]:
    """Return the stop words of `langs` that carry no meaning on their own (one-letter words carry some)."""
    words: set[str] = set()
    for lang in langs:
        if has_stopwords(lang):
            words.update(word for word in stopwords_for_language(lang) if len(word) > 1)
    return frozenset(words)


@functools.cache
def letter_stop_words(langs: tuple[str, ...]) -> frozenset[str]:
    """Return the one-letter stop words of `langs` ("a", "i"): a name's letter after a word, else common words."""
    words: set[str] = set()
    for lang in langs:
        if has_stopwords(lang):
            words.update(word for word in stopwords_for_language(lang) if len(word) == 1)
    return frozenset(words)


def _unnamed_letters(text: str, langs: tuple[str, ...]) -> set[str]:
    """Return the one-letter stop words of `text` that never follow a word of meaning ("a volcano", "I am").

    After one ("vitamin a", "hepatitis a", "world war i") the letter names something, and is kept;
    so it is in a query without such words.
    """
    letters, stops = letter_stop_words(langs), stop_words(langs)
    if not letters:
        return set()
    tokens = [token.text for token in word_analyzer()(text)]
    if not any(len(token) > 1 and token not in stops for token in tokens):
        return set()  # letters among letters ("a - b"): nothing says which are names
    naming = {
        second for first, second in zip(tokens, tokens[1:], strict=False) if len(first) > 1 and first not in stops
    }
    return {token for token in tokens if token in letters} - naming


def focus(
    q: query.Query, reader, langs: Iterable[str], text: str = "", visible=None
) -> tuple[query.Query, list[str] | None]:
    """Return the words of a natural-language query that rank it, and the words kept when some were dropped.

    Every word is indexed, and a query made only of common words ("the who", "to be or not
    to be") is answered with them. When a query has other words too, its common words (the
    stop words of the index's languages) are left out of the ranking: measured on six test
    collections they only add noise. A query of more than MAX_QUERY_TERMS words (a pasted
    paragraph) keeps its most informative ones, as Lucene's MoreLikeThis picks them: the
    most frequent in the query, times the rarest in the index. Its split words (`free-stream`,
    `IL-6`) compete for those places as specific as their rarest part, and at most
    MAX_QUERY_SPLIT_WORDS of them are kept: each is matched as a phrase, and fifteen of them
    made a pasted paragraph take seconds at 100k documents. What the query asks for with its
    own syntax (phrases, exclusions, patterns, groups) is kept whole, and takes none of the
    words' places. Both modes are focused: the default (Coordinated) and any (Or). Words are
    counted in the documents `visible` shows (a scope.Visible; None: every document), so the words
    kept never tell a key limited to some folders which words the others hold.
    """
    if type(q) not in (ranking.Coordinated, query.Or):
        return q, None
    group = type(q)
    stops = stop_words(tuple(langs)) | _unnamed_letters(text, tuple(langs))
    words = [sub for sub in q.subqueries if type(sub) is query.Term]
    split = [sub for sub in q.subqueries if type(sub) is SplitWord]
    others = [sub for sub in q.subqueries if type(sub) not in (query.Term, SplitWord)]
    content = [sub for sub in words if sub.text not in stops]
    # An exclusion asks for nothing: `the -quokka` is answered with "the", as `the` alone is.
    if content or split or any(not isinstance(sub, query.Not) for sub in others):
        words = content
    if len(words) + len(split) <= MAX_QUERY_TERMS:
        kept = [sub for sub in q.subqueries if type(sub) is not query.Term] + words
        return group(kept, boost=q.boost).normalize(), None
    documents = (reader.doc_count() if visible is None else visible.count()) or 1
    frequency = reader.doc_frequency if visible is None else visible.doc_frequency

    def rarity(word: str) -> float:
        found = frequency("words", word)
        return math.log(1 + documents / found) if found else 0.0

    # How informative each candidate is, looked up once: a split word is as specific as its rarest part.
    informative = {
        id(sub): sub.boost * (rarity(sub.text) if type(sub) is query.Term else max(map(rarity, sub.words), default=0.0))
        for sub in words + split
    }
    ranked = sorted(words + split, key=lambda sub: informative[id(sub)], reverse=True)
    # A split word is matched as a phrase, reading its parts' positions: a pasted paragraph keeps a few.
    chosen, phrases = [], 0
    for sub in ranked:
        if len(chosen) >= MAX_QUERY_TERMS:
            break
        if type(sub) is SplitWord:
            if phrases >= MAX_QUERY_SPLIT_WORDS:
                continue
            phrases += 1
        chosen.append(sub)
    chosen = [sub for sub in chosen if informative[id(sub)] > 0] or chosen[:1]
    kept = {id(sub) for sub in chosen}
    return group(others + chosen, boost=q.boost).normalize(), [
        _shown(sub, text) for sub in q.subqueries if id(sub) in kept
    ]


def _shown(sub: query.Term | SplitWord, text: str) -> str:
    """Return a chosen word as the page lists it: a split word as typed (`free-stream`), when known."""
    if type(sub) is query.Term:
        return sub.text
    start, end = getattr(sub, "startchar", None), getattr(sub, "endchar", None)
    typed = text[start:end] if start is not None and end is not None else ""
    return typed.lower() if typed.strip() else " ".join(sub.words)


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
