"""The HTML pages blueprint (thin)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from flask import Blueprint, abort, current_app, render_template, request, url_for
from markupsafe import Markup
from werkzeug.http import HTTP_STATUS_CODES

from search import auth, contract, query, snippets

bp = Blueprint("web", __name__)
# Characters no HTML page may hold: NUL and the other C0 controls but tab and line breaks. A query
# typed with them is shown with U+FFFD in their place, as a browser would show them.
NOT_IN_HTML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@bp.record_once
def _pages_hold_no_control_characters(state) -> None:
    state.app.jinja_env.finalize = printable


def printable(value):
    """Return `value` (anything a template outputs) with characters no HTML page may hold replaced."""
    if isinstance(value, str) and NOT_IN_HTML.search(value):
        return type(value)(NOT_IN_HTML.sub("\ufffd", value))  # Markup stays Markup
    return value


TYPES = contract.TYPES
# The search parameters links carry from page to page (to the next page, a document and back).
SEARCH_ARGS = ("q", "type", "folder", "after", "before", "sort", "match", "per_page", "page")
FILTER_ARGS = ("type", "folder", "after", "before")
DAY = re.compile(r"(\d{4}-\d{2}-\d{2})?")  # what a date input shows (or nothing)
DEFAULTS = {
    "sort": contract.SORTS[0],
    "match": contract.MATCHES[0],
    "per_page": str(contract.DEFAULT_PER_PAGE),
    "page": "1",
}


def _searchers() -> query.Searchers:
    return current_app.extensions["seedsearch"]


def search_args(args: Mapping[str, str], **changes) -> dict[str, str]:
    """Return the search parameters in `args` with `changes`, leaving out empty and default values."""
    merged = {name: _joined(args, name) for name in SEARCH_ARGS} | changes
    return {
        name: str(value)
        for name, value in merged.items()
        if value not in (None, "") and DEFAULTS.get(name) != str(value)
    }


def _joined(args: Mapping[str, str], name: str) -> str | None:
    # type= may be repeated (type=pdf&type=text); a link carries them as one list.
    if hasattr(args, "getlist") and len(args.getlist(name)) > 1:
        return ",".join(args.getlist(name))
    return args.get(name)


def _day(value: str) -> bool:
    """Return whether a date input can show `value`: a real day (YYYY-MM-DD) or nothing.

    Chromium empties a date input given anything else (a time, 2025-13-45): such a value is shown
    as text, so the form neither drops it nor hides what was wrong with it.
    """
    if not DAY.fullmatch(value):
        return False
    try:
        return not value or bool(date.fromisoformat(value))
    except ValueError:
        return False


def page_window(current: int, last: int, around: int = 2) -> list[int | None]:
    """Return the page numbers to link to: the first, the last and those around `current`; None marks a gap."""
    wanted = sorted({1, last, *range(current - around, current + around + 1)} & set(range(1, last + 1)))
    window: list[int | None] = []
    for number in wanted:
        if window and number - window[-1] > 1:
            window.append(None)
        window.append(number)
    return window


@bp.app_template_filter("snippet_html")
def snippet_html(snippet: snippets.Snippet) -> Markup:
    """Return a snippet as HTML for a page: only what snippets.to_html made is marked safe."""
    if not isinstance(snippet, snippets.Snippet):
        raise TypeError(f"snippet_html renders a snippets.Snippet, not {type(snippet).__name__}")
    return Markup(snippets.to_html(snippet))


@bp.get("/")
@bp.get("/search")
def search_page():
    args = request.args
    q = args.get("q", "")
    settings = current_app.config["SEEDSEARCH"]
    result, problem, pages, last_page = None, None, [], 1
    about_query = True  # whether the problem is the query's text (the page then recalls its syntax)
    if q.strip():
        try:
            result = query.search(_searchers(), query.parse_request(args), settings, auth.scope())
        except query.QueryError as error:
            problem, about_query = str(error), not isinstance(error, query.ParameterError)
    if result is not None:
        snippets.page_html([hit.snippet for hit in result.hits])  # one bleach call; snippet_html then finds them kept
        # Pages past the results window would only answer 400, so they are not offered.
        reachable = max(1, settings["MAX_RESULTS_WINDOW"] // result.per_page)
        last_page = min(result.pages, reachable)
        pages = page_window(result.page, last_page)

    def search_url(**changes) -> str:
        return url_for("web.search_page", **search_args(args, **changes))

    filtered = any(args.get(name) for name in FILTER_ARGS)
    try:
        chosen = contract.parse_types(args.getlist("type"))
    except ValueError:
        chosen = ()  # the page says what is wrong with them
    return render_template(
        "search.html",
        # What the form cannot show in its own controls is kept as it is, so Apply does not widen
        # the search: several types as one choice, a time (not a day) as text.
        chosen_types=chosen,
        date_inputs={name: "date" if _day(args.get(name, "")) else "text" for name in ("after", "before")},
        q=q,
        args=args,
        result=result,
        problem=problem,
        about_query=about_query,
        sort=args.get("sort", "").lower(),  # as the search reads it: sort=DATE is a date sort
        pages=pages,
        last_page=last_page,
        types=TYPES,
        folders=query.folders(_searchers(), scope=auth.scope()),
        documents=query.document_count(_searchers(), auth.scope()) if not q.strip() else None,
        filtered=filtered,
        search_url=search_url,
        doc_args=search_args(args),
    ), 400 if problem else 200


@bp.get("/doc/<doc_id>")
def document_page(doc_id: str):
    stored = query.get_document(_searchers(), doc_id, auth.scope())
    if stored is None:
        abort(404, description="There is no document with this id.")
    try:
        q = query.single(request.args, "q", "")
    except query.QueryError as problem:
        abort(400, description=str(problem))
    highlighted = query.highlight_document(_searchers(), stored, q, current_app.config["SEEDSEARCH"])
    return render_template(
        "document.html",
        doc=stored,
        q=q,
        back=url_for("web.search_page", **search_args(request.args)),
        body=highlighted,
        matches=len(highlighted.matches),
        partial=highlighted.partial,
    )


def error_page(status: int, message: str, title: str | None = None):
    """Return the HTML error page."""
    title = title or HTTP_STATUS_CODES.get(status, "Error")
    # From a result gone meanwhile (/doc/<id>?q=…), back to the same search rather than an empty form.
    back = search_args(request.args) if request.args.get("q", "").strip() else {}
    return render_template("error.html", status=status, title=title, message=message, back=back), status
