"""The real server: gunicorn on a loopback port, with real reindexing processes beside it.

- searching through a full rebuild and an incremental reindex (bench.soak, small; the full
  run with thousands of documents and requests is marked slow);
- one writer: two indexers, an indexer and POST /api/reindex, two POSTs at once;
- hostile raw requests that a test client would normalise away, and the admin token in logs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from bench import soak
from bench.harness import (
    TOKEN,
    LiveServer,
    environment,
    expected_state,
    index_state,
    lock_holders,
    probe,
    run_cli,
    start_cli,
    wait_for,
    write_corpus,
    write_document,
)
from search import indexer

DOCS = 100
# Whether the other writer holds the lock is read from /proc/locks, without touching the lock.
needs_proc_locks = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")


def test_searching_through_a_rebuild_and_an_update(tmp_path):
    summary = soak.run(tmp_path, docs=80, requests=300, concurrency=3)
    print(json.dumps(summary))  # the figures, with pytest -s
    assert soak.ok(summary), json.dumps(summary, indent=2)


@pytest.mark.slow
def test_searching_through_reindexing_at_scale(tmp_path):
    summary = soak.run(tmp_path, docs=3000, requests=5000, concurrency=8)
    print(json.dumps(summary))
    assert soak.ok(summary), json.dumps(summary, indent=2)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A server with the product's own log format on a corpus of DOCS documents."""
    work = tmp_path_factory.mktemp("live")
    corpus, index_dir = work / "corpus", work / "index"
    write_corpus(corpus, DOCS)
    indexer.reindex(corpus, index_dir)
    with LiveServer(corpus, index_dir, work / "server.log", log_format=None) as server:
        yield server, corpus, index_dir


_edition = iter(range(1, 1000))


# Appended to each edited document: indexing is fast enough that 40 short edits take a fraction
# of a second, less than a second writer needs to start while the first still holds the lock.
FILLER = "\n" + " ".join(f"filler{i % 997} padding text for the lock tests." for i in range(4000)) + "\n"


def _edit(corpus: Path, count: int = 40) -> int:
    """Edit `count` documents so the next reindex has seconds of work; return the edition."""
    edition = next(_edition)
    for number in range(count):
        path = write_document(corpus, number, version=edition)
        with (corpus / path).open("a", encoding="utf-8") as file:
            file.write(FILLER)
    return edition


def _consistent(server: LiveServer, corpus: Path, index_dir: Path) -> None:
    assert index_state(index_dir) == expected_state(corpus)
    assert indexer.reindex(corpus, index_dir).unchanged == DOCS
    hits = server.get("/api/search", {"q": probe(7)}).json()["results"]
    assert [hit["path"] for hit in hits] == ["part-000/doc-00007.md"]


@needs_proc_locks
def test_two_indexers_at_once(site):
    server, corpus, index_dir = site
    _edit(corpus)
    env = environment(corpus, index_dir)
    first = start_cli("index", env=env)
    assert wait_for(lambda: lock_holders(index_dir), 120), "the first indexer never took the lock"
    second = run_cli("index", env=env)
    assert second.returncode == 1
    assert second.stderr.strip().count("\n") == 0 and "another reindex is running" in second.stderr
    assert "Traceback" not in second.stderr
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert "updated 40" in out
    _consistent(server, corpus, index_dir)


@needs_proc_locks
def test_indexer_and_http_reindex(site):
    server, corpus, index_dir = site
    # The command line first: the HTTP call gets a JSON 409.
    _edit(corpus)
    cli = start_cli("index", env=environment(corpus, index_dir))
    assert wait_for(lambda: lock_holders(index_dir), 120)
    answer = server.reindex()
    assert answer.status == 409 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"]["code"] == "conflict"
    assert str(index_dir) not in answer.body.decode()  # no server path reaches a client
    cli.communicate(timeout=600)
    assert cli.returncode == 0
    # The HTTP call first: the command line gets its one-line message.
    _edit(corpus)
    posted: list = []
    thread = threading.Thread(target=lambda: posted.append(server.reindex()))
    thread.start()
    assert wait_for(lambda: lock_holders(index_dir), 120)
    late = run_cli("index", env=environment(corpus, index_dir))
    assert late.returncode == 1 and "another reindex is running" in late.stderr
    thread.join(600)
    assert posted[0].status == 200 and posted[0].json()["updated"] == 40
    _consistent(server, corpus, index_dir)


def test_two_reindex_calls_at_once(site):
    server, corpus, index_dir = site
    _edit(corpus)
    start = threading.Barrier(2)
    answers: list = []

    def call():
        start.wait()
        answers.append(server.reindex())

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert sorted(a.status for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status == 200).json()
    assert winner["updated"] == 40
    assert next(a for a in answers if a.status == 409).json()["error"]["code"] == "conflict"
    _consistent(server, corpus, index_dir)


# Raw request lines: no client library gets to clean up '..', bad bytes or huge lines first.
# Malformed HTTP is refused by gunicorn itself, before the app, with its own small HTML page.
RAW = [
    (b"GET /api/search?q=%ff%fe%00 HTTP/1.1", {400}, "app"),  # not UTF-8
    (b"GET /api/search?q=relo%00cate%01%1b HTTP/1.1", {200}, "app"),
    (b"GET /api/search?q=" + quote("漢" * 500).encode() + b" HTTP/1.1", {200}, "app"),
    (b"GET /api/search?q=" + quote("😀" * 500).encode() + b" HTTP/1.1", {200}, "app"),
    (b"GET /api/search?q=" + b"x" * 10_001 + b" HTTP/1.1", {400}, "app"),  # over MAX_QUERY_CHARS
    (b"GET /api/search?q=relocate&page=999999999 HTTP/1.1", {200}, "app"),  # past the end: an empty page
    (b"GET /api/search?q=relocate&per_page=-1 HTTP/1.1", {400}, "app"),
    (b"GET /api/search?q=a%0d%0aSet-Cookie:%20x=1 HTTP/1.1", {200}, "app"),
    (b"GET /doc/../../etc/passwd HTTP/1.1", {404}, "app"),
    (b"GET /doc/..%2f..%2fetc%2fpasswd HTTP/1.1", {404}, "app"),
    (b"GET /doc/%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1", {404}, "app"),
    (b"GET /api/documents/../../etc/passwd HTTP/1.1", {404}, "app"),
    (b"GET /api/documents/..%252f..%252fetc%252fpasswd HTTP/1.1", {404}, "app"),
    (b"GET /static/../../search/api.py HTTP/1.1", {404}, "app"),
    (b"GET /static/..%2f..%2fsearch%2fapi.py HTTP/1.1", {404}, "app"),
    (b"GET /static/%2e%2e/%2e%2e/etc/passwd HTTP/1.1", {404}, "app"),
    (b"POST /api/search?q=x HTTP/1.1", {405}, "app"),
    (b"BREW /api/search HTTP/1.1", {405}, "app"),
    (b"GET http://evil.example/api/search?q=x HTTP/1.1", {200}, "app"),
    (b"GET /api/search?q=\xff\xfe HTTP/1.1", {400}, "gunicorn"),  # raw bytes, not percent-encoded
    (b"GET /api/search?q=x\x00 HTTP/1.1", {400}, "gunicorn"),
    (b"GET /api/search?q=" + b"x" * (1 << 20) + b" HTTP/1.1", {414}, "gunicorn"),  # past gunicorn's 1 MB
    (b"GET * HTTP/1.1", {400}, "gunicorn"),
    (b"GET /api/search?q=x HTTP/9.9", {400}, "gunicorn"),
]


def test_hostile_raw_requests(site):
    server, _, _ = site
    for line, statuses, answered_by in RAW:
        status, body = server.raw(line, timeout=30)
        assert status in statuses, (line[:80], status, body[:200])
        assert b"root:" not in body and b"import " not in body
        if answered_by == "app" and line.split(b" ", 2)[1].startswith((b"/api/", b"http://")):
            assert json.loads(body).keys() >= ({"error"} if status >= 400 else {"results"})
    for header in (b"X-Big: " + b"a" * 9000 + b"\r\n", b"X-Many: 1\r\n" * 200):
        assert server.raw(b"GET /api/search?q=x HTTP/1.1", header)[0] == 431
    assert server.raw(b"POST /api/reindex HTTP/1.1", b"Authorization: Bearer \xff\xfe\r\n")[0] == 401
    assert server.get("/healthz").status == 200
    assert "Traceback" not in server.log()


def test_idle_connections_do_not_hold_up_other_requests(site):
    # Each new connection held a thread for gunicorn's 5 s wait for its first bytes: behind 100
    # idle ones, /livez took 120 s (2 workers x 4 threads). search/server_config.py cuts that wait.
    server, _, _ = site
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(60)]
    try:
        started = time.monotonic()
        assert server.get("/livez").status == 200
        assert time.monotonic() - started < 10  # 35 s or more with gunicorn's own wait
    finally:
        for connection in idle:
            connection.close()


def test_admin_token_never_reaches_the_log(site):
    server, _, _ = site
    assert server.reindex().status == 200
    wrong = server.request("POST", "/api/reindex", headers={"Authorization": f"Bearer {TOKEN[:-1]}"})
    assert wrong.status == 401 and TOKEN not in wrong.body.decode()
    basic = server.request("POST", "/api/reindex", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status == 401
    log = server.log()
    assert TOKEN not in log and TOKEN[:-1] not in log
    assert "POST /api/reindex" in log  # the requests were logged, without their headers
