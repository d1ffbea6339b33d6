"""Shared fixtures: every corpus and index lives in tmp_path."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from werkzeug.serving import WSGIRequestHandler, make_server

from search import create_app, indexer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A copy of the seed article seeds/ ships: tests never read the real seeds/, which a user fills.
SEED_DIR = Path(__file__).resolve().parent / "data"
TOKEN = "test-token-123"

# Fuzz tests: a fixed, bounded set of examples in CI; `pytest --hypothesis-profile=fuzz -k fuzz`
# hunts with thousands of fresh ones.
settings.register_profile(
    "ci", max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("fuzz", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


def write(root: Path, relpath: str, content: str | bytes, mtime: float | None = None) -> Path:
    """Write a corpus file, creating folders; bytes are written as they are."""
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass  # a line per request would only fill the captured log


@contextlib.contextmanager
def serving(app, quiet: bool = False) -> Iterator[str]:
    """Serve `app` from a real HTTP server on a free 127.0.0.1 port; yield its base URL."""
    handler = _QuietHandler if quiet else WSGIRequestHandler
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=httpd.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


class _MarkupAudit(HTMLParser):
    """Collect what in a page could run: script elements, event handlers, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.active: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and set(names) - {"src", "defer"}:
            self.active.append(f"<script {names}>")
        if tag in ("img", "svg", "iframe", "object", "embed", "base", "style"):
            self.active.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith(("javascript:", "data:text/html")):
                self.active.append(f"<{tag} {name}={value!r}>")


def assert_no_active_markup(page: str) -> None:
    """Fail if the page has inline script, event handlers, javascript: links or embedded objects."""
    audit = _MarkupAudit()
    audit.feed(page)
    assert audit.active == []
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert inline == []


@pytest.fixture(scope="session", autouse=True)
def keys_file(tmp_path_factory) -> Iterator[Path]:
    """Point every app and server the tests start at a keys file of their own (none: open), never instance/."""
    path = tmp_path_factory.mktemp("instance") / "keys.json"
    previous = os.environ.get("SEEDSEARCH_KEYS_FILE")
    os.environ["SEEDSEARCH_KEYS_FILE"] = str(path)
    yield path
    if previous is None:
        del os.environ["SEEDSEARCH_KEYS_FILE"]
    else:
        os.environ["SEEDSEARCH_KEYS_FILE"] = previous


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Return a small corpus: the seed article plus a few documents of each type."""
    root = tmp_path / "corpus"
    root.mkdir()
    for seed in SEED_DIR.iterdir():
        shutil.copy(seed, root / seed.name)
    write(root, "notes/moving.md", "# Moving abroad\n\nNotes on **relocation** and visas for skilled professionals.\n")
    write(
        root,
        "web/page.html",
        "<html><head><title>Aerodynamics primer</title><style>.x{color:red}</style></head>"
        "<body><h1>Wings</h1><p>Lift grows with the angle of attack until the wing stalls.</p>"
        "<script>var secret = 'scriptword';</script></body></html>",
    )
    write(
        root,
        "ru/novosti.txt",
        "Россия будет помогать иностранцам переехать в Россию.\nПрезидент России подписал указ.\n",
    )
    write(root, "hostile.txt", 'Beware <script>alert("x")</script> and <img src=x onerror=alert(1)> in text.\n')
    return root


@pytest.fixture
def index_dir(tmp_path: Path, corpus: Path) -> Path:
    """Return an index built from `corpus`."""
    target = tmp_path / "index"
    indexer.reindex(corpus, target)
    return target


@pytest.fixture
def app(corpus: Path, index_dir: Path):
    """Return the app configured on the tmp corpus and index, with an admin token."""
    return create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN})


@pytest.fixture
def client(app):
    """Return a test client."""
    return app.test_client()


def missing(reason: str) -> None:
    """Skip for want of a tool on a developer's machine; fail in CI (CI=true), which must have it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """Start Debian's Chromium once for the session, or skip (fail in CI) with the reason."""
    try:
        from playwright import sync_api
    except ImportError:
        missing("Playwright is not installed")
    executable = os.environ.get("SEEDSEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(executable, os.X_OK):
        missing(
            f"Chromium not found at {executable}: install Debian's chromium (.ci/run does) or set SEEDSEARCH_CHROMIUM"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
