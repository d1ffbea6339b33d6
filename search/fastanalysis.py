"""Run Whoosh analyzers made of known parts as a few list operations, with the same output.

Whoosh runs every token through a chain of generators, one per filter; for the
analyzers Seedsearch builds (RegexTokenizer, LowercaseFilter, StopFilter,
StemFilter, CharsetFilter) that chain is most of the cost of indexing and of
finding matches for snippets. Each of those filters maps or drops one word at a
time, so the whole chain is one function of the token, which is cached; only
StopFilter's renumbering of positions looks at neighbours.

`compile_analyzer` returns None for an analyzer with any other part, and the
caller uses the analyzer itself. Tests compare the two on every analyzer in the
schema, on generated text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from whoosh.analysis import CharsetFilter, CompositeAnalyzer, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter

TERM_CACHE_SIZE = 200_000  # distinct tokens remembered per analyzer before the cache starts over
STOPPED = False  # the cached value of a token the chain drops


class CompiledAnalyzer:
    """An analyzer chain as one cached function of the token."""

    def __init__(self, pattern, steps: list[Callable[[str], str | None]], stop_renumbers: bool | None):
        self._findall = pattern.findall
        self._finditer = pattern.finditer
        self._steps = steps
        # None: no StopFilter; else whether it renumbers the positions of the tokens it keeps.
        self._stop_renumbers = stop_renumbers
        self._cache: dict[str, str | bool] = {}

    def _term(self, token: str) -> str | bool:
        word: str | None = token
        for step in self._steps:
            word = step(word)
            if word is None:
                break
        if len(self._cache) >= TERM_CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = result = STOPPED if word is None else word
        return result

    def terms(self, text: str) -> tuple[list[str], list[int]]:
        """Return the terms the analyzer indexes for `text`, and their positions."""
        tokens = self._findall(text)
        terms = list(map(self._cache.get, tokens))
        if None in terms:
            terms = [self._term(token) if found is None else found for token, found in zip(tokens, terms, strict=True)]
        if self._stop_renumbers is None:
            return terms, list(range(len(terms)))
        words = [found for found in terms if found is not STOPPED]
        if not self._stop_renumbers:
            return words, [i for i, found in enumerate(terms) if found is not STOPPED]
        # StopFilter numbers the tokens it lets through on from the first one's position.
        first = next((i for i, found in enumerate(terms) if found is not STOPPED), 0)
        return words, list(range(first, first + len(words)))

    def spans(self, text: str) -> list[tuple[str, int, int]]:
        """Return (term, startchar, endchar) for each token the analyzer keeps, in order."""
        get, out = self._cache.get, []
        for match in self._finditer(text):
            token = match.group()
            found = get(token)
            if found is None:
                found = self._term(token)
            if found is not STOPPED:
                out.append((found, match.start(), match.end()))
        return out


def _translate(charmap) -> Callable[[str], str]:
    def step(word: str) -> str:
        return word.translate(charmap)

    return step


def _stop(stops: frozenset, minsize: int, maxsize: int | None) -> Callable[[str], str | None]:
    def step(word: str) -> str | None:
        if len(word) >= minsize and (maxsize is None or len(word) <= maxsize) and word not in stops:
            return word
        return None

    return step


def _stem(item: StemFilter) -> Callable[[str], str]:
    if item.lang:
        from whoosh.lang import stemmer_for_language

        stemfn = stemmer_for_language(item.lang)
    else:
        stemfn = item.stemfn
    ignore = item.ignore

    def step(word: str) -> str:
        return word if word in ignore else stemfn(word)

    return step


def _compile(analyzer) -> CompiledAnalyzer | None:
    items = list(analyzer.items) if isinstance(analyzer, CompositeAnalyzer) else [analyzer]
    tokenizer = items[0]
    if type(tokenizer) is not RegexTokenizer or tokenizer.gaps or tokenizer.expression.groups:
        return None
    stop_filters = [item for item in items[1:] if type(item) is StopFilter]
    if len(stop_filters) > 1:
        return None
    steps: list[Callable[[str], str | None]] = []
    for item in items[1:]:
        kind = type(item)
        if kind is LowercaseFilter:
            steps.append(str.lower)
        elif kind is CharsetFilter:
            steps.append(_translate(item.charmap))
        elif kind is StopFilter:
            steps.append(_stop(item.stops, item.min, item.max))
        elif kind is StemFilter:
            steps.append(_stem(item))
        else:
            return None
    return CompiledAnalyzer(tokenizer.expression, steps, stop_filters[0].renumber if stop_filters else None)


_compiled: dict[int, tuple[object, CompiledAnalyzer | None]] = {}
_compiled_lock = threading.Lock()


def compile_analyzer(analyzer) -> CompiledAnalyzer | None:
    """Return the compiled form of `analyzer` (made once per analyzer), or None if it has unknown parts."""
    with _compiled_lock:
        found = _compiled.get(id(analyzer))
        if found is None or found[0] is not analyzer:
            # Keep the analyzer alive with its entry, so its id is not reused.
            found = _compiled[id(analyzer)] = (analyzer, _compile(analyzer))
        return found[1]
