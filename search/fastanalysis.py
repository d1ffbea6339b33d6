"""Run Whoosh analyzers made of known parts as a few list operations, with the same output.

Whoosh runs every token through a chain of generators, one per filter; for the
analyzers Seedsearch builds (RegexTokenizer, LowercaseFilter, StemFilter,
CharsetFilter) that chain is most of the cost of indexing and of finding matches
for snippets. Each of those filters maps one word to one word, so the whole chain
is one function of the token, which is cached, and a token's position is its
number in the text.

`compile_analyzer` returns None for an analyzer with any other part (a StopFilter,
which every word being indexed made unused, drops words and renumbers positions),
and the caller uses the analyzer itself. Tests compare the two on every analyzer
in the schema, on generated text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from itertools import accumulate

from whoosh.analysis import CharsetFilter, CompositeAnalyzer, Filter, LowercaseFilter, RegexTokenizer, StemFilter


class WordFilter(Filter):
    """A filter that maps each token's text to one text (`word`), in place: compiled as one more step."""

    def word(self, text: str) -> str:
        raise NotImplementedError

    def __call__(self, tokens):
        word = self.word
        for token in tokens:
            token.text = word(token.text)
            yield token


TERM_CACHE_SIZE = 200_000  # distinct tokens remembered per analyzer before the cache starts over


class CompiledAnalyzer:
    """An analyzer chain as one cached function of the token."""

    def __init__(self, pattern, steps: list[Callable[[str], str]]):
        self.pattern = pattern.pattern  # analyzers with the same pattern split a text into the same tokens
        self.tokens = pattern.findall
        # The text split around its tokens, tokens kept (a token pattern has no group of its own and
        # matches no empty text): every other part is a token, and the parts' lengths add up to offsets.
        self._split = re.compile(f"({pattern.pattern})", pattern.flags).split
        self._steps = steps
        self._cache: dict[str, str] = {}

    def _term(self, token: str) -> str:
        word = token
        for step in self._steps:
            word = step(word)
        if len(self._cache) >= TERM_CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = word
        return word

    def term(self, token: str) -> str:
        """Return the term of one of this analyzer's tokens."""
        found = self._cache.get(token)
        return self._term(token) if found is None else found

    def words(self, text: str) -> list[str]:
        """Return the terms the analyzer indexes for `text`, in order (a term's position is its place)."""
        return self.terms(self.tokens(text))

    def terms(self, tokens: list[str]) -> list[str]:
        """Return the terms of `tokens` (this analyzer's tokens of a text), in order."""
        terms = list(map(self._cache.get, tokens))
        if None in terms:
            terms = [self._term(token) if found is None else found for token, found in zip(tokens, terms, strict=True)]
        return terms

    def located(self, text: str) -> tuple[list[str], list[int], list[int]]:
        """Return the terms of `text`'s tokens, in order, with each token's startchar and endchar."""
        # List operations rather than a loop over matches: for a page of ten snippets of a word in
        # every sentence ("the"), this is most of a search's time.
        parts = self._split(text)
        offsets = list(accumulate(map(len, parts)))
        return self.terms(parts[1::2]), offsets[0:-1:2], offsets[1::2]


def _translate(charmap) -> Callable[[str], str]:
    def step(word: str) -> str:
        return word.translate(charmap)

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
    expression = tokenizer.expression if type(tokenizer) is RegexTokenizer else None
    # Patterns of whole tokens only: no groups (findall), no empty token (splitting around them).
    if expression is None or tokenizer.gaps or expression.groups or expression.search("") is not None:
        return None
    steps: list[Callable[[str], str]] = []
    for item in items[1:]:
        kind = type(item)
        if kind is LowercaseFilter:
            steps.append(str.lower)
        elif kind is CharsetFilter:
            steps.append(_translate(item.charmap))
        elif kind is StemFilter:
            steps.append(_stem(item))
        elif isinstance(item, WordFilter):
            steps.append(item.word)
        else:
            return None
    return CompiledAnalyzer(expression, steps)


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
