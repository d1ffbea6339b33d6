"""The JSON API blueprint (thin), its error shape, and its OpenAPI document."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from search import auth, indexer, openapi, query
from search.config import max_file_bytes

bp = Blueprint("api", __name__)
log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "too_many_requests",
    500: "internal_error",
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
        result = query.search(_searchers(), query.parse_request(request.args), _settings(), auth.scope())
    except query.QueryError as problem:
        return error(400, str(problem), "bad_query")
    return jsonify(result.as_dict())


@bp.get("/api/suggest")
def suggest():
    text = request.args.get("q", "")
    try:
        suggestions = query.complete(_searchers(), text, _settings(), scope=auth.scope())
    except query.QueryError as problem:
        return error(400, str(problem), "bad_query")
    return jsonify({"query": text, "suggestions": suggestions})


@bp.get("/api/documents/<doc_id>")
def document(doc_id: str):
    stored = query.get_document(_searchers(), doc_id, auth.scope())
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
    auth.require_admin()
    settings = _settings()
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
    return jsonify(openapi.document())


def register_error_handlers(app: Flask) -> None:
    """Answer errors as JSON on /api/ routes and as a page elsewhere."""
    from search import web

    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.path in ("/healthz", "/livez")

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        if wants_json():
            response = make_response(error(problem.code or 500, problem.description or problem.name))
        else:
            response = make_response(web.error_page(problem.code or 500, problem.description or problem.name))
        # Keep what the exception says besides its body: Retry-After on a 429, Allow on a 405.
        for name, value in problem.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(problem: Exception):
        log.exception("unhandled error on %s", request.path)
        message = "something went wrong on our side; the error has been logged"
        if wants_json():
            return error(500, message)
        return web.error_page(500, message)
