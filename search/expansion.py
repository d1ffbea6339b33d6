"""Expand a language-neutral query over the languages the index holds, with bounded work.

Each word becomes that language's stem in `title_<lang>` (weighted TITLE_BOOST) and
`body_<lang>`. Wildcards and fuzzy terms are expanded against the unstemmed vocabulary
(`words`), with caps, so no query can ask for unbounded work, and the vocabulary walks
watch the search's Deadline.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from whoosh import query
from whoosh.query.compound import DefaultOr

from search import ranking, snippets
from search.analysis import FOLDED, LANGUAGES, analyze, body_field, title_field
from search.deadline import ClockedPhrase, ClockedTerm, Deadline
from search.errors import QueryError, TooBroad
from search.focus import letter_stop_words, stop_words
from search.parsing import MAX_FUZZY_CHARS, SplitWord

# Title and body as one field (ranking.Fields): a word in the title counts as TITLE_BOOST occurrences in the body.
# Chosen on cranfield, cisi and cacm (bench/RESULTS.md), checked on med, npl and scifact.
TITLE_BOOST = 2.0
# A compound word split by the analyzer (SplitWord): each part's weight as a word, and the whole
# sequence's as a bonus. Chosen on cranfield, cisi and cacm, checked on the other three (bench/RESULTS.md).
PART_WEIGHT = 0.7
WHOLE_WEIGHT = 0.2
JOINED_WEIGHT = 0.7  # the parts written as one word
MAX_EXPANSIONS = 64  # words a wildcard or fuzzy term may turn into
MAX_QUERY_EXPANSIONS = 256  # words all the wildcard and fuzzy terms of one query may turn into together
MAX_PATTERNS = 16  # wildcard and fuzzy terms in one query; each one walks the vocabulary
MAX_SCANNED_WORDS = 20_000  # vocabulary a wildcard may walk before we refuse it
SCAN_CHECK_EVERY = 1024  # vocabulary words walked between two looks at the clock
MAX_FUZZY_DISTANCE = 2

# On small indexes Whoosh 2.7's Or pre-loads scores into an array, and with
# phrase clauses mixed in, documents silently drop out of the top N (Cranfield:
# recall@100 fell from 0.75 to 0.65). The binary tree of unions is always right.
Or = DefaultOr
# Languages whose stemmers read accents (a word typed without them may stem apart): not English,
# Russian (ё is folded before stemming) or Arabic.
ACCENTED_STEMMING = frozenset(LANGUAGES) - {"en", "ru", "ar"}


def _unfolded() -> dict[str, str]:
    """Return each letter -> itself and the lowercase letters that fold to it (Latin-1, Latin Extended-A, Greek)."""
    found: dict[str, str] = {}
    for code, bare in FOLDED.items():
        if isinstance(bare, str) and len(bare) == 1 and chr(code).islower() and (code < 0x180 or 0x370 <= code < 0x400):
            found[bare] = found.get(bare, bare) + chr(code)
    return found


# Where the vocabulary's accented forms of a word begin: `e` -> e, è, é, ê, ë, ...
UNFOLDED = _unfolded()


def _any_word(reader, prefix: str) -> bool:
    """Return whether any vocabulary word starts with `prefix`."""
    return any(next(_vocabulary(leaf, prefix), None) is not None for leaf, _ in reader.leaf_readers())


def known(reader, word: str, langs: Iterable[str], holds=None) -> bool:
    """Return whether `word`, as typed or as any of its stems, is in the index (per `holds(field, text)`).

    As its stem, a word the index holds only inflected counts (`agent` beside *agents*).
    """
    holds = holds or (lambda fieldname, text: reader.doc_frequency(fieldname, text) > 0)
    if holds("words", word):
        return True
    return any(holds(body_field(lang), stem) for lang in langs for stem in analyze(word, lang))


def languages(reader) -> list[str]:
    """Return the languages that have documents in the index."""
    names = set(reader.indexed_field_names())
    return [lang for lang in LANGUAGES if body_field(lang) in names or title_field(lang) in names]


class Expander:
    """Turn a neutral query into one over the index's language fields."""

    def __init__(self, reader, languages: Iterable[str], deadline: Deadline):
        self.reader = reader
        self.languages = tuple(languages)
        self.deadline = deadline  # the search's own: the vocabulary walks stop when it has passed
        self.expansions = 0  # words this query's patterns have turned into so far
        self._accented: dict[str, list[str]] = {}  # a word typed without accents -> its accented forms indexed

    def _stems(self, word: str, lang: str) -> list[tuple[str, ...]]:
        """Return the stems `word` is searched as in `lang`: its own, or those of its accented forms.

        Accents are folded after stemming (Snowball's suffixes need them), so a word typed without
        them may stem apart from the indexed one: `assemblees` is *assemble*, `assemblées` *assembl*.
        A word the vocabulary lacks as typed, whose stem `lang`'s documents lack, is searched as the
        accented forms the vocabulary has (`assemblées`, `corrían`), in phrases too.
        """
        own = tuple(analyze(word, lang))
        if len(own) != 1 or lang not in ACCENTED_STEMMING or self._holds(body_field(lang), own[0]):
            return [own]
        found = {tuple(analyze(form, lang)) for form in self._accented_forms(word)}
        found = [stem for stem in found if len(stem) == 1 and self._holds(body_field(lang), stem[0])]
        return found or [own]

    def _broken(self, word: str) -> tuple[str, str] | None:
        """Return the two words the vocabulary has that make `word`, which it lacks (`email`: *e mail*), or None.

        A word typed joined finds it written apart or with a hyphen (*e-mail*, *wi-fi*, *data base*),
        as Lucene's WordBreakSpellChecker breaks words: the split whose rarer part is most frequent.
        Only a word the index lacks in every form (not `agent` beside *agents*), and never into a
        common word (`a gent`, `is land`). The second part has two letters or more.
        """
        if len(word) < 4 or not word.isalpha() or known(self.reader, word, self.languages):
            return None
        common = stop_words(self.languages) | letter_stop_words(self.languages)
        best, parts = 0, None
        for cut in range(1, len(word) - 1):
            first, second = word[:cut], word[cut:]
            if first in common or second in common:
                continue  # `a gent`, `is land`, `s tore`: a common word is no half of a word
            found = min(self.reader.doc_frequency("words", first), self.reader.doc_frequency("words", second))
            if found > best:
                best, parts = found, (first, second)
        return parts

    def _holds(self, fieldname: str, text: str) -> bool:
        return fieldname in self.reader.schema and self.reader.doc_frequency(fieldname, text) > 0

    def _accented_forms(self, word: str) -> list[str]:
        """Return the vocabulary's words that are `word` with accents (most frequent first), if it lacks `word`."""
        found = self._accented.get(word)
        if found is None:
            found = []
            if word == word.translate(FOLDED) and not self._holds("words", word):
                beginning = folded_words(self.reader, word, self.deadline.check)
                found = [form for form in beginning if form.translate(FOLDED) == word]
                found.sort(key=lambda form: -self.reader.doc_frequency("words", form))
            self._accented[word] = found
        return found

    def expand_all(self, q: query.Query) -> query.Query:
        """Return `q` over the language fields, refusing up front a query with too many patterns."""
        patterns = sum(isinstance(leaf, (query.FuzzyTerm, query.Prefix, query.Wildcard)) for leaf in q.leaves())
        if patterns > MAX_PATTERNS:
            raise TooBroad(f"a query may have at most {MAX_PATTERNS} wildcard and fuzzy words")
        return self.expand(q)

    def expand(self, q: query.Query) -> query.Query:
        """Return `q` over the language fields."""
        if isinstance(q, query.Every):
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
        if isinstance(q, SplitWord):
            return self._split_word(q)
        if isinstance(q, query.Phrase):
            return self._phrase(q)
        if isinstance(q, query.FuzzyTerm):
            words = self._fuzzy_words(q)
            return self._words(q.fieldname, words, q.boost)
        if isinstance(q, query.Prefix):
            return self._words(q.fieldname, self._prefix_words(q.text), q.boost)
        if isinstance(q, query.Wildcard):
            return self._words(q.fieldname, self._wildcard_words(q.text), q.boost)
        if isinstance(q, query.Term):
            found = self._words(q.fieldname, [q.text], q.boost)
            parts = self._broken(q.text)
            if parts is None:
                return found
            return Or([found, self._phrase(query.Phrase(q.fieldname, list(parts), boost=q.boost))]).normalize()
        if isinstance(q, query.CompoundQuery):
            return self._compound(q)
        if isinstance(q, query.Not):
            return query.Not(self._excluded(q.query))
        if isinstance(q, query.AndNot):
            return query.AndNot(self.expand(q.a), self._excluded(q.b)).normalize()
        if isinstance(q, (query.AndMaybe, query.Require, query.Otherwise)):
            return q.__class__(self.expand(q.a), self.expand(q.b)).normalize()
        if q is query.NullQuery or isinstance(q, type(query.NullQuery)):
            return q
        raise QueryError(f"this kind of query is not supported ({type(q).__name__})")

    def _compound(self, q: query.CompoundQuery) -> query.Query:
        # Exclusions apply to their whole group, whether the group is AND or OR:
        # "a b -c" means (a, b) without c in both modes.
        subs = [self.expand(sub) for sub in q.subqueries]
        excluded = [sub.query for sub in subs if isinstance(sub, query.Not)]
        kept = [sub for sub in subs if not isinstance(sub, query.Not)]
        if not kept:
            return query.Not(Or(excluded).normalize())
        if isinstance(q, ranking.Coordinated):
            kind = ranking.Coordinated
        else:
            kind = Or if isinstance(q, query.Or) else q.__class__
        combined = kind(kept, boost=q.boost).normalize()
        if excluded:
            combined = query.AndNot(combined, Or(excluded).normalize())
        return combined

    def _fields(self, fieldname: str, lang: str) -> list[tuple[str, float]]:
        if fieldname == "title":
            return [(title_field(lang), 1.0)]
        return [(title_field(lang), TITLE_BOOST), (body_field(lang), 1.0)]

    def _words(self, fieldname: str, words: list[str], boost: float = 1.0) -> query.Query:
        clauses = []
        for lang in self.languages:
            stems = {stem for word in words for stem in self._stems(word, lang)}
            stems.discard(())
            fields = self._fields(fieldname, lang)
            for stem in stems:
                if len(stem) == 1:
                    terms = [ClockedTerm(name, stem[0], boost=weight) for name, weight in fields]
                    clauses.append(ranking.Fields(terms, boost=boost) if len(terms) > 1 else terms[0].with_boost(boost))
                else:
                    clauses.extend(ClockedPhrase(name, list(stem), boost=weight * boost) for name, weight in fields)
        return Or(clauses).normalize() if clauses else query.NullQuery

    def _phrase(self, q: query.Phrase) -> query.Query:
        clauses = []
        for lang in self.languages:
            stems = [stem for word in q.words for stem in self._stems(word, lang)[0]]  # the most frequent form's
            if not stems:
                continue
            for name, weight in self._fields(q.fieldname, lang):
                if len(stems) == 1:
                    clauses.append(ClockedTerm(name, stems[0], boost=weight * q.boost))
                else:
                    clauses.append(ClockedPhrase(name, stems, slop=q.slop, boost=weight * q.boost))
        return Or(clauses).normalize() if clauses else query.NullQuery

    def _excluded(self, q: query.Query) -> query.Query:
        # "-neo-liberal" leaves out the compound (as typed or joined), not every document with "liberal".
        if isinstance(q, SplitWord):
            return self._split_word(q, exact=True)
        return self.expand(q)

    def _split_word(self, q: SplitWord, exact: bool = False) -> query.Query:
        # A compound of words ("shock-sound", "wind-tunnel", "non-linear") may be written apart or
        # joined in a document: its parts count as words, at PART_WEIGHT, and the exact sequence
        # as a bonus (WHOLE_WEIGHT). A name with a number or a single letter in it ("IL-6",
        # "COVID-19", "F-16", "I'm") is told apart by that part: it stays exact.
        whole = self._phrase(q)
        if len(q.words) == 2 and q.words[1] == "s" and len(q.words[0]) > 1 and q.words[0].isalpha():
            # A possessive ("Lyapunov's method"): the word itself, as Lucene's EnglishPossessiveFilter has it.
            word = self._words(q.fieldname, [q.words[0]], q.boost)
            return Or([word, whole.with_boost(whole.boost * WHOLE_WEIGHT)]).normalize()
        identifier = not all(len(word) > 1 and word.isalpha() for word in q.words)
        # Written as one word ("neoliberal" for "neo-liberal", "IL6" for "IL-6", "email" for "e-mail"):
        # the same word. Not when a letter stands alone without a digit or a hyphen: "I'm" is not "im".
        joinable = JOINED_WEIGHT and (
            not identifier or any(word.isdigit() for word in q.words) or getattr(q, "hyphenated", False)
        )
        joined = [self._words(q.fieldname, ["".join(q.words)], q.boost * JOINED_WEIGHT)] if joinable else []
        if exact or identifier:
            return Or([whole, *joined]).normalize()
        parts = [self._words(q.fieldname, [word], q.boost * PART_WEIGHT) for word in dict.fromkeys(q.words)]
        return ranking.Compound([whole.with_boost(whole.boost * WHOLE_WEIGHT), *joined], parts).normalize()

    def _walk(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Yield (word, its document frequency in one segment) for each segment's words starting with `prefix`.

        Per segment, each word's frequency read where the walk finds it: merging the segments'
        vocabularies and then looking every word up in every segment cost more than the walk
        (a prefix at 100k documents in ten segments: most of its expansion's time).
        """
        count = 0
        for leaf, _ in self.reader.leaf_readers():
            self.deadline.check()
            for word, frequency in _vocabulary(leaf, prefix):
                count += 1
                if count % SCAN_CHECK_EVERY == 0:
                    self.deadline.check()
                yield word, frequency

    def _most_frequent(self, found: Iterable[tuple[str, int]], what: str) -> list[str]:
        """Return the MAX_EXPANSIONS words of `found` in the most documents (summed over its segments)."""
        frequencies: dict[str, int] = {}
        for word, frequency in found:
            if word not in frequencies and len(frequencies) == MAX_SCANNED_WORDS:
                raise QueryError(f"{what} matches too many words; add more letters")
            frequencies[word] = frequencies.get(word, 0) + frequency
        # Ties in vocabulary order (str order is UTF-8's byte order).
        chosen = sorted(frequencies, key=lambda word: (-frequencies[word], word))[:MAX_EXPANSIONS]
        # Each word becomes a clause per language and field; many patterns together
        # would make a query too big to run, whatever the time limit.
        self.expansions += len(chosen)
        if self.expansions > MAX_QUERY_EXPANSIONS:
            raise TooBroad(
                "the wildcard and fuzzy words in this query match too many words together; use fewer or longer ones"
            )
        return chosen

    def _prefix_words(self, prefix: str) -> list[str]:
        if not prefix:
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
        found = self._most_frequent(self._walk(prefix), f"'{prefix}*'")
        if found:
            return found
        # None as typed: those that begin so but for accents (`cafe*`: *café*, `αθην*`: *Αθήνα*).
        folded = folded_words(self.reader, prefix, self.deadline.check)
        return self._most_frequent(
            ((word, self.reader.doc_frequency("words", word)) for word in folded), f"'{prefix}*'"
        )

    def _wildcard_words(self, pattern: str) -> list[str]:
        if not pattern.strip("*?"):
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
        # What whoosh.query.Wildcard does, but watching the clock: a leading '*' walks the whole vocabulary.
        literal = re.match(r"[^*?\[]*", pattern).group()
        matches = re.compile(fnmatch.translate(pattern)).match
        # Few of the words walked match, so the vocabulary is walked merged, each word tried once,
        # and only the matches' frequencies are looked up (per segment, a pattern was 1.4-2.7x slower).
        words = vocabulary_words(self.reader, literal, matches, self.deadline.check)
        return self._most_frequent(((word, self.reader.doc_frequency("words", word)) for word in words), f"'{pattern}'")

    def _fuzzy_words(self, q: query.FuzzyTerm) -> list[str]:
        if len(q.text) > MAX_FUZZY_CHARS:
            raise QueryError(f"a fuzzy word may have at most {MAX_FUZZY_CHARS} letters")
        maxdist = min(max(int(q.maxdist), 1), MAX_FUZZY_DISTANCE)
        prefix = min(q.prefixlength, len(q.text))
        return self._most_frequent(self._within(q.text, maxdist, prefix), f"'{q.text}~'")

    def _within(self, text: str, maxdist: int, prefix: int) -> Iterator[tuple[str, int]]:
        """Yield (word, document frequency) for the vocabulary words within `maxdist` edits of `text`.

        Two neighbouring letters swapped count as one edit (optimal string alignment), as in
        Lucene's FuzzyQuery, Elasticsearch's `fuzziness` and the did-you-mean (spelling.py): `zebar`
        finds `zebra`. Whoosh's Levenshtein automaton counts two and looked words up in each
        segment's on-disk vocabulary, thousands of times per segment, 5-7x slower at 18k and 100k.
        """
        from rapidfuzz.distance import OSA  # here, not at start: 3.6 MB a worker that may never need it

        def distance(word: str, typed: str, score_cutoff: int) -> int:
            # Accents cost no edit: `ελλαδα~` finds *Ελλάδας*, as `ελλάδα~` does.
            found = OSA.distance(word, typed, score_cutoff=score_cutoff)
            if found > score_cutoff and not (word.isascii() and typed.isascii()):
                found = OSA.distance(word.translate(FOLDED), typed.translate(FOLDED), score_cutoff=score_cutoff)
            return found

        for word in close_words(self.reader, text, maxdist, prefix, distance, self.deadline.check):
            yield word, self.reader.doc_frequency("words", word)


def folded_words(reader, prefix: str, check=None) -> Iterator[str]:
    """Yield the vocabulary words that begin with `prefix` but for accents (both folded), in order per first letter.

    Walks every word under each letter folding to the prefix's first (`cafe`: under c and ç), so
    it is for what the words as typed do not give: a prefix that begins none, a few completions,
    a word the vocabulary has only with accents.
    """
    folded = prefix.translate(FOLDED)
    if not folded:
        return
    for first in UNFOLDED.get(folded[0], folded[0]):
        if first == folded[0] or _any_word(reader, first):
            yield from vocabulary_words(reader, first, lambda word: word.translate(FOLDED).startswith(folded), check)


def vocabulary_words(reader, prefix: str, keep: Callable[[str], object], check=None) -> Iterator[str]:
    """Yield the vocabulary words (`words`, over every segment, in order) starting with `prefix` that `keep` accepts.

    `check` (the search's clock) is called every SCAN_CHECK_EVERY words walked.
    """
    for count, btext in enumerate(reader.expand_prefix("words", prefix)):
        if check is not None and count % SCAN_CHECK_EVERY == 0:
            check()
        word = btext.decode("utf-8")
        if keep(word):
            yield word


def close_words(reader, text: str, maxdist: int, prefix: int, distance, check=None) -> Iterator[str]:
    """Yield the vocabulary words sharing `text`'s first `prefix` letters within `maxdist` of it by `distance`.

    Every word sharing the prefix is measured, as Whoosh's reader does for corrections over several
    segments, but in C (a rapidfuzz distance, called with `score_cutoff`), and a word whose length
    alone is too far is skipped.
    """
    size = len(text)

    def near(word: str) -> bool:
        return abs(len(word) - size) <= maxdist and distance(word, text, score_cutoff=maxdist) <= maxdist

    kept = _walks.get(reader, {}).get(text[:prefix])
    if kept is not None:
        if check is not None:
            check()  # measuring kept words is quick (in C), but a search past its time does no more
        return filter(near, kept)
    return _walk_keeping(reader, text[:prefix], near, check)


# The words under a prefix, kept per reader (one index generation, which never changes) for the
# last few prefixes walked: a misspelt word's correction and its fuzzy relaxation each walk the
# merged vocabulary under its first letter (`pressre` at 100k: 5,240 words, 61k steps of Whoosh's
# merge of 12 segments, ~20 ms each), and the next misspelling with that letter walks nothing.
MAX_KEPT_WALKS = 8  # prefixes per reader
MAX_KEPT_WALK_WORDS = 50_000  # words under one prefix, at most, to keep (~3.5 MB)
_walks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # reader -> {prefix: words, oldest first}
_walks_lock = threading.Lock()


def _walk_keeping(reader, prefix: str, keep: Callable[[str], object], check=None) -> Iterator[str]:
    """Yield vocabulary_words(reader, prefix, keep, check), and keep every word walked once the walk ends."""
    walked: list[str] | None = []
    for word in vocabulary_words(reader, prefix, _every, check):
        if walked is not None:
            walked.append(word)
            if len(walked) > MAX_KEPT_WALK_WORDS:
                walked = None
        if keep(word):
            yield word
    if walked is not None:
        with _walks_lock:
            kept = _walks.setdefault(reader, {})
            kept[prefix] = walked
            while len(kept) > MAX_KEPT_WALKS:
                del kept[next(iter(kept))]


def _every(word: str) -> bool:
    return True


def prefix_frequencies(reader, prefix: str, most: int) -> dict[str, int]:
    """Return the first `most` vocabulary words starting with `prefix`, with their document frequencies.

    Frequencies as Whoosh keeps them: deleted documents count until their segment is merged away.
    Each segment is walked on its own: its words among the index's first `most` are among its own.
    """
    found: dict[str, int] = {}
    for leaf, _ in reader.leaf_readers():
        for word, frequency in islice(_vocabulary(leaf, prefix), most):
            found[word] = found.get(word, 0) + frequency
    return {word: found[word] for word in sorted(found)[:most]}


def _vocabulary(leaf, prefix: str) -> Iterator[tuple[str, int]]:
    """Yield (word, document frequency) for a segment's vocabulary words starting with `prefix`, in order."""
    for text, info in leaf.iter_prefix("words", prefix):
        yield text.decode("utf-8"), info.doc_frequency()


def match_terms(q: query.Query) -> snippets.MatchTerms:
    """Return, per language, the stems and phrases a result's text should have highlighted."""
    terms: dict[str, set[str]] = {}
    phrases: dict[str, set[tuple[str, ...]]] = {}

    def walk(node):
        if isinstance(node, query.Not):
            return
        if isinstance(node, query.AndNot):
            walk(node.a)
            return
        # A title's words are marked where the text has them too (a title's field is stemmed as the body's).
        if isinstance(node, (query.Term, query.Phrase)) and node.fieldname.startswith(("body_", "title_")):
            lang = node.fieldname.partition("_")[2]
            if isinstance(node, query.Phrase):
                phrases.setdefault(lang, set()).add(tuple(node.words))
            else:
                terms.setdefault(lang, set()).add(node.text)
            return
        if not node.is_leaf():
            for sub in node.children():
                walk(sub)

    walk(q)
    return snippets.MatchTerms(terms=terms, phrases=phrases)
