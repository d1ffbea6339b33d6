"""Parse a user query safely, run it, paginate, relax and suggest.

A query is parsed once against a neutral schema whose fields keep the user's
words as typed (lowercased), then expanded over the languages the index holds:
each word becomes that language's stem in `title_<lang>` (boosted) and
`body_<lang>`. Wildcards and fuzzy terms are expanded against the unstemmed
vocabulary (`words`), with a cap, so no query can ask for unbounded work.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from urllib.parse import urlencode

from whoosh import fields, qparser, query, scoring
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.spelling import ReaderCorrector

from search import cache, indexer, snippets
from search.analysis import LANGUAGES, analyze, body_field, title_field, word_analyzer

TITLE_BOOST = 2.0
BM25_K1 = 1.2
BM25_B = 0.75
TITLE_B = 0.5
MAX_EXPANSIONS = 64  # words a wildcard or fuzzy term may turn into
MAX_SCANNED_WORDS = 20_000  # vocabulary a wildcard may walk before we refuse it
MAX_FUZZY_DISTANCE = 2
SORTS = ("relevance", "date")
MATCHES = ("all", "any")
# A '?' right after a word is punctuation ("what is lift?"), not a wildcard.
TRAILING_QUESTION = re.compile(r"(?<=\w)\?+(?=[\s)\"]|$)")
# '-word' excludes; a '-' inside a word or standing alone is text.
MINUS = re.compile(r"(?<![^\s(])-(?=[\w\"(])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class QueryError(ValueError):
    """The user's query or parameters cannot be answered; the message says why."""


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    folder: str | None = None
    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class SearchRequest:
    q: str
    page: int = 1
    per_page: int = 10
    sort: str = "relevance"
    match: str = "all"
    filters: Filters = Filters()


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


class Searchers:
    """Hand out one up-to-date searcher per thread, refreshed when the index has a new generation."""

    def __init__(self, index_dir: str | Path, cache_entries: int = 0):
        self.index_dir = Path(index_dir)
        self._local = threading.local()
        self._ix = None
        self.results = cache.ResultCache(cache_entries)
        # Every searcher handed out and not yet replaced: their segment files stay open
        # until they are closed, here or when this object is collected.
        self._open: set = set()
        self._open_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._open, self._open_lock)

    def close(self) -> None:
        """Close every searcher handed out (the next get() opens a fresh one)."""
        _close_all(self._open, self._open_lock)
        self._local = threading.local()

    def get(self):
        """Return this thread's searcher on the newest committed generation."""
        if self._ix is None:
            self._ix = indexer.open_index(self.index_dir)
        current = getattr(self._local, "searcher", None)
        if current is not None and current.up_to_date():
            return current
        # Not Searcher.refresh(): in Whoosh 2.7 its reader reuse keeps the old
        # generation's segments, so documents dropped by a rebuild would linger.
        fresh = self._ix.searcher(weighting=weighting())
        with self._open_lock:
            self._open.add(fresh)
            if current is not None:
                self._open.discard(current)
        if current is not None:
            current.close()  # only this thread used it, and its request is over
        self._local.searcher = fresh
        return fresh


def _close_all(searchers: set, lock: threading.Lock) -> None:
    with lock:
        for searcher in searchers:
            searcher.close()
        searchers.clear()


def weighting() -> scoring.WeightingModel:
    """Return the BM25F scorer with per-field length normalisation."""
    per_field = {f"{title_field(lang)}_B": TITLE_B for lang in LANGUAGES}
    return scoring.BM25F(B=BM25_B, K1=BM25_K1, **per_field)


def _parser(group) -> qparser.QueryParser:
    neutral = fields.Schema(text=fields.TEXT(analyzer=word_analyzer()), title=fields.TEXT(analyzer=word_analyzer()))
    parser = qparser.QueryParser("text", neutral, group=group)
    for plugin in (qparser.RangePlugin, qparser.EveryPlugin, qparser.SingleQuotePlugin, qparser.BoostPlugin):
        parser.remove_plugin_class(plugin)
    parser.add_plugin(qparser.FuzzyTermPlugin())
    return parser


_PARSERS = {"all": _parser(qparser.AndGroup), "any": _parser(qparser.OrGroup)}


def clean(text: str) -> str:
    """Return the query text with control characters and punctuation-only marks neutralised."""
    text = CONTROL.sub(" ", text)
    text = TRAILING_QUESTION.sub("", text)
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

    def __init__(self, reader, languages: Iterable[str]):
        self.reader = reader
        self.languages = tuple(languages)

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
            return q.__class__([self.expand(sub) for sub in q.subqueries], boost=q.boost).normalize()
        if isinstance(q, query.Not):
            return query.Not(self.expand(q.query))
        if isinstance(q, (query.AndNot, query.AndMaybe, query.Require, query.Otherwise)):
            return q.__class__(self.expand(q.a), self.expand(q.b)).normalize()
        if q is query.NullQuery or isinstance(q, type(query.NullQuery)):
            return q
        raise QueryError(f"this kind of query is not supported ({type(q).__name__})")

    def _fields(self, fieldname: str, lang: str) -> list[tuple[str, float]]:
        if fieldname == "title":
            return [(title_field(lang), 1.0)]
        return [(title_field(lang), TITLE_BOOST), (body_field(lang), 1.0)]

    def _words(self, fieldname: str, words: list[str], boost: float = 1.0) -> query.Query:
        clauses = []
        for lang in self.languages:
            stems = {tuple(analyze(word, lang)) for word in words}
            stems.discard(())
            for name, weight in self._fields(fieldname, lang):
                for stem in stems:
                    if len(stem) == 1:
                        clauses.append(query.Term(name, stem[0], boost=weight * boost))
                    else:
                        clauses.append(query.Phrase(name, list(stem), boost=weight * boost))
        return query.Or(clauses).normalize() if clauses else query.NullQuery

    def _phrase(self, q: query.Phrase) -> query.Query:
        clauses = []
        for lang in self.languages:
            stems = [stem for word in q.words for stem in analyze(word, lang)]
            if not stems:
                continue
            for name, weight in self._fields(q.fieldname, lang):
                if len(stems) == 1:
                    clauses.append(query.Term(name, stems[0], boost=weight * q.boost))
                else:
                    clauses.append(query.Phrase(name, stems, slop=q.slop, boost=weight * q.boost))
        return query.Or(clauses).normalize() if clauses else query.NullQuery

    def _most_frequent(self, words: Iterable[str | bytes], what: str) -> list[str]:
        found = [
            word.decode("utf-8") if isinstance(word, bytes) else word for word in islice(words, MAX_SCANNED_WORDS + 1)
        ]
        if len(found) > MAX_SCANNED_WORDS:
            raise QueryError(f"{what} matches too many words; add more letters")
        found.sort(key=lambda word: -self.reader.doc_frequency("words", word))
        return found[:MAX_EXPANSIONS]

    def _prefix_words(self, prefix: str) -> list[str]:
        if not prefix:
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
        return self._most_frequent(self.reader.expand_prefix("words", prefix), f"'{prefix}*'")

    def _wildcard_words(self, pattern: str) -> list[str]:
        if not pattern.strip("*?"):
            raise QueryError("a wildcard needs at least one letter, e.g. 'rel*'")
        return self._most_frequent(query.Wildcard("words", pattern)._btexts(self.reader), f"'{pattern}'")

    def _fuzzy_words(self, q: query.FuzzyTerm) -> list[str]:
        maxdist = min(max(int(q.maxdist), 1), MAX_FUZZY_DISTANCE)
        words = self.reader.terms_within("words", q.text, maxdist, prefix=min(q.prefixlength, len(q.text)))
        return self._most_frequent(iter(words), f"'{q.text}~'")


def _positive(q: query.Query) -> bool:
    """Return whether `q` can match anything on its own (is not purely negative)."""
    if isinstance(q, query.Not):
        return False
    if isinstance(q, query.And):
        return any(_positive(sub) for sub in q.subqueries)
    if isinstance(q, query.Or):
        return all(_positive(sub) for sub in q.subqueries)
    if isinstance(q, query.AndNot):
        return _positive(q.a)
    return True


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
        if type(node) is query.Term and len(node.text) >= 4:
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
    raw = args.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, not {raw[:20]!r}") from None


def _date(args: Mapping[str, str], name: str) -> datetime | None:
    raw = args.get(name, "")
    if raw == "":
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise QueryError(f"{name} must be a date like 2026-01-31, not {raw[:20]!r}") from None


def parse_request(args: Mapping[str, str]) -> SearchRequest:
    """Return the search request described by URL parameters, or raise QueryError."""
    filters = Filters(
        type=args.get("type") or None,
        folder=args.get("folder") or None,
        after=_date(args, "after"),
        before=_date(args, "before"),
    )
    return SearchRequest(
        q=args.get("q", ""),
        page=_int(args, "page", 1),
        per_page=_int(args, "per_page", 10),
        sort=args.get("sort") or "relevance",
        match=args.get("match") or "all",
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


def _filter_query(filters: Filters) -> query.Query | None:
    clauses = []
    if filters.type:
        clauses.append(query.Term("type", filters.type))
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


def _collect(searcher, q: query.Query, limit: int, request: SearchRequest, time_limit: float):
    sortedby = "modified" if request.sort == "date" else None
    restriction = _filter_query(request.filters)
    if restriction is not None:
        # Inside the query, not as a collector filter: Whoosh's TimeLimitCollector
        # bypasses FilterCollector. Require scores by the first query only.
        q = query.Require(q, restriction)
    collector = searcher.collector(limit=limit, sortedby=sortedby, reverse=sortedby is not None)
    timed = _DeadlineCollector(collector, timelimit=time_limit, use_alarm=False)
    try:
        searcher.search_with_collector(q, timed)
    except TimeLimit:
        raise QueryError("the query took too long; make it more specific") from None
    return timed.results()


def _known(reader, word: str, langs: Iterable[str]) -> bool:
    """Return whether `word`, as typed or as any of its stems, is in the index."""
    if reader.doc_frequency("words", word) > 0:
        return True
    return any(reader.doc_frequency(body_field(lang), stem) > 0 for lang in langs for stem in analyze(word, lang))


def suggest(searcher, parsed: query.Query, text: str) -> str | None:
    """Return `text` with its unknown words replaced by the closest indexed words, if any."""
    reader = searcher.reader()
    langs = languages(reader)
    corrector = ReaderCorrector(reader, "words", searcher.schema["words"])
    replacements = []
    for term in _plain_terms(parsed):
        word = term.text
        if len(word) < 3 or not word.isalpha() or _known(reader, word, langs):
            continue
        start, end = getattr(term, "startchar", None), getattr(term, "endchar", None)
        if start is None or end is None or text[start:end].lower() != word:
            continue
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


def search(searchers: Searchers, request: SearchRequest, config: dict) -> SearchResult:
    """Run `request` against the newest index generation and return one page of results."""
    started = time.perf_counter()
    validate(request, config)
    searcher = searchers.get()
    key = (cache.index_state(searcher), request)
    cached = searchers.results.get(key)
    if cached is not None:
        return replace(cached, took_ms=round((time.perf_counter() - started) * 1000, 2))
    text = clean(request.q)
    expander = _Expander(searcher.reader(), languages(searcher.reader()))
    limit = request.page * request.per_page
    first = parse(request.q, request.match)
    # The relaxed queries are parsed only when needed: most queries find something at once.
    attempts = [(lambda: first, None)]
    if request.match == "all":
        attempts.append((lambda: parse(request.q, "any"), "any"))
    attempts.append((lambda: _fuzzy(parse(request.q, "any")), "fuzzy"))
    results, relaxed, expanded = None, None, query.NullQuery
    for make, relaxation in attempts:
        expanded = expander.expand(make())
        if not _positive(expanded):
            raise QueryError("add at least one word to search for; NOT and -word only exclude")
        results = _collect(searcher, expanded, limit, request, config["SEARCH_TIME_LIMIT"])
        relaxed = relaxation
        if len(results) > 0:
            break
    suggestion = suggest(searcher, first, text)
    highlight = match_terms(expanded)
    hits = []
    for hit in results[(request.page - 1) * request.per_page : limit]:
        stored = hit.fields()
        snippet = snippets.snippet(stored["body"], stored["lang"], highlight)
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
        total=len(results),
        page=request.page,
        per_page=request.per_page,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        suggestion=suggestion,
        relaxed=relaxed if len(results) > 0 else None,
        hits=hits,
    )
    searchers.results.put(key, result, size=1024 + sum(len(hit.snippet) + len(hit.title) + 512 for hit in hits))
    return result


def get_document(searchers: Searchers, doc_id: str) -> dict | None:
    """Return the stored fields of document `doc_id`, or None."""
    if not re.fullmatch(r"[0-9a-f]{16}", doc_id or ""):
        return None
    return searchers.get().document(id=doc_id)


def highlight_document(searchers: Searchers, document: dict, q: str) -> snippets.Snippet:
    """Return the whole text of `document` with every match of `q` highlighted."""
    terms = snippets.MatchTerms({}, {})
    if q.strip():
        try:
            expander = _Expander(searchers.get().reader(), [document["lang"]])
            terms = match_terms(expander.expand(parse(q, "any")))
        except QueryError:
            pass  # The document is still worth showing without highlights.
    return snippets.highlight_all(document["body"], document["lang"], terms)
