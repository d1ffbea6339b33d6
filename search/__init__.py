"""Seedsearch: full-text search for a folder of documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the web application: defaults, then SEEDSEARCH_* variables, then `config`."""
    # Imported here, not with the package: the command line's `index` needs none of the web stack.
    from urllib.parse import unquote_to_bytes

    from flask import Flask, request

    from search import api, auth, evaluate, heap, web
    from search import config as settings
    from search.errors import ParameterError
    from search.searchers import Searchers

    app = Flask(__name__)
    # Outermost: a request counts as running until its response has been sent.
    app.extensions["heap"] = trimmer = heap.IdleTrimmer()
    app.wsgi_app = trimmer.wrap(app.wsgi_app)
    app.json.sort_keys = False  # keep the documented field order
    app.config["SEEDSEARCH"] = settings.load(config)
    # Requests carry no bodies worth more than this; larger ones get a JSON 413.
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    conf = app.config["SEEDSEARCH"]
    app.extensions["seedsearch"] = Searchers(conf["INDEX_DIR"], cache_entries=conf["RESULT_CACHE"])
    evaluate.set_array_cache(conf["ARRAY_CACHE_MB"])  # one cache per process, shared by its searches
    auth.init_app(app)  # first: every request's key is checked before any view runs
    app.register_blueprint(web.bp)
    app.register_blueprint(api.bp)
    api.register_error_handlers(app)

    @app.before_request
    def utf8_parameters():
        # Werkzeug keeps an escape that is not UTF-8 as its letters (`caf%E9` searched as "caf%E9",
        # finding nothing): a clear 400 instead.
        try:
            unquote_to_bytes(request.query_string).decode("utf-8")
        except UnicodeDecodeError:
            raise ParameterError("the URL's parameters are not valid UTF-8: percent-encode text as UTF-8") from None

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app
