"""Who is asking: API keys on every request, signing in to the pages, and the admin check.

With no key in the keys file the service is open, as it always was. Once it holds one, every
route but /healthz, /livez, static files and /login needs a key: the API as
`Authorization: Bearer KEY`, the pages through a session cookie set by /login. The caller's
Scope (search.scope) goes into every query function. Failed attempts from one client are
counted with the `limits` library (the core of Flask-Limiter) and answered 429 past
FAILURE_LIMIT; successful requests are never counted. Keys never reach a log or a page.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf import FlaskForm
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import TooManyRequests
from wtforms import PasswordField
from wtforms.validators import InputRequired, Length

from search import keys
from search import scope as scoping

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

# Endpoints anyone may reach, keys or not.
OPEN_ENDPOINTS = {"static", "api.healthz", "api.livez", "auth.login"}
FAILURE_LIMIT = parse("10/minute")  # wrong keys per client before 429, in each server process
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Caller:
    name: str | None  # the key's name; None when the service is open
    scope: scoping.Scope
    admin: bool


OPEN = Caller(None, scoping.EVERYTHING, admin=False)


class LoginForm(FlaskForm):
    key = PasswordField("Key", validators=[InputRequired(), Length(max=MAX_KEY_CHARS)])


class LogoutForm(FlaskForm):
    """Only its CSRF token: signing out is a POST from this site."""


class _Guard:
    """The keys file and the failed-attempt counter of one application."""

    def __init__(self, keys_file: str):
        self.store = keys.KeyStore(keys_file)
        self.failures = MovingWindowRateLimiter(MemoryStorage())


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with a Secure cookie whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)

    def open_session(self, app: Flask, request):
        # Flask opens the session before any view runs: once keys exist (perhaps created since this
        # worker started), it needs the secret now, or the request gets a session it cannot write.
        if not app.secret_key:
            try:
                configured = app.extensions["seedsearch_auth"].store.configured()
            except keys.KeysError:
                configured = False  # _authenticate reports the damaged file
            if configured:
                _ensure_secret_key()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Check every request's key, and add /login and /logout."""
    conf = app.config["SEEDSEARCH"]
    app.extensions["seedsearch_auth"] = _Guard(conf["KEYS_FILE"])
    app.session_interface = _SessionInterface()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    if conf["SECRET_KEY"]:
        app.secret_key = conf["SECRET_KEY"]
    app.register_blueprint(bp)
    app.before_request(_authenticate)

    @app.context_processor
    def signed_in():
        caller = g.get("caller", OPEN)
        signed = caller.name is not None and session.get("key") == caller.name
        return {"caller": caller, "logout_form": LogoutForm() if signed else None}


def _guard() -> _Guard:
    return current_app.extensions["seedsearch_auth"]


def caller() -> Caller:
    """Return who is asking (OPEN when the service needs no key)."""
    return g.get("caller", OPEN)


def scope() -> scoping.Scope:
    """Return the documents the caller may see."""
    return caller().scope


def require_admin() -> None:
    """Abort with 401 or 403 unless the caller may change the index (an admin key or SEEDSEARCH_ADMIN_TOKEN)."""
    if caller().admin:
        return
    if _configured():
        # _authenticate has let a valid key through, and it is not an admin key.
        abort(403, description="this key may search but not change the index; use an admin key")
    if not current_app.config["SEEDSEARCH"]["ADMIN_TOKEN"]:
        abort(
            403,
            description="changing the index over HTTP is disabled: set SEEDSEARCH_ADMIN_TOKEN or create an admin key",
        )
    if "Authorization" in request.headers:
        _throttle()
        _failed()
    abort(401, description="a valid 'Authorization: Bearer <token>' header is required")


def _configured() -> bool:
    try:
        return _guard().store.configured()
    except keys.KeysError as problem:
        # Fail closed: a damaged keys file must not open the service.
        log.error("%s", problem)
        abort(500, description="the server's keys file cannot be read; the error has been logged")


def _authenticate():
    g.caller = OPEN
    bearer = _bearer()
    if bearer is not None and _is_admin_token(bearer):
        if request.endpoint not in OPEN_ENDPOINTS:
            # A locked-out address is refused whatever it sends: were the right token let through,
            # guesses could go on at full speed and the right one would stand out from the 429s.
            _throttle()
        g.caller = Caller("admin token", scoping.EVERYTHING, admin=True)
        return None
    if request.endpoint in OPEN_ENDPOINTS or not _configured():
        return None
    _ensure_secret_key()
    if bearer is not None:
        _throttle()
        key = _guard().store.find(bearer)
        if key is None:
            _failed()
            return _unauthorized("this key is not valid (it may have been revoked)")
        g.caller = _caller(key)
        return None
    if "Authorization" in request.headers:
        return _unauthorized("use 'Authorization: Bearer <key>'")
    key = _from_session()
    # A cookie is sent with every request to the site, so on the API it counts only for reading:
    # changes need the Authorization header, which another site cannot make a browser send.
    if key is not None and (not _is_api() or request.method in SAFE_METHODS):
        g.caller = _caller(key)
        return None
    return _unauthorized("a key is required: send 'Authorization: Bearer <key>'")


def _caller(key: keys.Key) -> Caller:
    return Caller(key.name, scoping.of(key.folders), admin=key.admin)


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_CHARS:
        return None
    return token


def _is_admin_token(token: str) -> bool:
    expected = current_app.config["SEEDSEARCH"]["ADMIN_TOKEN"]
    # Constant-time comparison, so the token cannot be guessed byte by byte.
    return bool(expected) and hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode("utf-8"))


def _from_session() -> keys.Key | None:
    name, digest, sid = session.get("key"), session.get("sha256"), session.get("sid")
    if not isinstance(name, str) or not isinstance(digest, str) or not isinstance(sid, str):
        return None
    store = _guard().store
    key = store.named(name)
    # A key revoked (or revoked and created again under the same name) ends its sessions, and a
    # signed-out session stays ended even if its cookie was copied before it was cleared.
    if (
        key is None
        or not hmac.compare_digest(key.sha256.encode("ascii"), digest.encode("ascii", "replace"))
        or store.session_ended(sid)
    ):
        session.clear()
        return None
    return key


def _is_api() -> bool:
    # /files/ too: a download is fetched by scripts (curl -OJ) and answers errors in JSON like the API.
    return request.path in ("/api", "/files") or request.path.startswith(("/api/", "/files/"))


def _client() -> str:
    return request.remote_addr or "unknown"


def _throttle() -> None:
    """Abort with 429 if this client has had too many wrong keys lately."""
    if not _guard().failures.test(FAILURE_LIMIT, "keys", _client()):
        reset, _ = _guard().failures.get_window_stats(FAILURE_LIMIT, "keys", _client())
        retry = max(1, int(reset - time.time()) + 1)
        raise TooManyRequests(
            description=f"too many wrong keys from this address; try again in {retry} s",
            retry_after=retry,
        )


def _failed() -> None:
    _guard().failures.hit(FAILURE_LIMIT, "keys", _client())


def _unauthorized(message: str):
    if _is_api():
        from search import api

        response, status = api.error(401, message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="seedsearch"'
        return response, status
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _ensure_secret_key() -> None:
    """Give the app a secret for signing sessions: SEEDSEARCH_SECRET_KEY, or one kept beside the keys file."""
    app = current_app._get_current_object()  # noqa: SLF001 - Flask's documented way to the app behind the proxy
    if app.secret_key:
        return
    path = Path(app.config["SEEDSEARCH"]["KEYS_FILE"]).with_name("secret_key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # 0600
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)  # the first process to get here wins; the others read its secret
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    app.secret_key = path.read_text().strip()


def _next_page() -> str:
    """Return where to go after signing in: a path on this site only, never another site."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc:
        return url_for("web.search_page")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not _configured():
        return redirect(url_for("web.search_page"))
    _ensure_secret_key()
    form, status = LoginForm(), 200
    if request.method == "POST":
        if form.validate_on_submit():
            _throttle()
            key = _guard().store.find(form.key.data)
            if key is not None:
                session.clear()  # nothing from before signing in carries over
                session["key"], session["sha256"] = key.name, key.sha256
                session["sid"] = secrets.token_urlsafe(16)  # what signing out ends (keys.end_session)
                return redirect(_next_page())
            _failed()
            form.key.errors.append("That key is not valid.")
            status = 401
        else:
            status = 400
    return render_template("login.html", form=form, next=_next_page()), status


@bp.post("/logout")
def logout():
    if not _configured():  # an open service has no sessions (nor, perhaps, a secret to read one with)
        return redirect(url_for("web.search_page"))
    _ensure_secret_key()
    if not LogoutForm().validate_on_submit():
        abort(400, description="the sign-out form has expired; reload the page and try again")
    sid = session.get("sid")
    session.clear()  # whatever happens next, this browser is signed out
    if isinstance(sid, str):
        # The latest a copy of this cookie could still be accepted: signed now, valid for the lifetime.
        expires = datetime.now(UTC) + current_app.permanent_session_lifetime
        try:
            _guard().store.end_session(sid, expires)
        except keys.KeysError as problem:
            log.error("sign-out not recorded: %s", problem)
            from search import web

            return web.error_page(
                500,
                "You are signed out in this browser, but the server could not record it, so a copy of "
                "this browser's session cookie would still be accepted until the key is revoked. "
                "The error has been logged; tell whoever runs this server.",
                title="Signed out in this browser only",
            )
    return redirect(url_for("auth.login"))
