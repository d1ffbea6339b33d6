"""The query mix bench.perf times: fixed for the default source (Cranfield), derived for any other.

The fixed mix was picked by hand from the Cranfield-made corpus's vocabulary. A corpus made from
another collection shares few of its words: its "common words" would match nothing, and every
query would time a search that finds nothing (relaxed to close spellings, with a suggestion)
against SQLite FTS5 finding nothing at once. So for another source the mix is derived from the
source's sentences by the same rules the hand-picked one follows, by how many sentences hold each
word (the corpus's documents are made of those sentences): the commonest content words, words of
middling and of rare frequency, the commonest pairs of content words (as phrases, and as two
words), prefixes of frequent words, and the commonest stop words and phrases of them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from whoosh.lang import has_stopwords, stopwords_for_language

from search.analysis import detect_language

# A fixed mix, four queries of each kind, chosen from the generated corpus's vocabulary
# (document frequencies at 100k in brackets). Every word is indexed, stop words included, so
# the mix has words in nearly every document and phrases made of them: the longest posting lists.
CRANFIELD_MIX: dict[str, list[str]] = {
    "common word": ["flow", "pressure", "boundary", "supersonic"],  # 46k-82k
    "mid word": ["orbit", "fuel", "hydrodynamic", "propellant"],  # 2k-14k
    "rare word": ["aeroballistics", "glycerin", "whisker", "ellipsoid"],  # ~200
    "two words": ["heat transfer", "shock wave", "wing flutter", "orbit fuel"],
    "phrase": ['"boundary layer"', '"mach number"', '"skin friction"', '"heat transfer"'],
    "prefix": ["compress*", "turbul*", "hyperson*", "aero*"],
    "stop words": ["the", "of the", "is a", "to be or not to be"],  # "the", "of", "a", "is": ~all
    "stop phrase": ['"of the"', '"the boundary layer"', '"in the"', '"it is"'],
}
KINDS = tuple(CRANFIELD_MIX)
PER_KIND = 4
# Sentences holding a "mid" word: a document of ~10 sentences then holds it 2-14% of the time, as
# the hand-picked mid words; a "rare" word is in a few sentences only (~0.2% of the documents).
MID_SHARE = (0.002, 0.015)
RARE_SENTENCES = (2, 6)
STOP_FALLBACK = 30  # without a stop list for the source's language: its commonest words are its stop words
WORD = re.compile(r"[^\W\d_]+")


def derive(sentences: list[str]) -> dict[str, list[str]]:
    """Return a query mix for a corpus made of `sentences`: up to four queries of each kind it has words for."""
    tokenised = [WORD.findall(sentence.lower()) for sentence in sentences]
    words = Counter(word for tokens in tokenised for word in set(tokens))
    pairs = Counter(pair for tokens in tokenised for pair in set(zip(tokens, tokens[1:], strict=False)))
    lang = detect_language(" ".join(sentences[:200]))
    # The language's stop words as written (the sentences are not stemmed), else its commonest words.
    stop = set(stopwords_for_language(lang)) if has_stopwords(lang) else set()
    stop = stop or {word for word, _ in words.most_common(STOP_FALLBACK)}

    def content(word: str) -> bool:
        return word not in stop and len(word) >= 3

    ranked = [word for word, _ in words.most_common() if content(word)]
    low, high = (share * len(sentences) for share in MID_SHARE)
    mid = [word for word in ranked if low <= words[word] <= high and len(word) >= 4]
    rare = [word for word in ranked if RARE_SENTENCES[0] <= words[word] <= RARE_SENTENCES[1] and len(word) >= 6]
    content_pairs = [" ".join(pair) for pair, _ in pairs.most_common() if all(map(content, pair))]
    stop_pairs = [" ".join(pair) for pair, _ in pairs.most_common() if all(word in stop for word in pair)]
    stop_words = [word for word, _ in words.most_common() if word in stop]
    # The beginnings of frequent long words (not a stop word: `with*`), each once: they match many words.
    prefixes = [word[: max(4, len(word) - 3)] for word in ranked[: 50 * PER_KIND] if len(word) >= 7]
    prefixes = [stem for stem in dict.fromkeys(prefixes) if stem not in stop]
    mix = {
        "common word": ranked[:PER_KIND],
        "mid word": _spread(mid, PER_KIND),
        "rare word": _spread(rare, PER_KIND),
        "two words": content_pairs[PER_KIND : 2 * PER_KIND - 1] + [" ".join(_spread(mid, 2))],
        "phrase": [f'"{pair}"' for pair in content_pairs[:PER_KIND]],
        "prefix": [f"{stem}*" for stem in _spread(prefixes, PER_KIND)],
        "stop words": stop_words[:1] + stop_pairs[:2] + _stop_word_run(tokenised, stop)[:1],
        "stop phrase": [f'"{pair}"' for pair in stop_pairs[:1]]
        + [f'"{phrase}"' for phrase in _led_by_stop_word(tokenised, content_pairs[:1], stop)]
        + [f'"{pair}"' for pair in stop_pairs[1:3]],
    }
    # A kind the collection has nothing for (no rare words in a small one) is left out, not timed empty.
    return {kind: kept for kind, queries in mix.items() if (kept := _distinct(queries)[:PER_KIND])}


def _spread(items: list[str], count: int) -> list[str]:
    """Return `count` of `items` evenly spread over the list (all of them if there are fewer)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _led_by_stop_word(tokenised: Iterable[list[str]], pairs: list[str], stop: set[str]) -> list[str]:
    """Return the first of `pairs` with the stop word that most often comes before it (`the boundary layer`), if any."""
    if not pairs:
        return []
    first, second = pairs[0].split(" ")
    before: Counter[str] = Counter(
        tokens[i - 1]
        for tokens in tokenised
        for i in range(1, len(tokens) - 1)
        if tokens[i] == first and tokens[i + 1] == second and tokens[i - 1] in stop
    )
    return [f"{word} {pairs[0]}" for word, _ in before.most_common(1)]


def _stop_word_run(tokenised: Iterable[list[str]], stop: set[str]) -> list[str]:
    """Return the commonest run of four to six stop words in a row (a phrase like `to be or not to be`), if any."""
    runs: Counter[str] = Counter()
    for tokens in tokenised:
        start = 0
        for end in range(len(tokens) + 1):
            if end == len(tokens) or tokens[end] not in stop:
                if 4 <= end - start <= 6:
                    runs[" ".join(tokens[start:end])] += 1
                start = end + 1
    return [run for run, _ in runs.most_common(1)]


def _distinct(queries: list[str]) -> list[str]:
    return [q for q in dict.fromkeys(queries) if q.strip('"* ')]
