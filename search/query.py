"""Parse a user query safely, run it, paginate, relax and suggest.

A query is parsed once against a neutral schema whose fields keep the user's
words as typed (lowercased), then expanded over the languages the index holds:
each word becomes that language's stem in `title_<lang>` (boosted) and
`body_<lang>`. Wildcards and fuzzy terms are expanded against the unstemmed
vocabulary (`words`), with caps, so no query can ask for unbounded work, and
one Deadline per search bounds its time: the vocabulary walks, the matching
(every term's postings are clocked, see _Clocked) and the counting all stop
when SEARCH_TIME_LIMIT is spent.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from urllib.parse import urlencode

from whoosh import fields, qparser, query
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.lang import has_stopwords, stopwords_for_language
from whoosh.matching import NullMatcher, NullMatcherClass, WrappingMatcher
from whoosh.query.compound import DefaultOr
from whoosh.spelling import ReaderCorrector

from search import cache, evaluate, indexer, ranking, snippets
from search import scope as scoping
from search.analysis import LANGUAGES, analyze, body_field, title_field, word_analyzer
from search.contract import DEFAULT_PER_PAGE, MATCHES, MAX_COMPLETIONS, SORTS, parse_types

# BM25F (ranking.Fields): a word in the title counts as TITLE_BOOST occurrences in the body.
# Chosen on cranfield, cisi and cacm (bench/RESULTS.md), checked on med, npl and scifact.
TITLE_BOOST = 2.0
BM25_K1 = 1.6
BM25_B = 0.75
TITLE_B = 0.75
PROXIMITY_WEIGHT = 0.1
MAX_PAIRS = 10
MAX_QUERY_TERMS = 64  # words a long query is ranked by (Lucene's MoreLikeThis takes 25; more measured better)
MAX_EXPANSIONS = 64  # words a wildcard or fuzzy term may turn into
MAX_QUERY_EXPANSIONS = 256  # words all the wildcard and fuzzy terms of one query may turn into together
MAX_PATTERNS = 16  # wildcard and fuzzy terms in one query; each one walks the vocabulary
MAX_SCANNED_WORDS = 20_000  # vocabulary a wildcard may walk before we refuse it
SCAN_CHECK_EVERY = 1024  # vocabulary words walked between two looks at the clock
CLOCK_EVERY = 64  # postings steps a term takes between two looks at the clock
MAX_SUGGESTED_WORDS = 8  # misspelt words per query that get a correction
TOO_SLOW = "the query took too long; make it more specific"
MAX_FUZZY_DISTANCE = 2
MAX_COMPLETION_SCAN = 2_000  # vocabulary a completion may walk; it must stay fast per keystroke
MAX_LISTED_FOLDERS = 500
MAX_FUZZY_CHARS = 40  # the edit-distance automaton grows with the word; no real word is longer
# A '?' right after a word is punctuation ("what is lift?"), not a wildcard.
TRAILING_QUESTION = re.compile(r"(?<=\w)\?+(?=[\s)\"]|$)")
# A '*' or '?' touching no letter ("(MEDLARS)?", a pasted list's "* item") is punctuation too,
# when the query has words besides; a lone '*' is still refused as a wildcard without letters.
LOOSE_WILDCARD = re.compile(r"(?<!\w)[*?]+(?!\w)")
WORD = re.compile(r"\w")
# '-word' excludes; a '-' inside a word or standing alone is text.
MINUS = re.compile(r"(?<![^\s(])-(?=[\w\"(])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
LAST_WORD = re.compile(r"\w+$")


# On small indexes Whoosh 2.7's Or pre-loads scores into an array, and with
# phrase clauses mixed in, documents silently drop out of the top N (Cranfield:
# recall@100 fell from 0.75 to 0.65). The binary tree of unions is always right.
_Or = DefaultOr


class QueryError(ValueError):
    """The user's query or parameters cannot be answered; the message says why."""


class TooBroad(QueryError):
    """The query's wildcard and fuzzy terms together match too many words."""


class Deadline:
    """The moment by which a search must have finished, so no query can run unbounded."""

    def __init__(self, seconds: float = math.inf):
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        """Return the seconds still available."""
        return self.ends - time.monotonic()

    def check(self) -> None:
        """Raise QueryError if the time is up."""
        if self.left() <= 0:
            raise QueryError(TOO_SLOW)


class _Clocked(WrappingMatcher):
    """A term's postings that stop the search once its deadline has passed.

    Whoosh's TimeLimitCollector only looks at the clock between collected documents;
    a phrase or a large conjunction can work for seconds before the first one. Every
    matcher moves by moving its terms, so a clock on each term bounds them all.
    """

    def __init__(self, child, deadline: Deadline, boost: float = 1.0):
        super().__init__(child, boost)
        self.deadline = deadline
        self.steps = 0

    def copy(self):
        return _Clocked(self.child.copy(), self.deadline, self.boost)

    def _replacement(self, newchild):
        return _Clocked(newchild, self.deadline, self.boost)

    def _tick(self) -> None:
        self.steps += 1
        if self.steps % CLOCK_EVERY == 0:
            self.deadline.check()

    def next(self):
        self._tick()
        return self.child.next()

    def skip_to(self, id):
        self._tick()
        return self.child.skip_to(id)

    def skip_to_quality(self, minquality):
        self._tick()
        return self.child.skip_to_quality(minquality / self.boost)

    def spans(self):
        self._tick()
        return self.child.spans()


class _Term(query.Term):
    """A term query whose postings watch the deadline the search context carries."""

    def matcher(self, searcher, context=None):
        found = super().matcher(searcher, context)
        deadline = getattr(context, "deadline", None)
        if deadline is None or isinstance(found, NullMatcherClass):
            return found
        return _Clocked(found, deadline)


class _Phrase(query.Phrase):
    """A phrase query whose words watch the deadline the search context carries."""

    def matcher(self, searcher, context=None):
        # Whoosh's Phrase.matcher, with clocked terms.
        field, reader = searcher.schema[self.fieldname], searcher.reader()
        if any((self.fieldname, field.to_bytes(word)) not in reader for word in self.words):
            return NullMatcher  # a word the index lacks: nothing to walk
        terms = [_Term(self.fieldname, word) for word in self.words]
        found = query.SpanNear2(terms, slop=self.slop, ordered=True, mindist=1).matcher(searcher, context)
        return WrappingMatcher(found, boost=self.boost) if self.boost != 1.0 else found


@dataclass(frozen=True)
class Filters:
    types: tuple[str, ...] = ()  # any of these file types
    folder: str | None = None
    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class SearchRequest:
    q: str
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str = SORTS[0]
    match: str = MATCHES[0]
    filters: Filters = Filters()
    highlight: bool = True


@dataclass
class Hit:
    id: str
    title: str
    path: str
    score: float
    snippet: str
    matches: list[dict]
    modified: str
    size: int
    type: str
    lang: str


@dataclass
class SearchResult:
    query: str
    total: int
    page: int
    per_page: int
    took_ms: float
    suggestion: str | None
    relaxed: str | None
    hits: list[Hit] = field(default_factory=list)
    # The words a long query was ranked by, when some of its words were left out (see focus()).
    used_words: list[str] | None = None

    @property
    def pages(self) -> int:
        """Return the number of result pages."""
        return max(1, -(-self.total // self.per_page))

    def as_dict(self) -> dict:
        """Return the result in the JSON shape of /api/search."""
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "took_ms": self.took_ms,
            "suggestion": self.suggestion,
            "relaxed": self.relaxed,
            "used_words": self.used_words,
            "results": [
                {
                    "id": hit.id,
                    "title": hit.title,
                    "path": hit.path,
                    "url": f"/doc/{hit.id}?{urlencode({'q': self.query})}",
                    "score": hit.score,
                    "snippet": hit.snippet,
                    "matches": hit.matches,
                    "modified": hit.modified,
                    "size": hit.size,
                    "type": hit.type,
                    "lang": hit.lang,
                }
                for hit in self.hits
            ],
        }


_NO_SNIPPET = snippets.Snippet("", [])


class Searchers:
    """Hand out one up-to-date searcher per thread, refreshed when the index has a new generation."""

    def __init__(self, index_dir: str | Path, cache_entries: int = 0):
        self.index_dir = Path(index_dir)
        self._local = threading.local()
        self._ix = None
        self.results = cache.ResultCache(cache_entries)
        # Every searcher handed out and not yet replaced: their segment files stay open
        # until they are closed, here or when this object is collected.
        self._handed_out: set = set()
        self._handed_out_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._handed_out, self._handed_out_lock)

    def close(self) -> None:
        """Close every searcher handed out (the next get() opens a fresh one)."""
        _close_all(self._handed_out, self._handed_out_lock)
        self._local = threading.local()

    def get(self):
        """Return this thread's searcher on the newest committed generation."""
        if self._ix is None:
            self._ix = self._open()
        current = getattr(self._local, "searcher", None)
        if current is not None and current.up_to_date():
            return current
        # Not Searcher.refresh(): in Whoosh 2.7 its reader reuse keeps the old
        # generation's segments, so documents dropped by a rebuild would linger.
        fresh = self._ix.searcher(weighting=weighting())
        with self._handed_out_lock:
            self._handed_out.add(fresh)
            if current is not None:
                self._handed_out.discard(current)
        if current is not None:
            current.close()  # only this thread used it, and its request is over
        self._local.searcher = fresh
        return fresh

    def _open(self):
        # The read path never writes: with no index yet this raises IndexMissing (a 503),
        # and the next request tries again, so the first indexer's commit is seen at once.
        return indexer.open_index(self.index_dir)


def _close_all(searchers: set, lock: threading.Lock) -> None:
    with lock:
        for searcher in searchers:
            searcher.close()
        searchers.clear()


def weighting() -> ranking.BM25:
    """Return the BM25 scorer with per-field length normalisation."""
    return ranking.BM25(k1=BM25_K1, b=BM25_B, field_b={"title": TITLE_B})


class _CoordinatedGroup(qparser.syntax.AndGroup):
    """Words side by side (no operator between them) make a Coordinated query; an explicit AND stays And."""

    qclass = ranking.Coordinated


def _parser(group) -> qparser.QueryParser:
    # A word the analyzer splits ("IL-6", "U.S.") is a phrase of its parts, so "IL-6" never matches IL-1.
    text = fields.TEXT(analyzer=word_analyzer(), multitoken_query="phrase")
    neutral = fields.Schema(text=text, title=fields.TEXT(analyzer=word_analyzer(), multitoken_query="phrase"))
    parser = qparser.QueryParser("text", neutral, group=group)
    for plugin in (qparser.RangePlugin, qparser.EveryPlugin, qparser.SingleQuotePlugin, qparser.BoostPlugin):
        parser.remove_plugin_class(plugin)
    parser.add_plugin(qparser.FuzzyTermPlugin())
    return parser


_PARSERS = {"all": _parser(_CoordinatedGroup), "any": _parser(qparser.OrGroup)}


def clean(text: str) -> str:
    """Return the query text with control characters and punctuation-only marks neutralised."""
    text = CONTROL.sub(" ", text)
    text = TRAILING_QUESTION.sub("", text)
    # Boosts are not part of the query language: "wing^3" is the words wing and 3, not a phrase of them.
    text = text.replace("^", " ")
    if WORD.search(text):
        text = LOOSE_WILDCARD.sub(" ", text)
    return MINUS.sub("NOT ", text)


def parse(text: str, match: str = "all") -> query.Query:
    """Parse `text` in the Seedsearch query language into a language-neutral query."""
    try:
        return _PARSERS[match].parse(clean(text))
    except Exception as error:  # Whoosh's parser raises assorted errors on odd nesting.
        raise QueryError(
            f"could not understand this query ({type(error).__name__}); check quotes and brackets"
        ) from None


class _Expander:
    """Turn a neutral query into one over the index's language fields."""

    def __init__(self, reader, languages: Iterable[str], deadline: Deadline | None = None):
        self.reader = reader
        self.languages = tuple(languages)
        self.deadline = deadline or Deadline()
        self.expansions = 0  # words this query's patterns have turned into so far

    def expand_all(self, q: query.Query) -> query.Query:
        """Return `q` over the language fields, refusing up front a query with too many patterns."""
        patterns = sum(isinstance(leaf, (query.FuzzyTerm, query.Prefix, query.Wildcard)) for leaf in q.leaves())
        if patterns > MAX_PATTERNS:
            raise TooBroad(f"a query may have at most {MAX_PATTERNS} wildcard and fuzzy words")
        return self.expand(q)

    def expand(self, q: query.Query) -> query.Query:
        if isinstance(q, query.Every):
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
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
            return self._words(q.fieldname, [q.text], q.boost)
        if isinstance(q, query.CompoundQuery):
            return self._compound(q)
        if isinstance(q, query.Not):
            return query.Not(self.expand(q.query))
        if isinstance(q, (query.AndNot, query.AndMaybe, query.Require, query.Otherwise)):
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
            return query.Not(_Or(excluded).normalize())
        if isinstance(q, ranking.Coordinated):
            kind = ranking.Coordinated
        else:
            kind = _Or if isinstance(q, query.Or) else q.__class__
        combined = kind(kept, boost=q.boost).normalize()
        if excluded:
            combined = query.AndNot(combined, _Or(excluded).normalize())
        return combined

    def _fields(self, fieldname: str, lang: str) -> list[tuple[str, float]]:
        if fieldname == "title":
            return [(title_field(lang), 1.0)]
        return [(title_field(lang), TITLE_BOOST), (body_field(lang), 1.0)]

    def _words(self, fieldname: str, words: list[str], boost: float = 1.0) -> query.Query:
        clauses = []
        for lang in self.languages:
            stems = {tuple(analyze(word, lang)) for word in words}
            stems.discard(())
            fields = self._fields(fieldname, lang)
            for stem in stems:
                if len(stem) == 1:
                    terms = [_Term(name, stem[0], boost=weight) for name, weight in fields]
                    clauses.append(ranking.Fields(terms, boost=boost) if len(terms) > 1 else terms[0].with_boost(boost))
                else:
                    clauses.extend(_Phrase(name, list(stem), boost=weight * boost) for name, weight in fields)
        return _Or(clauses).normalize() if clauses else query.NullQuery

    def _phrase(self, q: query.Phrase) -> query.Query:
        clauses = []
        for lang in self.languages:
            stems = [stem for word in q.words for stem in analyze(word, lang)]
            if not stems:
                continue
            for name, weight in self._fields(q.fieldname, lang):
                if len(stems) == 1:
                    clauses.append(_Term(name, stems[0], boost=weight * q.boost))
                else:
                    clauses.append(_Phrase(name, stems, slop=q.slop, boost=weight * q.boost))
        return _Or(clauses).normalize() if clauses else query.NullQuery

    def _scan(self, candidates: Iterable[bytes], keep=None) -> Iterator[str]:
        """Yield the vocabulary words in `candidates` that `keep` accepts, watching the clock."""
        for count, btext in enumerate(candidates):
            if count % SCAN_CHECK_EVERY == 0:
                self.deadline.check()
            word = btext.decode("utf-8")
            if keep is None or keep(word):
                yield word

    def _most_frequent(self, words: Iterable[str], what: str) -> list[str]:
        found = []
        for word in words:
            if len(found) == MAX_SCANNED_WORDS:
                raise QueryError(f"{what} matches too many words; add more letters")
            found.append(word)
        ranked = []
        for count, word in enumerate(found):
            if count % SCAN_CHECK_EVERY == 0:
                self.deadline.check()
            ranked.append((-self.reader.doc_frequency("words", word), word))
        ranked.sort()  # ties keep vocabulary order
        chosen = [word for _, word in ranked[:MAX_EXPANSIONS]]
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
        return self._most_frequent(self._scan(self.reader.expand_prefix("words", prefix)), f"'{prefix}*'")

    def _wildcard_words(self, pattern: str) -> list[str]:
        if not pattern.strip("*?"):
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
        # What whoosh.query.Wildcard does, but watching the clock: a leading '*' walks the whole vocabulary.
        literal = re.match(r"[^*?\[]*", pattern).group()
        candidates = self.reader.expand_prefix("words", literal) if literal else self.reader.lexicon("words")
        matches = re.compile(fnmatch.translate(pattern)).match
        return self._most_frequent(self._scan(candidates, matches), f"'{pattern}'")

    def _fuzzy_words(self, q: query.FuzzyTerm) -> list[str]:
        if len(q.text) > MAX_FUZZY_CHARS:
            raise QueryError(f"a fuzzy word may have at most {MAX_FUZZY_CHARS} letters")
        maxdist = min(max(int(q.maxdist), 1), MAX_FUZZY_DISTANCE)
        prefix = min(q.prefixlength, len(q.text))
        return self._most_frequent(self._within(q.text, maxdist, prefix), f"'{q.text}~'")

    def _within(self, text: str, maxdist: int, prefix: int) -> Iterator[str]:
        # Per segment, where Whoosh walks the vocabulary with an automaton; across
        # segments it would compare every word in Python.
        seen = set()
        for leaf, _ in self.reader.leaf_readers():
            self.deadline.check()
            for count, word in enumerate(leaf.terms_within("words", text, maxdist, prefix=prefix)):
                if count % SCAN_CHECK_EVERY == 0:
                    self.deadline.check()
                if word not in seen:
                    seen.add(word)
                    yield word


@functools.cache
def _stop_words(langs: tuple[str, ...]) -> frozenset[str]:
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
    stops = _stop_words(tuple(langs))
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


def _positive(q: query.Query) -> bool:
    """Return whether `q` can match anything on its own (is not purely negative)."""
    return not isinstance(q, query.Not)


def _plain_terms(q: query.Query, negated: bool = False) -> list[query.Term]:
    """Return the plain word terms of the neutral query that are not excluded."""
    if isinstance(q, query.Not):
        return []
    if isinstance(q, query.AndNot):
        return _plain_terms(q.a)
    if type(q) is query.Term:
        return [q]
    if q.is_leaf():
        return []
    return [term for sub in q.children() for term in _plain_terms(sub)]


def _fuzzy(q: query.Query) -> query.Query:
    """Return `q` with every plain word made fuzzy, for zero-result recovery."""

    def soften(node):
        if type(node) is query.Term and 4 <= len(node.text) <= MAX_FUZZY_CHARS:
            return query.FuzzyTerm(node.fieldname, node.text, maxdist=1 if len(node.text) < 7 else 2, prefixlength=1)
        return node

    return q.accept(soften)


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
        if isinstance(node, (query.Term, query.Phrase)) and node.fieldname.startswith("body_"):
            lang = node.fieldname.removeprefix("body_")
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


def _int(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, not {raw[:20]!r}") from None


def _date(args: Mapping[str, str], name: str, end_of_day: bool = False) -> datetime | None:
    raw = args.get(name, "")
    if raw == "":
        return None
    try:
        # A bare date means the whole day: 'before=2026-01-31' includes the 31st.
        day = date.fromisoformat(raw)
        return datetime.combine(day, (datetime.max if end_of_day else datetime.min).time())
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise QueryError(f"{name} must be a date like 2026-01-31, not {raw[:20]!r}") from None
    # The index stores naive UTC times.
    try:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError:
        raise QueryError(f"{name} is out of range: {raw[:40]!r}") from None


def parse_request(args: Mapping[str, str]) -> SearchRequest:
    """Return the search request described by URL parameters, or raise QueryError."""
    # A MultiDict (Flask's request.args) may repeat type=; a plain mapping holds one value.
    named = args.getlist("type") if hasattr(args, "getlist") else [args.get("type") or ""]
    try:
        types = parse_types(named)
    except ValueError as problem:
        raise QueryError(str(problem)) from None
    filters = Filters(
        types=types,
        folder=args.get("folder") or None,
        after=_date(args, "after"),
        before=_date(args, "before", end_of_day=True),
    )
    return SearchRequest(
        q=args.get("q", ""),
        page=_int(args, "page", 1),
        per_page=_int(args, "per_page", DEFAULT_PER_PAGE),
        # Absent means the default; an empty sort or match is refused like any unknown one.
        sort=args.get("sort", SORTS[0]),
        match=args.get("match", MATCHES[0]),
        filters=filters,
    )


def validate(request: SearchRequest, config: dict) -> None:
    """Raise QueryError if the request's parameters are out of bounds."""
    if not request.q.strip():
        raise QueryError("type something to search for")
    if len(request.q) > config["MAX_QUERY_CHARS"]:
        raise QueryError(f"the query is longer than {config['MAX_QUERY_CHARS']} characters")
    if request.per_page < 1 or request.per_page > config["MAX_PER_PAGE"]:
        raise QueryError(f"per_page must be between 1 and {config['MAX_PER_PAGE']}")
    if request.page < 1:
        raise QueryError("page must be 1 or more")
    if request.page * request.per_page > config["MAX_RESULTS_WINDOW"]:
        raise QueryError(f"results beyond the first {config['MAX_RESULTS_WINDOW']} are not available; refine the query")
    if request.sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}")
    if request.match not in MATCHES:
        raise QueryError(f"match must be one of {', '.join(MATCHES)}")


def _filter_query(filters: Filters, scope: scoping.Scope = scoping.EVERYTHING) -> query.Query | None:
    clauses = []
    if (visible := scope.restriction()) is not None:
        clauses.append(visible)
    if filters.types:
        clauses.append(query.Or([query.Term("type", name) for name in filters.types]))
    if filters.folder:
        clauses.append(query.Term("folder", filters.folder.strip("/")))
    if filters.after or filters.before:
        clauses.append(query.DateRange("modified", filters.after, filters.before))
    return query.And(clauses) if clauses else None


def languages(reader) -> list[str]:
    """Return the languages that have documents in the index."""
    names = set(reader.indexed_field_names())
    return [lang for lang in LANGUAGES if body_field(lang) in names or title_field(lang) in names]


class _DeadlineCollector(TimeLimitCollector):
    """A TimeLimitCollector that looks at the clock instead of starting a timer thread per search."""

    CHECK_EVERY = 256  # matches between looks at the clock

    def prepare(self, top_searcher, q, context):
        self.child.prepare(top_searcher, q, context)
        self.timedout = False
        self.deadline = time.monotonic() + self.timelimit

    def collect_matches(self):
        child, deadline = self.child, self.deadline
        for seen, sub_docnum in enumerate(child.matches()):
            if seen % self.CHECK_EVERY == 0 and time.monotonic() > deadline:
                self.timedout = True
                raise TimeLimit
            child.collect(sub_docnum)

    def finish(self):
        self.child.finish()


def _collect(searcher, q: query.Query, limit: int, request: SearchRequest, time_limit: float, scope: scoping.Scope):
    sortedby = "modified" if request.sort == "date" else None
    restriction = _filter_query(request.filters, scope)
    if restriction is not None:
        # Inside the query, not as a collector filter: Whoosh's TimeLimitCollector
        # bypasses FilterCollector. Require scores by the first query only.
        q = query.Require(q, restriction)
    if isinstance(searcher.weighting, ranking.BM25) and (sortedby is None or evaluate.sortable(searcher, sortedby)):
        context = searcher.context()
        context.deadline = Deadline(time_limit)  # for the parts Whoosh's matchers walk (see _Term)
        return evaluate.run(
            searcher, q, limit, searcher.weighting, context.deadline.check, newest_by=sortedby, context=context
        )
    # Whoosh 2.7's RequireMatcher.skip_to_quality() can trip an assertion in
    # IntersectionMatcher once the top-N heap is full, so a filtered search
    # goes without block-quality skipping.
    collector = searcher.collector(
        limit=limit, sortedby=sortedby, reverse=sortedby is not None, optimize=restriction is None
    )
    timed = _DeadlineCollector(collector, timelimit=time_limit, use_alarm=False)
    # The terms' matchers find the deadline here (see _Term), so it bounds the work
    # done before the first hit too, which the collector's own timer cannot.
    context = searcher.context()
    context.deadline = Deadline(time_limit)
    try:
        searcher.search_with_collector(q, timed, context)
    except TimeLimit:
        raise QueryError(TOO_SLOW) from None
    results = timed.results()
    if collector.computes_count():
        return results, len(results)
    # Skipping low-scoring blocks, Whoosh did not count the matches, and len(results)
    # would run the whole query again off the clock: count them here, on it.
    counting = searcher.boolean_context()
    counting.deadline = context.deadline
    total = 0
    for leaf, _ in searcher.leaf_searchers():
        total += sum(1 for _ in q.matcher(leaf, counting).all_ids())
    return results, total


def _known(reader, word: str, langs: Iterable[str], frequency=None) -> bool:
    """Return whether `word`, as typed or as any of its stems, is in the index (per `frequency`)."""
    frequency = frequency or reader.doc_frequency
    if frequency("words", word) > 0:
        return True
    return any(frequency(body_field(lang), stem) > 0 for lang in langs for stem in analyze(word, lang))


def suggest(
    searcher,
    parsed: query.Query,
    text: str,
    deadline: Deadline | None = None,
    scope: scoping.Scope = scoping.EVERYTHING,
) -> str | None:
    """Return `text` with its unknown words replaced by the closest words `scope` shows, if any."""
    deadline = deadline or Deadline()
    reader = searcher.reader()
    langs = languages(reader)
    corrector = ReaderCorrector(reader, "words", searcher.schema["words"])
    frequency = reader.doc_frequency
    if (visible := scoping.visible(searcher, scope)) is not None:
        corrector, frequency = visible.corrector("words"), visible.doc_frequency
    replacements, tried = [], 0
    for term in _plain_terms(parsed):
        word = term.text
        if not 3 <= len(word) <= MAX_FUZZY_CHARS or not word.isalpha() or _known(reader, word, langs, frequency):
            continue
        start, end = getattr(term, "startchar", None), getattr(term, "endchar", None)
        if start is None or end is None or text[start:end].lower() != word:
            continue
        # A suggestion is a nicety: past the deadline or a handful of words, go without.
        tried += 1
        if tried > MAX_SUGGESTED_WORDS or deadline.left() <= 0:
            return None
        found = corrector.suggest(word, limit=1, maxdist=1 if len(word) <= 4 else 2, prefix=1)
        if found:
            typed = text[start:end]
            replacement = found[0].capitalize() if typed[:1].isupper() else found[0]
            replacements.append((start, end, replacement))
    if not replacements:
        return None
    for start, end, replacement in sorted(replacements, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


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
    visible = scoping.visible(searcher, scope)
    frequency = reader.doc_frequency if visible is None else visible.doc_frequency
    words = [word.decode("utf-8") for word in islice(reader.expand_prefix("words", prefix), MAX_COMPLETION_SCAN)]
    ranked = [(-count, word) for word in words if word != prefix and (count := frequency("words", word)) > 0]
    words = [word for _, word in sorted(ranked)]
    # Keep the letters as typed ("Росс" -> "России"), unless lowercasing changed their length.
    head = typed if len(typed) == len(prefix) else prefix
    return [text[: last.start()] + head + word[len(prefix) :] for word in words[:limit]]


def folders(
    searchers: Searchers, limit: int = MAX_LISTED_FOLDERS, scope: scoping.Scope = scoping.EVERYTHING
) -> list[str]:
    """Return the folders (at every depth) that hold documents `scope` shows, in order, at most `limit`."""
    names = searchers.get().reader().field_terms("folder")
    return list(islice((name for name in names if scope.shows_folder(name)), limit))


def document_count(searchers: Searchers, scope: scoping.Scope = scoping.EVERYTHING) -> int:
    """Return the number of documents in the index that `scope` shows."""
    searcher = searchers.get()
    visible = scoping.visible(searcher, scope)
    return searcher.doc_count() if visible is None else visible.count()


def search(
    searchers: Searchers, request: SearchRequest, config: dict, scope: scoping.Scope = scoping.EVERYTHING
) -> SearchResult:
    """Run `request` over the documents `scope` shows in the newest index generation; return one page."""
    started = time.perf_counter()
    validate(request, config)
    deadline = Deadline(config["SEARCH_TIME_LIMIT"])
    searcher = searchers.get()
    key = (cache.index_state(searcher), request, scope)
    cached = searchers.results.get(key)
    if cached is not None:
        return replace(cached, took_ms=round((time.perf_counter() - started) * 1000, 2))
    text = clean(request.q)
    langs = languages(searcher.reader())
    limit = request.page * request.per_page
    first = parse(request.q, request.match)
    # The relaxed queries are parsed only when needed: most queries find something at once.
    # The default (all) mode matches any word and ranks the documents with all of them first
    # (ranking.Coordinated); only when nothing matches at all are close spellings tried.
    attempts = [(lambda: first, None), (lambda: _fuzzy(parse(request.q, "any")), "fuzzy")]
    results, total, relaxed, expanded, used = None, 0, None, query.NullQuery, None
    tried = []
    for make, relaxation in attempts:
        neutral = make()
        if neutral in tried:
            continue  # relaxing changed nothing (a lone phrase, say): no need to run it again
        tried.append(neutral)
        neutral, used = focus(neutral, searcher.reader(), langs)
        try:
            expanded = _Expander(searcher.reader(), langs, deadline).expand_all(neutral)
        except TooBroad:
            if relaxation is None:
                raise
            break  # a relaxed query too broad to run; the stricter answer stands
        if not _positive(expanded):
            raise QueryError("add at least one word to search for; NOT and -word only exclude")
        deadline.check()
        if PROXIMITY_WEIGHT and relaxation is None:
            near = [_Expander(searcher.reader(), langs, deadline).expand(pair) for pair in pairs(text, neutral)]
            near = [found for found in near if found is not query.NullQuery]
            if near:
                expanded = query.AndMaybe(expanded, _Or(near, boost=PROXIMITY_WEIGHT).normalize())
        results, total = _collect(searcher, expanded, limit, request, deadline.left(), scope)
        relaxed = relaxation
        if relaxed is None and total > 0 and getattr(results, "complete", total) == 0:
            relaxed = "any"  # no document holds every word: all of these hold some
        if total > 0:
            break
    suggestion = suggest(searcher, first, text, deadline, scope)
    highlight = match_terms(expanded)
    hits = []
    for hit in results[(request.page - 1) * request.per_page : limit]:
        stored = hit.fields()
        if request.highlight:
            # Out of time, the rest of the page gets plain snippets rather than no answer.
            marks = highlight if deadline.left() > 0 else snippets.MatchTerms({}, {})
            snippet = snippets.snippet(stored["body"], stored["lang"], marks)
        else:
            snippet = _NO_SNIPPET
        hits.append(
            Hit(
                id=stored["id"],
                title=stored["title"],
                path=stored["path"],
                score=round(hit.score or 0.0, 4),
                snippet=snippet.html,
                matches=snippet.matches,
                modified=stored["modified"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                size=stored["size"],
                type=stored["type"],
                lang=stored["lang"],
            )
        )
    result = SearchResult(
        query=request.q,
        total=total,
        page=request.page,
        per_page=request.per_page,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        suggestion=suggestion,
        relaxed=relaxed if total > 0 else None,
        hits=hits,
        used_words=used,
    )
    searchers.results.put(key, result, size=1024 + sum(len(hit.snippet) + len(hit.title) + 512 for hit in hits))
    return result


def get_document(searchers: Searchers, doc_id: str, scope: scoping.Scope = scoping.EVERYTHING) -> dict | None:
    """Return the stored fields of document `doc_id`, or None (also when `scope` does not show it)."""
    if not re.fullmatch(r"[0-9a-f]{16}", doc_id or ""):
        return None
    searcher = searchers.get()
    visible = scoping.visible(searcher, scope)
    if visible is None:
        return searcher.document(id=doc_id)
    docnum = searcher.document_number(id=doc_id)
    return searcher.stored_fields(docnum) if docnum is not None and visible.has(docnum) else None


def highlight_document(searchers: Searchers, document: dict, q: str, config: Mapping | None = None) -> snippets.Snippet:
    """Return the whole text of `document` with every match of `q` highlighted."""
    terms = snippets.MatchTerms({}, {})
    max_chars = config["MAX_QUERY_CHARS"] if config else 500
    time_limit = config["SEARCH_TIME_LIMIT"] if config else 5.0
    # A query the search would refuse gets no highlights, not unbounded work.
    if q.strip() and len(q) <= max_chars:
        try:
            expander = _Expander(searchers.get().reader(), [document["lang"]], Deadline(time_limit))
            terms = match_terms(expander.expand_all(parse(q, "any")))
        except QueryError:
            pass  # The document is still worth showing without highlights.
    return snippets.highlight_all(document["body"], document["lang"], terms)
