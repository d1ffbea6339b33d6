"""The JSON API blueprint (thin), its error shape, and its OpenAPI document."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Flask, current_app, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from search import indexer, openapi, query
from search.config import max_file_bytes

bp = Blueprint("api", __name__)
# Not the index folder's path: error bodies never reveal server paths.
INDEX_MISSING_MESSAGE = "there is no search index yet; run 'python -m search index' to build it, then try again"
INDEX_MISSING_PAGE = (
    "Search is not ready: the documents have not been indexed yet. "
    "Whoever runs this server can build the index with 'python -m search index', then reload this page."
)
log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    500: "internal_error",
    503: "unavailable",
}


def error(status: int, message: str, code: str | None = None):
    """Return the one JSON error response: {"error": {"code", "message"}}."""
    body = {"error": {"code": code or ERROR_CODES.get(status, "error"), "message": message}}
    return jsonify(body), status


def _settings() -> dict:
    return current_app.config["SEEDSEARCH"]


def _searchers() -> query.Searchers:
    return current_app.extensions["seedsearch"]


@bp.get("/api/search")
def search():
    try:
        result = query.search(_searchers(), query.parse_request(request.args), _settings())
    except query.QueryError as problem:
        return error(400, str(problem), "bad_query")
    return jsonify(result.as_dict())


@bp.get("/api/suggest")
def suggest():
    if "q" not in request.args:
        return error(400, "the q parameter is required (it may be empty)", "bad_query")
    text = request.args["q"]
    try:
        suggestions = query.complete(_searchers(), text, _settings())
    except query.QueryError as problem:
        return error(400, str(problem), "bad_query")
    return jsonify({"query": text, "suggestions": suggestions})


@bp.get("/api/documents/<doc_id>")
def document(doc_id: str):
    stored = query.get_document(_searchers(), doc_id)
    if stored is None:
        return error(404, f"no document with id {doc_id[:40]!r}")
    return jsonify(
        {
            "id": stored["id"],
            "title": stored["title"],
            "path": stored["path"],
            "modified": stored["modified"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "size": stored["size"],
            "type": stored["type"],
            "lang": stored["lang"],
            "text": stored["body"],
        }
    )


@bp.post("/api/reindex")
def reindex():
    settings = _settings()
    token = settings["ADMIN_TOKEN"]
    if not token:
        return error(403, "reindexing over HTTP is disabled: set SEEDSEARCH_ADMIN_TOKEN to enable it")
    supplied = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    # Constant-time comparison, so the token cannot be guessed byte by byte.
    if not hmac.compare_digest(supplied.encode("utf-8", "replace"), expected.encode("utf-8")):
        return error(401, "a valid 'Authorization: Bearer <token>' header is required")
    try:
        summary = indexer.reindex(
            settings["CORPUS_DIR"],
            settings["INDEX_DIR"],
            max_bytes=max_file_bytes(settings),
            default_language=settings["DEFAULT_LANGUAGE"],
            procs=settings["INDEX_PROCS"],
        )
    except indexer.IndexBusy as busy:
        return error(409, f"{busy}; try again when it has finished")
    except FileNotFoundError as missing:
        return error(500, str(missing), "corpus_missing")
    return jsonify(summary.as_dict())


@bp.get("/livez")
def livez():
    # Liveness only: answers without touching the index, so it is also the web stack's floor.
    return jsonify({"status": "ok"})


@bp.get("/healthz")
def healthz():
    searcher = _searchers().get()
    return jsonify({"status": "ok", "documents": searcher.doc_count(), "generation": searcher.reader().generation()})


@bp.get("/api/openapi.json")
def openapi_document():
    return jsonify(openapi.document(_settings()))


def register_error_handlers(app: Flask) -> None:
    """Answer errors as JSON on /api/ routes and as a page elsewhere."""
    from search import web

    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.path in ("/healthz", "/livez")

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        status, message = problem.code or 500, problem.description or problem.name
        response = make_response(error(status, message) if wants_json() else web.error_page(status, message))
        valid_methods = getattr(problem, "valid_methods", None)
        if valid_methods:  # a 405 names the methods the route does answer
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(indexer.IndexMissing)
    def index_missing(problem: indexer.IndexMissing):
        # The read path never creates an index: until the indexer has run, say so.
        log.warning("no index yet: %s", problem)
        if wants_json():
            return error(503, INDEX_MISSING_MESSAGE, "index_missing")
        return web.error_page(503, INDEX_MISSING_PAGE, title="No documents indexed yet")

    @app.errorhandler(Exception)
    def unexpected(problem: Exception):
        log.exception("unhandled error on %s", request.path)
        message = "something went wrong on our side; the error has been logged"
        if wants_json():
            return error(500, message)
        return web.error_page(500, message)
