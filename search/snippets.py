"""Highlighting and bleach sanitising, side by side, nowhere else.

The search returns each snippet as data (its text and the spans to mark); to_html() here
is the one place that turns one into HTML: escaped text, <mark> around the matches, and
bleach with the <mark>-only allowlist after it. Matches are found by analysing the text with the document's own language
analyzer, so `relocating` is marked for a query `relocate`, and a phrase is
marked as one span. To stay fast on documents of megabytes, only the windows
around cheap substring hits of each stem are analysed.
"""

from __future__ import annotations

import html
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

import bleach
import bleach.sanitizer

from search import cache
from search.analysis import language_analyzer
from search.fastanalysis import compile_analyzer

ALLOWED_TAGS = frozenset({"mark"})
FRAGMENT_CHARS = 220
MAX_FRAGMENTS = 3
WINDOW = 400  # characters analysed on each side of a candidate hit
# The document page analyses a text this long whole, every match marked (~0.04 s a 100,000
# characters); a longer one around MAX_WINDOWS of its matches, and the page says so if some are left.
FULL_HIGHLIGHT_CHARS = 2_000_000
MAX_WINDOWS = 200
# Marks on one page at most: each costs the sanitiser, and a text of one word repeated (285,713
# marks) took 7.6 s a view. The first ones are marked, and the page says more are left.
MAX_MARKS = 10_000
SNIPPET_WINDOWS = 12  # of them, to choose a result's passages: enough to find three good ones
DENSE_HITS = 4  # a word found more than this many times its share of the windows is on nearly every line
DENSE_WINDOWS = 4  # windows such a word gets for a snippet: one more than the passages shown
# Characters on each side of such a word's window: it fills any window, so one passage's worth.
DENSE_WINDOW = FRAGMENT_CHARS
CANDIDATES_PER_WORD = 8  # fragments weighed around each matched word's occurrences, spread over them
ELLIPSIS = "…"
SENTENCE_END = re.compile(r"[.!?…]\s|\n")
# Where a sentence begins: after end punctuation (and any closing quotes) and space.
SENTENCE_START = re.compile(r"[.!?…][\"”’»)\]]*\s+|\n+")


@dataclass(frozen=True)
class MatchTerms:
    """The stems and phrases (per language) that a result should have highlighted."""

    terms: dict[str, set[str]]
    phrases: dict[str, set[tuple[str, ...]]]


@dataclass(frozen=True)
class Snippet:
    """Passages of a document's text and the spans in them that match the query."""

    text: str  # plain text, with "…" where the document's text is left out
    marks: tuple[tuple[int, int], ...] = ()  # the matches shown, as (start, end) spans of `text`
    matches: tuple[tuple[int, int], ...] = ()  # the matches wholly shown, as spans of the document's text
    partial: bool = False  # the text was too long to look for every match: some may be unmarked


_cleaners = threading.local()


def sanitize(markup: str) -> str:
    """Return `markup` with every tag but <mark> escaped or removed."""
    # bleach.clean() builds a Cleaner (an html5lib parser) per call, which cost more than the
    # cleaning; a Cleaner is reusable but not thread-safe, so each thread keeps its own.
    cleaner = getattr(_cleaners, "cleaner", None)
    if cleaner is None:
        cleaner = _cleaners.cleaner = bleach.sanitizer.Cleaner(tags=ALLOWED_TAGS, attributes={}, strip=True)
    return cleaner.clean(markup)


def _needles(terms: set[str], phrases: set[tuple[str, ...]]) -> set[str]:
    # A stem's first letters are nearly always a prefix of the surface word
    # ("happi" <- "happy"), so a short prefix finds every candidate cheaply.
    words = set(terms) | {word for phrase in phrases for word in phrase}
    return {word[: max(2, min(len(word) - 1, 4))] for word in words if word}


def _windows(text: str, needles: set[str], most: int, dense: int | None = None) -> tuple[list[tuple[int, int]], bool]:
    """Return the regions of `text` to analyse: around up to `most` occurrences of the needles, shared between them.

    A needle found more than DENSE_HITS times its share of the windows gets only `dense` of them
    (when given): a word on nearly every line ("the") fills any window, and the three best
    passages of a result are among a few of them. Also return whether every occurrence is in a region.
    """
    if len(text) <= 2 * WINDOW:
        return [(0, len(text))], True
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lowercased
        return [(0, len(text))], True
    every = True
    # Each needle gets its share of the windows, spread over its occurrences, so a rare word's
    # one occurrence is analysed even when a common word ("the") occurs on every line.
    share = max(1, most // max(1, len(needles)))
    hits = []  # (where, characters analysed on each side)
    for needle in needles:
        found = []
        around = WINDOW
        start = lowered.find(needle)
        while start != -1 and len(found) <= DENSE_HITS * share:
            found.append(start)
            start = lowered.find(needle, start + len(needle))
        if start != -1:
            # Many more: the first occurrence after each of evenly spaced points of the text,
            # found without walking them all (a long document's every "the" was thousands of finds).
            take = min(share, dense or share)
            step = len(lowered) / take
            found = sorted({lowered.find(needle, int(i * step)) for i in range(take)} - {-1})
            around = DENSE_WINDOW if dense else WINDOW
            every = False
        elif len(found) > share:
            step = len(found) / share
            found = [found[int(i * step)] for i in range(share)]
            every = False
        hits += [(hit, around) for hit in found]
    hits.sort()
    windows: list[tuple[int, int]] = []
    for hit, around in hits:
        start, end = max(0, hit - around), min(len(text), hit + around)
        # Begin and end on whitespace so no word is cut in half.
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < len(text) and not text[end].isspace():
            end += 1
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
    return windows, every


def find_matches(
    text: str, lang: str, match: MatchTerms, windows: int | None = MAX_WINDOWS, dense: int | None = None
) -> tuple[list[tuple[int, int]], bool]:
    """Return the (start, end) character spans of the term and phrase matches in `text`, and whether they are all.

    A long text is analysed only around `windows` occurrences of the query's words' beginnings
    (shared between the words, spread over the text; `dense`: see _windows); None: the whole text.
    """
    terms = match.terms.get(lang, set())
    phrases = match.phrases.get(lang, set())
    if not terms and not phrases:
        return [], True
    analyzer = language_analyzer(lang)
    compiled = compile_analyzer(analyzer)
    heads = terms.union(phrase[0] for phrase in phrases)  # the words a match can start with
    spans: list[tuple[int, int]] = []
    if windows is None:
        regions, every = [(0, len(text))], True
    else:
        regions, every = _windows(text, _needles(terms, phrases), windows, dense)
    for start, end in regions:
        if compiled is not None:
            words, firsts, lasts = compiled.located(text[start:end])
        else:
            # Whoosh yields one Token object, changed in place: each token's values are read as it comes.
            tokens = [(t.text, t.startchar, t.endchar) for t in analyzer(text[start:end], chars=True)]
            words, firsts, lasts = zip(*tokens, strict=True) if tokens else ((), (), ())
        # Only the tokens a match can start at, picked in C: most of a window's words are neither.
        for i in compress(range(len(words)), map(heads.__contains__, words)):
            word = words[i]
            if word in terms:
                spans.append((firsts[i] + start, lasts[i] + start))
            for phrase in phrases:
                if phrase[0] == word and tuple(words[i : i + len(phrase)]) == phrase:
                    spans.append((firsts[i] + start, lasts[i + len(phrase) - 1] + start))
    return _merge(spans), every


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(set(spans)):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _fragment_bounds(text: str, first: int, last: int) -> tuple[int, int]:
    """Return a fragment around [first, last) cut at sentence or word boundaries."""
    room = max(0, FRAGMENT_CHARS - (last - first))
    lo = max(0, first - room // 3)
    boundaries = list(SENTENCE_START.finditer(text, max(0, lo - 60), first))
    if boundaries:
        start = boundaries[-1].end()
    else:
        start = lo
        while start > 0 and first - start < room and not text[start - 1].isspace():
            start -= 1
    end = max(last, min(len(text), start + FRAGMENT_CHARS))
    found = SENTENCE_END.search(text, max(end - 40, last), min(len(text), end + 40))
    if found:
        end = found.start() + 1
    else:
        limit = min(len(text), end + 30)
        while end < limit and not text[end].isspace():
            end += 1
    while start < first and text[start].isspace():
        start += 1
    return start, end


def _content_bounds(text: str) -> tuple[int, int]:
    """Return where the text's first non-space character is and where its last one ends."""
    head, tail = 0, len(text)
    while head < tail and text[head].isspace():
        head += 1
    while tail > head and text[tail - 1].isspace():
        tail -= 1
    return head, tail


def _fragment(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """Return text[start:end] without its outer whitespace, and the spans in it (cut to it), relative to it."""
    inside = [(max(first, start), min(last, end)) for first, last in spans if last > start and first < end]
    # Whitespace inside a mark stays (a phrase cut at the fragment's edge).
    lo, hi = start, end
    while lo < (inside[0][0] if inside else end) and text[lo].isspace():
        lo += 1
    while hi > (inside[-1][1] if inside else lo) and text[hi - 1].isspace():
        hi -= 1
    return text[lo:hi], [(first - lo, last - lo) for first, last in inside]


def _candidates(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int, int, int, int]]:
    """Return a fragment around each span, as (distinct words shown, matches, -start, start, end), the best largest."""
    # The spans are sorted and apart, so their ends are sorted too, and those wholly inside a
    # fragment are a run of them, found by bisection: a word on every line of a long document
    # (`the`) has thousands of spans, and testing each against each took most of a search's time.
    starts = [first for first, _ in spans]
    ends = [last for _, last in spans]
    words = [text[a:b].lower() for a, b in spans]
    # Fragments around a few of each word's matches: a word on every line would otherwise
    # have a fragment weighed around each of its hundreds of matches, all much alike.
    where: dict[str, list[int]] = {}
    for number, word in enumerate(words):
        where.setdefault(word, []).append(number)
    around = []
    for numbers in where.values():
        step = max(1.0, len(numbers) / CANDIDATES_PER_WORD)
        around += [numbers[int(i * step)] for i in range(min(len(numbers), CANDIDATES_PER_WORD))]
    # The query words a span shows: a phrase's span ("The Who") shows each of its words, so a
    # passage holding the phrase outranks one holding only its commonest word many times.
    shown = [word.split() for word in words]
    candidates = []
    for first, last in (spans[number] for number in sorted(around)):
        start, end = _fragment_bounds(text, first, last)
        lo, hi = bisect_left(starts, start), bisect_right(ends, end)
        distinct = {part for parts in shown[lo:hi] for part in parts}
        candidates.append((len(distinct), max(0, hi - lo), -start, start, end))
    return candidates


def snippet(text: str, lang: str, match: MatchTerms) -> Snippet:
    """Return the best passages of `text`, with every match in them, as data (see to_html)."""
    spans, _ = find_matches(text, lang, match, SNIPPET_WINDOWS, DENSE_WINDOWS)
    head, tail = _content_bounds(text)  # an ellipsis only where text is left out, not whitespace
    if not spans:
        end = len(text) if len(text) <= FRAGMENT_CHARS else _fragment_bounds(text, 0, 0)[1]
        return Snippet(text[:end].strip() + (ELLIPSIS if end < tail else ""))
    if tail - head <= FRAGMENT_CHARS:  # a text no longer than a passage is shown whole, not a line of it
        fragment, inside = _fragment(text, head, tail, spans)
        return Snippet(fragment, tuple(inside), tuple(spans))
    # Score a fragment around each match by the distinct words it covers, then hits.
    candidates = _candidates(text, spans)
    chosen: list[tuple[int, int]] = []
    for *_, start, end in sorted(candidates, reverse=True):
        if all(end <= a or start >= b for a, b in chosen):
            chosen.append((start, end))
        if len(chosen) == MAX_FRAGMENTS:
            break
    chosen.sort()
    parts: list[str] = []
    marks: list[tuple[int, int]] = []
    length = 0
    for number, (start, end) in enumerate(chosen):
        fragment, inside = _fragment(text, start, end, spans)
        # An ellipsis where text is left out, one between two fragments, none doubling the text's own.
        if number:
            gap = " " + ELLIPSIS + " "
        else:
            gap = ELLIPSIS + " " if start > head and not fragment.startswith(ELLIPSIS) else ""
        length += len(gap)
        marks.extend((first + length, last + length) for first, last in inside)
        parts += [gap, fragment]
        length += len(fragment)
    if chosen[-1][1] < tail and not parts[-1].endswith(ELLIPSIS):
        parts.append(" " + ELLIPSIS)
    shown = tuple((a, b) for a, b in spans if any(s <= a and b <= e for s, e in chosen))
    return Snippet("".join(parts), tuple(marks), shown)


def highlight_all(text: str, lang: str, match: MatchTerms) -> Snippet:
    """Return the whole of `text` with every match in it, as data (see to_html).

    A text longer than FULL_HIGHLIGHT_CHARS is analysed around MAX_WINDOWS of its matches, and at
    most MAX_MARKS are marked: `partial` says when some are left.
    """
    found, every = find_matches(text, lang, match, None if len(text) <= FULL_HIGHLIGHT_CHARS else MAX_WINDOWS)
    spans = tuple(found[:MAX_MARKS])
    return Snippet(text, spans, spans, partial=not every or len(found) > MAX_MARKS)


# Bleach costs about a millisecond a call, most of it the same whatever the length (an html5lib
# parser, tree walker and serializer per call), so a page's snippets are cleaned in one call, joined
# by SPLIT (which bleach leaves as it is) and cut apart again. A page served from the result cache
# renders the same snippets again, so their HTML is kept (a Snippet is immutable and hashable).
SPLIT = "|~seedsearch-split~|"
_HTML = cache.ResultCache(entries=2048, max_bytes=4 * 1024 * 1024)


def _markup(found: Snippet) -> str:
    """Return `found` as HTML before sanitising: its text escaped, every mark in <mark>."""
    parts, cursor = [], 0
    for first, last in found.marks:
        parts.append(html.escape(found.text[cursor:first]))
        parts.append("<mark>" + html.escape(found.text[first:last]) + "</mark>")
        cursor = last
    parts.append(html.escape(found.text[cursor:]))
    return "".join(parts)


def to_html(found: Snippet) -> str:
    """Return `found` as sanitised HTML: its text escaped, every mark in <mark>."""
    return page_html([found])[0]


def page_html(page: Sequence[Snippet]) -> list[str]:
    """Return each snippet of `page` as to_html does, sanitising them all in one bleach call."""
    out: list[str | None] = [_HTML.get(found) for found in page]
    todo = [i for i, done in enumerate(out) if done is None]
    if not todo:
        return out  # type: ignore[return-value]
    markups = [_markup(page[i]) for i in todo]
    cleaned = None
    # Each piece is escaped text with balanced <mark>s, so the parser's state is the same at every
    # join and cleaning the whole equals cleaning the pieces (tests/test_snippets.py checks it).
    if len(markups) > 1 and not any(SPLIT in markup for markup in markups):
        cleaned = sanitize(SPLIT.join(markups)).split(SPLIT)
    if cleaned is None or len(cleaned) != len(markups):
        cleaned = [sanitize(markup) for markup in markups]
    for i, markup in zip(todo, cleaned, strict=True):
        out[i] = markup
        _HTML.put(page[i], markup, size=2 * len(markup) + 2 * len(page[i].text) + 200)
    return out  # type: ignore[return-value]
