"""The HTML pages blueprint (thin)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup

from search import query

bp = Blueprint("web", __name__)

TYPES = ("text", "markdown", "html", "pdf", "docx")
# What a results page carries into its own links. Only these: url_for() treats
# "_external", "_anchor", "_method" and "endpoint" as instructions, not parameters.
LINK_PARAMS = ("q", "type", "folder", "after", "before", "sort", "match", "per_page")


def _searchers() -> query.Searchers:
    return current_app.extensions["seedsearch"]


@bp.get("/")
@bp.get("/search")
def search_page():
    args = request.args
    q = args.get("q", "")
    result, problem = None, None
    if q.strip():
        try:
            result = query.search(_searchers(), query.parse_request(args), current_app.config["SEEDSEARCH"])
        except query.QueryError as error:
            problem = str(error)
    status = 400 if problem else 200
    link_args = {name: args[name] for name in LINK_PARAMS if args.get(name)}
    return render_template(
        "search.html",
        q=q,
        args=args,
        link_args=link_args,
        result=result,
        problem=problem,
        types=TYPES,
        Markup=Markup,
    ), status


@bp.get("/doc/<doc_id>")
def document_page(doc_id: str):
    stored = query.get_document(_searchers(), doc_id)
    if stored is None:
        abort(404, description="There is no document with this id.")
    q = request.args.get("q", "")
    highlighted = query.highlight_document(_searchers(), stored, q, current_app.config["SEEDSEARCH"])
    return render_template(
        "document.html", doc=stored, q=q, body=Markup(highlighted.html), matches=len(highlighted.matches)
    )


def error_page(status: int, message: str):
    """Return the HTML error page."""
    return render_template("error.html", status=status, message=message), status
