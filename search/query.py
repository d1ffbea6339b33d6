"""Run a search: validate the request, parse, focus and expand the query, rank, relax, page, suggest.

The jobs are each in their own module, in the order a query meets them: parsing.py (the query
language), focus.py (common words, long queries, neighbouring pairs), expansion.py (the index's
languages, wildcards, fuzzy words), evaluate.py (ranking over whole posting lists), spelling.py
(corrections) and snippets.py (the passages that show each hit's matches). One Deadline per
search (deadline.py) bounds all of their work by SEARCH_TIME_LIMIT. Documents are looked up
here too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from itertools import islice

from whoosh import query

from search import cache, evaluate, snippets
from search import scope as scoping
from search.analysis import FOLDED
from search.contract import DEFAULT_PER_PAGE, MATCHES, SORTS, parse_types
from search.deadline import Deadline
from search.errors import ParameterError, QueryError, TooBroad
from search.expansion import Expander, Or, languages, match_terms
from search.focus import focus, pairs
from search.models import Filters, Hit, SearchRequest, SearchResult
from search.parsing import clean, fuzzy, parse, positive
from search.searchers import Searchers
from search.spelling import suggest, vocabulary

# What the views, the CLI and bench import from here.
__all__ = [
    "Filters",
    "ParameterError",
    "QueryError",
    "SearchRequest",
    "SearchResult",
    "Searchers",
    "document_count",
    "folders",
    "get_document",
    "highlight_document",
    "parse_request",
    "search",
    "validate",
]

# The query's neighbouring words found side by side add this share of their score (focus.pairs).
PROXIMITY_WEIGHT = 0.1
MAX_LISTED_FOLDERS = 500
ONCE = ("q", "page", "per_page", "sort", "match", "folder", "after", "before")  # parameters with one value
_NO_SNIPPET = snippets.Snippet("")


def _int(args: Mapping[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ParameterError(f"{name} must be a whole number, not {raw[:20]!r}") from None


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
        # A '+' in a URL's query string arrives as a space: say so where that is what happened.
        plus = " (in a URL, a + is sent as %2B)" if " " in raw.strip() else ""
        raise ParameterError(
            f"{name} must be a date like 2026-01-31 or a time like 2026-01-31T09:30:00+01:00{plus}, not {raw[:30]!r}"
        ) from None
    # The index stores naive UTC times.
    try:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    except OverflowError:
        raise ParameterError(f"{name} is out of range: {raw[:40]!r}") from None


def single(args: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """Return parameter `name` of `args` (a MultiDict, such as request.args), or raise ParameterError if repeated.

    A second value would otherwise be dropped without a word.
    """
    if hasattr(args, "getlist") and len(given := args.getlist(name)) > 1:
        raise ParameterError(f"{name} is given {len(given)} times; give it once (only type may repeat)")
    return args.get(name, default)


def parse_request(args: Mapping[str, str]) -> SearchRequest:
    """Return the search request described by URL parameters, or raise QueryError."""
    for name in ONCE:
        single(args, name)
    # A MultiDict (Flask's request.args) may repeat type=; a plain mapping holds one value.
    named = args.getlist("type") if hasattr(args, "getlist") else [args.get("type") or ""]
    try:
        types = parse_types(named)
    except ValueError as problem:
        raise ParameterError(str(problem)) from None
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
        sort=args.get("sort", SORTS[0]).lower(),
        match=args.get("match", MATCHES[0]).lower(),
        filters=filters,
    )


def validate(request: SearchRequest, config: dict) -> None:
    """Raise QueryError if the request's parameters are out of bounds."""
    if not request.q.strip():
        raise QueryError("type something to search for")
    if len(request.q) > config["MAX_QUERY_CHARS"]:
        raise QueryError(f"the query is longer than {config['MAX_QUERY_CHARS']} characters")
    if request.per_page < 1 or request.per_page > config["MAX_PER_PAGE"]:
        raise ParameterError(f"per_page must be between 1 and {config['MAX_PER_PAGE']}")
    if request.page < 1:
        raise ParameterError("page must be 1 or more")
    if request.sort not in SORTS:
        raise ParameterError(f"sort must be one of {', '.join(SORTS)}")
    if request.match not in MATCHES:
        raise ParameterError(f"match must be one of {', '.join(MATCHES)}")
    after, before = request.filters.after, request.filters.before
    if after is not None and before is not None and after > before:
        raise ParameterError("after is later than before: no document was modified in between")


def _beyond_window(request: SearchRequest, config: dict) -> bool:
    """Return whether the request's page ends past the results window (MAX_RESULTS_WINDOW)."""
    return request.page * request.per_page > config["MAX_RESULTS_WINDOW"]


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


def _collect(searcher, q: query.Query, limit: int, request: SearchRequest, deadline: Deadline, scope: scoping.Scope):
    """Return (the top `limit` results, the exact total) of `q` with the request's filters and sort."""
    restriction = _filter_query(request.filters, scope)
    if restriction is not None:
        q = query.Require(q, restriction)  # Require scores by the first query only
    context = searcher.context()
    context.deadline = deadline  # for the parts Whoosh's matchers walk (see deadline.ClockedTerm)
    newest_by = "modified" if request.sort == "date" else None
    return evaluate.run(searcher, q, limit, searcher.weighting, deadline.check, newest_by=newest_by, context=context)


@dataclass(frozen=True)
class Prepared:
    """A query parsed, focused and expanded over the index's language fields: what a search evaluates."""

    parsed: query.Query  # as typed, before focus and expansion
    expanded: query.Query
    used_words: tuple[str, ...] | None  # the words a long query keeps (focus), when it drops some
    highlight: snippets.MatchTerms


def prepare(
    searcher,
    parsed: query.Query,
    text: str,
    deadline: Deadline,
    near: bool,
    scope: scoping.Scope = scoping.EVERYTHING,
) -> Prepared:
    """Return `parsed` (the query `text` in one mode) ready to run; with `near`, the neighbouring words rank higher.

    A long query keeps the words most informative in the documents `scope` shows (focus).

    Raises TooBroad for too many patterns, QueryError for a query that only excludes or past the deadline.
    """
    reader = searcher.reader()
    langs = languages(reader)
    neutral, used = focus(parsed, reader, langs, text, scoping.visible(searcher, scope))
    expanded = Expander(reader, langs, deadline).expand_all(neutral)
    if not positive(expanded):
        raise QueryError("add at least one word to search for; NOT and -word only exclude")
    deadline.check()
    if near:
        # The default (all) mode matches any word and ranks the documents with all of them first
        # (ranking.Coordinated), and those with the words side by side (focus.pairs) higher still.
        found = [Expander(reader, langs, deadline).expand(pair) for pair in pairs(text, neutral)]
        found = [clause for clause in found if clause is not query.NullQuery]
        if found:
            expanded = query.AndMaybe(expanded, Or(found, boost=PROXIMITY_WEIGHT).normalize())
    return Prepared(parsed, expanded, None if used is None else tuple(used), match_terms(expanded))


def _prepared(
    searchers: Searchers, searcher, state, request: SearchRequest, text: str, deadline: Deadline, scope: scoping.Scope
) -> Prepared:
    """Return prepare() of the request's query as typed, kept per index state (a generation never changes) and scope.

    Only what parsing and expansion make is kept: every search still evaluates it and makes its snippets.
    An error is not kept: past the deadline, the next try may finish.
    """
    key = (state, request.q, request.match, scope)
    found = searchers.prepared.get(key)
    if found is None:
        found = prepare(searcher, parse(request.q, request.match), text, deadline, near=True, scope=scope)
        leaves = sum(1 for _ in found.expanded.leaves())
        searchers.prepared.put(key, found, size=1024 + 2 * len(request.q) + 400 * leaves)
    return found


def _suggestion(
    searchers: Searchers,
    searcher,
    state,
    prepared: Prepared,
    request: SearchRequest,
    text: str,
    deadline: Deadline,
    scope: scoping.Scope,
) -> str | None:
    """Return suggest() for the request if it finds something with the request's filters; kept unless out of time.

    A suggestion is kept per index state, scope and filters: a word the folder asked for lacks is no help.
    """
    key = ("suggestion", state, request.q, request.match, request.filters, scope)
    found = searchers.prepared.get(key)
    if found is None:
        suggestion = suggest(searcher, prepared.parsed, text, deadline, scope, typed=request.q)
        if suggestion is not None and _folded(suggestion) == _folded(request.q):
            suggestion = None  # only accents added (`corrian`: *corrían*): the query finds those forms itself
        if suggestion is not None and not _finds(
            searchers, searcher, state, replace(request, q=suggestion), deadline, scope
        ):
            suggestion = None
        found = (suggestion,)
        if deadline.left() > 0:  # out of time, suggest() gives up early: its None is not the answer
            searchers.prepared.put(key, found, size=512 + 4 * len(request.q))
    return found[0]


def _folded(text: str) -> str:
    return text.lower().translate(FOLDED)


def _finds(
    searchers: Searchers, searcher, state, request: SearchRequest, deadline: Deadline, scope: scoping.Scope
) -> bool:
    """Return whether `request` finds any document `scope` shows (counted only; False past the deadline)."""
    try:
        prepared = _prepared(searchers, searcher, state, request, clean(request.q), deadline, scope)
        return _collect(searcher, prepared.expanded, 0, request, deadline, scope)[1] > 0
    except (QueryError, TooBroad):
        return False


def search(
    searchers: Searchers, request: SearchRequest, config: dict, scope: scoping.Scope = scoping.EVERYTHING
) -> SearchResult:
    """Run `request` over the documents `scope` shows in the newest index generation; return one page."""
    started = time.perf_counter()
    validate(request, config)
    deadline = Deadline(config["SEARCH_TIME_LIMIT"])
    searcher = searchers.get()
    state = cache.index_state(searcher)
    key = (state, request, scope)
    cached = searchers.results.get(key)
    if cached is not None:
        return replace(cached, took_ms=round((time.perf_counter() - started) * 1000, 2))
    text = clean(request.q)
    # A page past the window is only counted: if the results end before it, the answer is an empty
    # page (and the page says where they end); if they go on, there is no reaching it.
    beyond = _beyond_window(request, config)
    limit = 0 if beyond else request.page * request.per_page
    first = _prepared(searchers, searcher, state, request, text, deadline, scope)
    answered = first  # the query whose results are returned
    results, total = _collect(searcher, first.expanded, limit, request, deadline, scope)
    relaxed = "any" if total > 0 and results.complete == 0 else None  # no document holds every word
    if total == 0:
        # Nothing matches at all: close spellings of the words the index lacks are tried, unless
        # relaxing changes nothing (a lone phrase, words all known).
        in_vocabulary = vocabulary(searcher, scope)
        parsed = fuzzy(parse(request.q, "any"), unknown=lambda word: not in_vocabulary(word))
        if parsed != first.parsed:
            try:
                answered = prepare(searcher, parsed, text, deadline, near=False, scope=scope)
            except TooBroad:
                pass  # a relaxed query too broad to run; the stricter answer stands
            else:
                results, total = _collect(searcher, answered.expanded, limit, request, deadline, scope)
                relaxed = "fuzzy"
    if beyond and total > (request.page - 1) * request.per_page:
        raise ParameterError(
            f"results beyond the first {config['MAX_RESULTS_WINDOW']} are not available; refine the query"
        )
    suggestion = _suggestion(searchers, searcher, state, first, request, text, deadline, scope)
    highlight = answered.highlight
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
                snippet=snippet,
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
        used_words=None if answered.used_words is None else list(answered.used_words),
    )
    searchers.results.put(key, result, size=1024 + sum(len(hit.snippet.text) + len(hit.title) + 512 for hit in hits))
    return result


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


def highlight_document(searchers: Searchers, document: dict, q: str, config: Mapping) -> snippets.Snippet:
    """Return the whole text of `document` with every match of `q` in it, as data."""
    found = snippets.Snippet(document["body"])  # the text, nothing marked
    # A query the search would refuse gets no highlights, not unbounded work.
    if not q.strip() or len(q) > config["MAX_QUERY_CHARS"]:
        return found
    deadline = Deadline(config["SEARCH_TIME_LIMIT"])
    # As the search relaxes a query nothing matches, so does this: close spellings if the words are not here.
    for relaxed in (False, True):
        try:
            parsed = fuzzy(parse(q, "any")) if relaxed else parse(q, "any")
            expander = Expander(searchers.get().reader(), [document["lang"]], deadline)
            terms = match_terms(expander.expand_all(parsed))
        except (QueryError, TooBroad):
            break  # The document is still worth showing without highlights.
        found = snippets.highlight_all(document["body"], document["lang"], terms)
        if found.matches:
            break
    return found
