"""Spelling help: a correction for the words the index lacks, and completions of the last word typed."""

from __future__ import annotations

import contextlib
import re
from bisect import insort
from collections.abc import Callable, Iterator
from itertools import count, islice
from os.path import commonprefix

from whoosh import query
from whoosh.spelling import Corrector

from search import scope as scoping
from search.contract import MAX_COMPLETIONS
from search.deadline import Deadline
from search.errors import QueryError
from search.expansion import SCAN_CHECK_EVERY, close_words, folded_words, known, languages, prefix_frequencies
from search.parsing import MAX_FUZZY_CHARS, plain_terms
from search.searchers import Searchers

MAX_SUGGESTED_WORDS = 8  # misspelt words per query that get a correction
MAX_SUGGESTED_QUERY_WORDS = 12  # longer queries get no "did you mean"
WORDS = re.compile(r"\w+")
QUOTED = re.compile(r'"([^"]*)"')
NEGATED = re.compile(r"NOT\s*$")  # right before a phrase: it excludes (clean() makes -"..." NOT "...")
MAX_COMPLETION_SCAN = 2_000  # vocabulary a completion may walk; it must stay fast per keystroke
# Words a completion with few matches as typed may walk for those that match but for accents (the
# whole first letter: `αθη` -> *αθήνα*, `mun` -> *münchen*), about 5 ms.
MAX_FOLDED_WALK = 8_192
LAST_WORD = re.compile(r"\w+$")


def vocabulary(searcher, scope: scoping.Scope = scoping.EVERYTHING) -> Callable[[str], bool]:
    """Return a test of whether a typed word is in the documents `scope` shows (known())."""
    reader = searcher.reader()
    langs = languages(reader)
    visible = scoping.visible(searcher, scope)
    holds = visible.holds if visible is not None else None
    return lambda word: known(reader, word, langs, holds)


class VocabularyCorrector(Corrector):
    """Whoosh's ReaderCorrector over the `words` vocabulary, ranking by distance then `frequency("words", word)`, in C.

    The same words as Whoosh's reader over several segments (every word sharing the prefix within
    its damerau_levenshtein, which is rapidfuzz's optimal string alignment distance), measured in
    C: in Python that function was two thirds of a correction's time. A word counts only if
    `frequency` is above zero.
    """

    def __init__(self, reader, frequency: Callable[[str, str], int]):
        self.reader = reader
        self.frequency = frequency

    def _suggestions(self, text: str, maxdist: int, prefix: int) -> Iterator[tuple[float, str]]:
        from rapidfuzz.distance import OSA, Levenshtein  # here, not at start: 3.6 MB a worker may never use

        for word in close_words(self.reader, text, maxdist, prefix, OSA.distance):
            frequency = self.frequency("words", word) if word != text else 0  # never the word itself
            if frequency:
                # Higher is better: the closest words first (as Lucene's DirectSpellChecker ranks);
                # among those, the ones more of whose edits are two letters swapped, the commonest
                # slip (`teh` is *the*, not *ten*; `recieved` *receive*, not *reviewed*), then those
                # sharing more first letters, then the most frequent. Whoosh's ReaderCorrector scores
                # every word at `maxdist`, so by frequency alone: `recieve` was corrected to *receiver*.
                edits = OSA.distance(word, text)
                swaps = min(Levenshtein.distance(word, text) - edits, 9)
                shared = min(len(commonprefix((word, text))), 9)
                yield -edits + 0.1 * swaps + 0.01 * shared + 0.001 * (1 - 1 / frequency), word


def suggest(
    searcher,
    parsed: query.Query,
    text: str,
    deadline: Deadline,
    scope: scoping.Scope = scoping.EVERYTHING,
    typed: str | None = None,
) -> str | None:
    """Return the query with its unknown words replaced by the closest words `scope` shows, if any.

    `text` is the query as parsed (parsing.clean()); the suggestion is `typed`, the query as the
    user wrote it (`-spar` stays `-spar`, not clean()'s `NOT spar`), when given.
    """
    reader = searcher.reader()
    langs = languages(reader)
    corrector, holds = VocabularyCorrector(reader, reader.frequency), None
    if (visible := scoping.visible(searcher, scope)) is not None:
        # Only words the scope's documents hold, ranked by how many of them do.
        corrector, holds = VocabularyCorrector(reader, visible.doc_frequency), visible.holds
    if len(WORDS.findall(text)) > MAX_SUGGESTED_QUERY_WORDS:
        return None  # a pasted paragraph: correcting its rare words would only echo it back, changed
    replacements, tried = [], 0
    for word, start, end in _typed_words(parsed, text):
        if not 3 <= len(word) <= MAX_FUZZY_CHARS or not word.isalpha() or known(reader, word, langs, holds):
            continue
        # A suggestion is a nicety: past the deadline or a handful of words, go without.
        tried += 1
        if tried > MAX_SUGGESTED_WORDS or deadline.left() <= 0:
            return None
        found = corrector.suggest(word, limit=1, maxdist=1 if len(word) <= 4 else 2, prefix=1)
        if found:
            as_typed = text[start:end]
            replacement = found[0].capitalize() if as_typed[:1].isupper() else found[0]
            replacements.append((start, end, replacement))
    if not replacements:
        return None
    return _replaced(typed, text, replacements) if typed is not None else _replaced_at(text, replacements)


def _replaced_at(text: str, replacements: list[tuple[int, int, str]]) -> str:
    for start, end, replacement in sorted(replacements, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _replaced(typed: str, cleaned: str, replacements: list[tuple[int, int, str]]) -> str:
    """Return `typed` with the words at `replacements` (spans of `cleaned`) replaced.

    clean() changes marks, never letters: the n-th occurrence of a word in `cleaned` is its
    n-th occurrence in `typed`. Should that not hold, the suggestion is `cleaned`'s.
    """
    spans = []
    for start, end, replacement in replacements:
        word = re.compile(rf"(?<!\w){re.escape(cleaned[start:end])}(?!\w)")
        before = len(word.findall(cleaned, 0, start))
        found = list(word.finditer(typed))
        if before >= len(found):
            return _replaced_at(cleaned, replacements)
        spans.append((found[before].start(), found[before].end(), replacement))
    return _replaced_at(typed, spans)


def _typed_words(parsed: query.Query, text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (word, start, end) for the words of `text` to check: its plain terms, and the words of its phrases."""
    for term in plain_terms(parsed):
        start, end = getattr(term, "startchar", None), getattr(term, "endchar", None)
        if start is not None and end is not None and text[start:end].lower() == term.text:
            yield term.text, start, end
    # The parser keeps no offsets for a phrase: its words are found in the quoted text, and only
    # in a phrase that is searched for (not one after NOT, which clean() made of a leading -).
    wanted = {tuple(phrase.words) for phrase in _phrases(parsed)}
    for quoted in QUOTED.finditer(text):
        words = list(WORDS.finditer(quoted.group(1)))
        if tuple(word.group().lower() for word in words) not in wanted or NEGATED.search(text, 0, quoted.start()):
            continue
        for word in words:
            yield word.group().lower(), quoted.start(1) + word.start(), quoted.start(1) + word.end()


def _phrases(q: query.Query) -> Iterator[query.Phrase]:
    if isinstance(q, query.Not):
        return
    if isinstance(q, query.AndNot):
        yield from _phrases(q.a)
    elif isinstance(q, query.Phrase):
        yield q
    elif not q.is_leaf():
        for sub in q.children():
            yield from _phrases(sub)


def complete(
    searchers: Searchers,
    text: str,
    config: dict,
    limit: int = MAX_COMPLETIONS,
    scope: scoping.Scope = scoping.EVERYTHING,
) -> list[str]:
    """Return `text` with its last word completed from the index vocabulary, most frequent words first."""
    if len(text) > config["MAX_QUERY_CHARS"]:
        raise QueryError(f"the query is longer than {config['MAX_QUERY_CHARS']} characters")
    last = LAST_WORD.search(text)
    if last is None or len(last.group()) < 2:
        return []
    typed = last.group()
    prefix = typed.lower()
    searcher = searchers.get()
    reader = searcher.reader()
    candidates = prefix_frequencies(reader, prefix, MAX_COMPLETION_SCAN)
    if len(candidates) <= limit:  # few as typed: those that begin so but for accents too (`αθη`: *αθήνα*)
        for word in _folded_words(reader, prefix):
            candidates.setdefault(word, reader.doc_frequency("words", word))
    candidates.pop(prefix, None)
    words = _most_frequent(candidates, scoping.visible(searcher, scope), limit)
    # Upper case can make two words one (`straße`, `strasse`: STRASSE): each is offered once.
    return list(dict.fromkeys(text[: last.start()] + _cased(word, typed) for word in words))


class _WalkedEnough(Exception):
    pass


def _folded_words(reader, prefix: str) -> list[str]:
    """Return folded_words(reader, prefix), walking at most about MAX_FOLDED_WALK words (per keystroke)."""
    looks = count()

    def check() -> None:  # called every SCAN_CHECK_EVERY words walked
        if next(looks) * SCAN_CHECK_EVERY >= MAX_FOLDED_WALK:
            raise _WalkedEnough

    found: list[str] = []
    with contextlib.suppress(_WalkedEnough):
        found.extend(islice(folded_words(reader, prefix, check), MAX_COMPLETION_SCAN))
    return found


def _cased(word: str, typed: str) -> str:
    """Return a completion `word` (lowercase) in the case `typed` is in: "МОС" -> "МОСКВА", "Росс" -> "России"."""
    if len(typed) > 1 and typed.isupper():
        return word.upper()
    if typed[:1].isupper() and not any(letter.isupper() for letter in typed[1:]):
        return word[:1].upper() + word[1:]
    return word  # lowercase, or mixed ("wIn"): as the vocabulary has it


def _most_frequent(candidates: dict[str, int], visible: scoping.Visible | None, limit: int) -> list[str]:
    """Return the `limit` candidates in the most documents `visible` shows (all: None), most first, ties in order.

    A word is in no more of the shown documents than its frequency counts, so the words are
    counted in the order of those frequencies, and the counting stops once the next one could no
    longer reach the list: with few deletions that is after about `limit` words, where counting
    all of them read the postings of up to MAX_COMPLETION_SCAN words per keystroke.
    """
    by_frequency = sorted(candidates, key=lambda word: (-candidates[word], word))
    if visible is None:
        return by_frequency[:limit]
    best: list[tuple[int, str]] = []  # (-count, word), in the order returned
    for word in by_frequency:
        if len(best) == limit and candidates[word] < -best[-1][0]:
            break  # an equal count could still come first, by its spelling: only a smaller one stops
        count = visible.doc_frequency("words", word)
        if count > 0:
            insort(best, (-count, word))
            del best[limit:]
    return [word for _, word in best]
