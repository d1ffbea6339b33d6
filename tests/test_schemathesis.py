"""schemathesis, every check, against the real app on a live port: the API keeps its OpenAPI document.

A short profile (at most 50 examples per operation, deterministic generation) keeps it to seconds;
schemathesis tests the 6 operations other than the document itself. Run
`st run http://HOST:PORT/api/openapi.json --checks all` against a server for a longer hunt.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from conftest import TOKEN
from werkzeug.serving import WSGIRequestHandler, make_server

from search import create_app

MAX_EXAMPLES = 50
# The query language ("*", "-word") and the page-depth cap (page × per_page at most
# MAX_RESULTS_WINDOW) refuse some requests that no JSON schema can tell from good ones; the
# document lists that 400 (bad_query), so schema-valid searches may get it. Everywhere else
# a schema-valid request must succeed.
CONFIG = """
[[operations]]
include-path = "/api/search"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-path = "/api/documents/{{doc_id}}"
parameters = {{ "path.doc_id" = "{seed}" }}
"""


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass  # a line per request would only fill the captured log


@pytest.fixture
def live(corpus, index_dir):
    """Return the base URL of the app served by a real HTTP server on a free 127.0.0.1 port."""
    app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN})
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", app
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_schemathesis_finds_no_failure(live, tmp_path):
    base, app = live
    seed = app.test_client().get("/api/search?q=putin").get_json()["results"][0]["id"]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(seed=seed), encoding="utf-8")
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(config),
        "run", f"{base}/api/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--request-timeout", "10",
        "--no-color",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout and "Tested: 6" in done.stdout, done.stdout[-3000:]
