"""The JSON API blueprint (thin), its error shape, and its OpenAPI document."""

from __future__ import annotations

import logging
import mimetypes
import os
from datetime import UTC, datetime

from flask import Blueprint, Flask, current_app, jsonify, make_response, request, send_file, url_for
from werkzeug.exceptions import HTTPException, RequestedRangeNotSatisfiable, RequestEntityTooLarge
from werkzeug.http import is_resource_modified

from search import auth, files, indexer, openapi, query, serialize, spelling
from search.config import max_file_bytes

bp = Blueprint("api", __name__)
# Not the index folder's path: error bodies never reveal server paths (the CLI's messages, for
# whoever runs the server, do).
INDEX_MISSING_MESSAGE = "there is no search index yet; run 'python -m search index' to build it, then try again"
WRITER_BUSY = "another reindex is writing the index"
INDEX_UNREADABLE = "the server cannot read its index folder (its permissions); the error has been logged"
CORPUS_MISSING = "the corpus folder is missing on the server (SEEDSEARCH_CORPUS_DIR)"
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
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    507: "insufficient_storage",
}
# Room for the multipart framing and the form's other fields around an upload's bytes.
UPLOAD_OVERHEAD = 64 * 1024
# A downloaded file (an HTML page, an SVG) must not run script as this site, even if opened inline.
FILE_SECURITY_POLICY = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def error(status: int, message: str, code: str | None = None):
    """Return the one JSON error response: {"error": {"code", "message"}}."""
    return jsonify(serialize.error_json(code or ERROR_CODES.get(status, "error"), message)), status


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
    return jsonify(serialize.result_json(result))


@bp.get("/api/suggest")
def suggest():
    if "q" not in request.args:
        return error(400, "the q parameter is required (it may be empty)", "bad_query")
    try:
        text = query.single(request.args, "q")
        suggestions = spelling.complete(_searchers(), text, _settings(), scope=auth.scope())
    except query.QueryError as problem:
        return error(400, str(problem), "bad_query")
    return jsonify({"query": text, "suggestions": suggestions})


@bp.get("/api/documents/<doc_id>")
def document(doc_id: str):
    stored = query.get_document(_searchers(), doc_id, auth.scope())
    if stored is None:
        return error(404, f"no document with id {doc_id[:40]!r}")
    return jsonify(serialize.document_json(stored))


@bp.post("/api/documents")
def upload():
    auth.require_admin()
    limit = max_file_bytes(_settings())
    request.max_content_length = limit + UPLOAD_OVERHEAD
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        return error(413, f"the file is larger than the {limit / (1 << 20):g} MB limit (SEEDSEARCH_MAX_FILE_MB)")
    if upload is None:
        return error(400, "send the document as the multipart form field 'file'")
    replace = request.form.get("replace", "false").lower()
    if replace not in ("true", "false", "1", "0"):
        return error(400, "replace must be true or false")
    try:
        path = files.store(
            _settings(),
            request.form.get("folder", ""),
            upload.filename or "",
            upload.stream,
            replace in ("true", "1"),
            auth.scope(),
        )
    except files.Refused as refused:
        return error(refused.status, str(refused), refused.code)
    except indexer.IndexBusy:
        return error(409, f"the file is saved, but {WRITER_BUSY}; it is indexed by the next reindex", "index_busy")
    except FileNotFoundError:
        return error(500, CORPUS_MISSING, "corpus_missing")
    stored = query.get_document(_searchers(), indexer.doc_id(path), auth.scope())
    if stored is None:  # deleted again between its commit and this lookup
        return error(409, f"{path} was removed while it was being uploaded", "conflict")
    response = jsonify(serialize.document_json(stored))
    response.headers["Location"] = url_for("api.document", doc_id=stored["id"])
    return response, 201


@bp.delete("/api/documents/<doc_id>")
def delete(doc_id: str):
    auth.require_admin()
    stored = query.get_document(_searchers(), doc_id, auth.scope())
    if stored is None:
        return error(404, f"no document with id {doc_id[:40]!r}")
    try:
        files.remove(_settings(), stored["path"])
    except files.Refused as refused:
        return error(refused.status, str(refused), refused.code)
    except indexer.IndexBusy:
        return error(
            409, f"the file is deleted, but {WRITER_BUSY}; it leaves the index with the next reindex", "index_busy"
        )
    response = make_response("", 204)
    del response.headers["Content-Type"]  # no body: no type
    return response


@bp.get("/files/<doc_id>")
def original(doc_id: str):
    stored = query.get_document(_searchers(), doc_id, auth.scope())
    if stored is None:
        return error(404, f"no document with id {doc_id[:40]!r}")
    name = stored["path"].rpartition("/")[2]
    try:
        handle = files.original(_settings(), stored["path"])
    except (OSError, files.Refused):
        return error(404, f"{stored['path']} is no longer in the corpus")
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # send_file closes the handle once the response has been sent. Given an open file it knows
    # no size, so it would offer ranges it cannot serve: the size and times come from the handle.
    info = os.fstat(handle.fileno())
    etag = f"{info.st_mtime_ns:x}-{info.st_size:x}"
    response = send_file(
        handle,
        mimetype=mimetype,
        as_attachment=True,
        download_name=name,
        conditional=False,
        etag=etag,
        last_modified=info.st_mtime,
    )
    response.content_length = info.st_size
    # One range of bytes is served; any other Range (another unit, several ranges, one that
    # cannot be read) is ignored, as RFC 9110 allows, and so is a Range on an unchanged file (304).
    environ, wanted = request.environ, request.range
    single = wanted is not None and wanted.units == "bytes" and len(wanted.ranges) == 1
    if "HTTP_RANGE" in environ and (
        not single
        or not is_resource_modified(environ, etag=etag, last_modified=datetime.fromtimestamp(info.st_mtime, UTC))
    ):
        environ = {name: value for name, value in environ.items() if name != "HTTP_RANGE"}
    try:
        response = response.make_conditional(environ, accept_ranges=True, complete_length=info.st_size)
    except RequestedRangeNotSatisfiable:
        handle.close()
        raise
    response.headers["Content-Security-Policy"] = FILE_SECURITY_POLICY
    response.headers["Cache-Control"] = "private, no-cache"
    return response


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
            # An admin key with folders reindexes those alone: the summary names only their files.
            paths=auth.scope().folders,
        )
    except indexer.IndexBusy:
        return error(409, f"{WRITER_BUSY}; try again when it has finished")
    except FileNotFoundError:
        return error(500, CORPUS_MISSING, "corpus_missing")
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
        return request.path.startswith(("/api/", "/files/")) or request.path in ("/api", "/files", "/healthz", "/livez")

    @app.errorhandler(HTTPException)
    def http_error(problem: HTTPException):
        status, message = problem.code or 500, problem.description or problem.name
        response = make_response(error(status, message) if wants_json() else web.error_page(status, message))
        # Keep what the exception says besides its body: Allow on a 405, Retry-After on a 429.
        for name, value in problem.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        valid_methods = getattr(problem, "valid_methods", None)
        if valid_methods:  # a 405 names the methods the route does answer
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(query.QueryError)
    def bad_query(problem: query.QueryError):
        # Raised outside a view's own handling (the URL's encoding, checked before any view).
        return error(400, str(problem), "bad_query") if wants_json() else web.error_page(400, str(problem))

    @app.errorhandler(indexer.IndexUnreadable)
    def index_unreadable(problem: indexer.IndexUnreadable):
        log.error("%s", problem)  # the path is for the log, not the client
        if wants_json():
            return error(503, INDEX_UNREADABLE, "index_unreadable")
        return web.error_page(503, INDEX_UNREADABLE, title="Search is not available")

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
