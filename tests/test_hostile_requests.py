"""Hostile queries and requests: always a 200 or a 4xx JSON error, quickly; never a 500 or a hang.

The table below is what the issue listed and what probing found slow or broken; the fuzz tests
throw generated parameters at every route. The same requests against the real gunicorn server
are in test_live.py.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import SEED_DIR, TOKEN, assert_no_active_markup, write
from hypothesis import given
from hypothesis import strategies as st
from whoosh import fields
from whoosh.collectors import TopCollector
from whoosh.filedb.filestore import RamStorage
from whoosh.query import Phrase

from search import create_app, deadline, expansion, indexer, parsing, query, spelling

TIME_LIMIT = 2.0
# Answered within the time limit plus what is not on its clock: parsing, snippets, rendering.
QUICK = TIME_LIMIT + 3.0
VOCABULARY = 4000


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    for seed in SEED_DIR.iterdir():
        write(root, seed.name, seed.read_bytes())
    write(root, "hostile.txt", 'Beware <script>alert("x")</script> and <img src=x onerror=alert(1)> in text.\n')
    write(root, "notes/moving.md", "# Moving abroad\n\nNotes on **relocation** and visas for skilled professionals.\n")
    # A vocabulary large enough that 'a*' and '*a*' have thousands of words to walk.
    words = [f"a{n:04d}" + "bcdefgh"[n % 7] * (n % 5) for n in range(VOCABULARY)]
    write(root, "vocabulary.txt", "Word list\n" + " ".join(words) + "\n")
    index_dir = tmp_path_factory.mktemp("index")
    indexer.reindex(root, index_dir)
    return create_app(
        {"CORPUS_DIR": str(root), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN, "SEARCH_TIME_LIMIT": TIME_LIMIT}
    )


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def seed_id(client) -> str:
    return client.get("/api/search?q=putin").get_json()["results"][0]["id"]


# (name, query) -> every one is answered 200 or 400 JSON within QUICK seconds.
HOSTILE_QUERIES = {
    "unbalanced quote": '"relocate',
    "unbalanced parens": "((relocate",
    "closing parens": "relocate)))",
    "lone star": "*",
    "lone question mark": "?",
    "prefix on a large vocabulary": "a*",
    "infix on a large vocabulary": "*a*",
    "leading wildcards": " ".join(f"*{c}*" for c in "abcdefghijklmnop"),
    "too many wildcards": " ".join(f"a{n}*" for n in range(20)),
    "too many fuzzy words": " ".join(f"relocat{n}~2" for n in range(20)),
    "unknown field": "nosuchfield:relocate",
    "empty field": "title:",
    "field on field": "title:title:relocate",
    "control characters": "relo\x01\x02\x1b[31mcate",
    "nul bytes": "relo\x00cate\x00",
    "only nul": "\x00\x00",
    "100 KB": "relocate " * 11_000,
    "501 characters": "x" * 501,
    "500 Cyrillic letters": "я" * 500,
    "500 emoji": "😀" * 500,
    "deep nesting": "(" * 240 + "relocate" + ")" * 240,
    "open nesting": "(" * 499 + "x",
    "NOT chain": "relocate " + "NOT " * 120,
    "only exclusions": "-relocate -russia",
    "long fuzzy word": "x" * 498 + "~2",
    "long plain word": "pressure" * 62,
    "huge edit distance": "relocate~99999999999999999999",
    "phrase of repeats": '"' + " ".join(["relocate", "russia"] * 40) + '"',
    "phrase slop": '"relocate russia"~5',
    "match everything": "*:*",
    "range syntax": "[a TO z]",
    "boost syntax": "relocate^99999",
    "bidi and zero-width": "\u202erelocate\u200d\u200b",
    "backslashes": '\\\\\\"\\(',
    "colons": ":" * 400,
    "dashes": "- " * 240,
    "quotes": '"' * 499,
    "question marks": "?" * 499,
    "tildes": "relocate" + "~" * 490,
    "html": '"><script>alert(1)</script><img src=x onerror=alert(1)>',
}


@pytest.mark.parametrize("q", HOSTILE_QUERIES.values(), ids=HOSTILE_QUERIES.keys())
def test_hostile_query_is_answered_quickly(client, q):
    started = time.perf_counter()
    response = client.get("/api/search", query_string={"q": q})
    assert time.perf_counter() - started < QUICK
    assert response.status_code in (200, 400) and response.is_json
    body = response.get_json()
    if response.status_code == 400:
        assert body["error"]["code"] == "bad_query" and body["error"]["message"]
    for hit in body.get("results", []):
        assert not re.search(r"<(?!/?mark>)", hit["snippet"])
    page = client.get("/search", query_string={"q": q})
    assert page.status_code == response.status_code


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (" ".join(f"a{n}*" for n in range(20)), "at most 16 wildcard and fuzzy words"),
        (" ".join(f"*{c}*" for c in "abcdefgh"), "match too many words together"),
        ("x" * 45 + "~", "at most 40 letters"),
    ],
)
def test_pattern_caps_are_explained(client, q, message):
    body = client.get("/api/search", query_string={"q": q}).get_json()
    assert message in body["error"]["message"]


def test_too_broad_relaxation_is_skipped_not_refused(client):
    # Twenty unknown words: relaxing each to a fuzzy word would be too much; the answer is "none".
    body = client.get("/api/search", query_string={"q": " ".join(f"zzqx{n}vvk" for n in range(20))}).get_json()
    assert body["total"] == 0 and body["relaxed"] is None


@pytest.mark.parametrize(
    "query_string",
    [
        "q=%ff%fe%fd",  # invalid UTF-8, percent-encoded
        "q=relo%c0%afcate",  # overlong encoding of '/'
        "q=%00",
        "q=relocate&page=999999999",
        "q=relocate&page=99999999999999999999999999",
        "q=relocate&page=" + "9" * 5000,  # past Python's int() digit limit
        "q=relocate&per_page=-1",
        "q=relocate&per_page=10000",
        "q=relocate&per_page=1e3",
        "q=relocate&page=%00",
        "q=relocate&after=99999-01-01",
        "q=relocate&after=2026-02-30",
        "q=relocate&before=0001-01-01T00:00:00%2B14:00",
        "q=relocate&after=9999-12-31T23:59:59.999999-14:00",
        "q=relocate&sort=%ff",
        "q=relocate&match=%00",
        "q=relocate&type=%3Cscript%3E",
        "q=relocate&folder=..%2F..%2Fetc",
        "q=relocate&q=second",
        "q[]=relocate",
    ],
)
def test_hostile_parameters(client, query_string):
    for route in ("/api/search", "/search"):
        started = time.perf_counter()
        response = client.get(f"{route}?{query_string}")
        assert time.perf_counter() - started < QUICK
        assert response.status_code in (200, 400), (route, response.status_code)
        if route == "/api/search":
            assert response.is_json


@pytest.mark.parametrize(
    "doc_id",
    [
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%252f..%252fetc%252fpasswd",
        "%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
        "....//....//etc/passwd",
        "..\\..\\etc\\passwd",
        "%00",
        "0123456789abcdef%00",
        "0123456789ABCDEF",
        "0123456789abcdef0",
        "/etc/passwd",
        "seed-article.txt",
        "000_acc6ccc9b971d366.txt",
    ],
)
def test_path_traversal_in_document_ids(client, doc_id):
    for route in ("/doc/", "/api/documents/"):
        response = client.get(route + doc_id)
        assert response.status_code == 404, (route, doc_id)
        body = response.get_data(as_text=True)
        assert "root:" not in body and "Vladimir Putin" not in body
        if route.startswith("/api/"):
            assert response.get_json()["error"]["code"] == "not_found"


def test_static_files_stay_in_their_folder(client):
    for path in ("/static/../api.py", "/static/..%2fapi.py", "/static/%2e%2e/__init__.py", "/static//etc/passwd"):
        response = client.get(path, follow_redirects=True)  # '//' is redirected to '/' first
        assert response.status_code == 404, path
        assert b"import" not in response.data


@pytest.mark.parametrize("name", ["endpoint", "_external", "_scheme", "_anchor", "_method", "_host"])
def test_url_builder_arguments_in_the_query_string_are_ignored(client, name):
    # Found by probing: the results page passed every URL parameter to url_for(), so
    # ?endpoint=x and ?_method=POST were 500s and ?_external=1 made links absolute to the Host header.
    for q in ("relocatoin", "russia OR relocation OR lift"):  # a suggestion link, pagination links
        response = client.get(
            "/search",
            query_string={"q": q, "per_page": 1, name: "javascript"},
            headers={"Host": "evil.example"},
        )
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "evil.example" not in page and 'href="javascript' not in page


def test_document_view_ignores_an_oversized_query(client, seed_id):
    started = time.perf_counter()
    response = client.get(f"/doc/{seed_id}", query_string={"q": "relocat* " * 12_000})
    assert response.status_code == 200 and time.perf_counter() - started < QUICK
    assert "<mark>" not in response.get_data(as_text=True)


# --- the time limit covers the whole search --------------------------------------------------------


def _phrase_index():
    schema = fields.Schema(body=fields.TEXT(phrase=True))
    ix = RamStorage().create_index(schema)
    with ix.writer() as writer:
        for n in range(300):
            writer.add_document(body=" ".join(["alpha", "beta"] * 20 + [f"w{n}"]))
    return ix


def test_phrase_matching_stops_at_the_deadline():
    # Whoosh's TimeLimitCollector looks at the clock only between hits; a phrase that matches
    # nothing walks every document before the first one. The clocked terms stop it anyway.
    ix = _phrase_index()
    phrase = deadline.ClockedPhrase("body", ["alpha", "alpha", "beta"])
    with ix.searcher() as searcher:
        context = searcher.context()
        context.deadline = deadline.Deadline(0)
        with pytest.raises(query.QueryError, match="took too long"):
            searcher.search_with_collector(phrase, TopCollector(10), context)
        context.deadline = deadline.Deadline(60)
        clocked = TopCollector(10)
        searcher.search_with_collector(deadline.ClockedPhrase("body", ["alpha", "beta"]), clocked, context)
        plain = searcher.search(Phrase("body", ["alpha", "beta"]), limit=10)
        assert [hit.docnum for hit in clocked.results()] == [hit.docnum for hit in plain]


def test_vocabulary_walks_stop_at_the_deadline(app):
    reader = app.extensions["seedsearch"].get().reader()
    for q in ("*a*", "a*", "zzzz~2"):
        expander = expansion.Expander(reader, ["en"], deadline.Deadline(0))
        with pytest.raises(query.QueryError, match="took too long"):
            expander.expand_all(parsing.parse(q))


def test_suggestions_are_skipped_when_out_of_time(app):
    searcher = app.extensions["seedsearch"].get()
    parsed = parsing.parse("relocatoin")
    assert spelling.suggest(searcher, parsed, "relocatoin", deadline.Deadline(60)) == "relocation"
    assert spelling.suggest(searcher, parsed, "relocatoin", deadline.Deadline(0)) is None


def test_search_counts_matches_on_the_clock(client):
    # Whoosh counts skipped matches by running the query again, off the clock; search() counts itself.
    body = client.get("/api/search?q=a0*&per_page=1").get_json()
    assert body["total"] == 1 and len(body["results"]) == 1
    one = client.get("/api/search?q=russia OR relocation OR beware&per_page=1").get_json()
    every = client.get("/api/search?q=russia OR relocation OR beware&per_page=100").get_json()
    assert one["total"] == every["total"] == len(every["results"]) == 3


def test_out_of_time_search_is_a_400_not_a_hang(app):
    settings_ = dict(app.config["SEEDSEARCH"], SEARCH_TIME_LIMIT=0.0)
    request = query.SearchRequest(q="relocate")
    uncached = query.Searchers(settings_["INDEX_DIR"])  # the app's may hold this result already
    with pytest.raises(query.QueryError, match="took too long"):
        query.search(uncached, request, settings_)


# --- fuzzing ----------------------------------------------------------------------------------------

SYNTAX = ['"', "(", ")", "*", "?", "~", "~2", "-", "NOT", "OR", "AND", "title:", "foo:", "^", "[", "]", "{", "}"]
WORDS = ["relocate", "russia", "putin", "a", "a0*", "beware", "script", "\x00", "\\", ":", "/", "..", "é", "Россия"]
query_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(SYNTAX + WORDS), st.text(max_size=8)), max_size=12).map(" ".join),
    st.lists(st.sampled_from(SYNTAX + WORDS), max_size=20).map("".join),
)
number = st.one_of(st.integers(-(10**12), 10**12).map(str), st.text(max_size=6), st.just(""))
optional_text = st.one_of(st.none(), st.text(max_size=12))
params = st.fixed_dictionaries(
    {"q": query_text},
    optional={
        "page": number,
        "per_page": number,
        "sort": st.one_of(st.sampled_from(["relevance", "date"]), st.text(max_size=8)),
        "match": st.one_of(st.sampled_from(["all", "any"]), st.text(max_size=8)),
        "type": st.one_of(st.sampled_from(["text", "markdown", "html"]), st.text(max_size=8)),
        "folder": st.one_of(st.sampled_from(["notes", "notes/", "/"]), st.text(max_size=8)),
        "after": st.one_of(st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=12)),
        "before": st.one_of(st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=12)),
    },
)


@given(params=params)
def test_fuzz_api_search_never_500(client, params):
    response = client.get("/api/search", query_string=params)
    assert response.status_code in (200, 400), (params, response.get_data(as_text=True)[:300])
    body = response.get_json()
    if response.status_code == 200:
        assert set(body) >= {"query", "total", "page", "per_page", "took_ms", "suggestion", "results"}
        assert body["query"] == params["q"]
        for hit in body["results"]:
            assert not re.search(r"<(?!/?mark>)", hit["snippet"])
    else:
        assert body["error"]["code"] == "bad_query"


@given(params=params)
def test_fuzz_search_page_never_500(client, params):
    response = client.get("/search", query_string=params)
    assert response.status_code in (200, 400), params
    assert_no_active_markup(response.get_data(as_text=True))


@given(doc_id=st.text(max_size=40), q=st.one_of(st.none(), query_text))
def test_fuzz_document_routes_never_500(client, doc_id, q):
    for route in ("/doc/", "/api/documents/"):
        response = client.get(
            route + quote(doc_id, safe=""), query_string={"q": q} if q is not None else None, follow_redirects=True
        )
        assert response.status_code == 404, (route, doc_id)


# --- headers, markup and the admin token -----------------------------------------------------------

PAGES = [
    "/",
    "/search?q=relocate",
    "/search?q=beware",
    "/search?q=*",
    "/doc/{seed}?q=relocate",
    "/doc/ffff",
    "/nowhere",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_forbids_inline_script(client, seed_id, path):
    response = client.get(path.format(seed=seed_id))
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert_no_active_markup(response.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/api/search?q=relocate", "/api/search?q=", "/healthz", "/api/openapi.json"])
def test_json_is_never_sniffed_as_html(client, path):
    response = client.get(path)
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_admin_token_is_compared_in_constant_time(client, monkeypatch):
    # hmac.compare_digest alone decides: what it answers is what the request gets, and it is
    # given the whole token and the whole expected value (no early exit on a prefix or a length).
    seen = []
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: seen.append((a, b)) or True)
    assert client.post("/api/reindex", headers={"Authorization": "Bearer nope"}).status_code == 200
    assert seen == [(b"nope", TOKEN.encode())]
    seen.clear()
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: seen.append((a, b)) or False)
    for header in (f"Bearer {TOKEN}", f"Bearer {TOKEN[:-1]}", "Bearer " + "é" * 3):
        assert client.post("/api/reindex", headers={"Authorization": header}).status_code == 401
    assert [a for a, _ in seen] == [TOKEN.encode(), TOKEN[:-1].encode(), ("é" * 3).encode()]


def test_admin_token_is_never_logged_or_echoed(client, caplog):
    caplog.set_level(logging.DEBUG)
    answers = [
        client.post("/api/reindex", headers={"Authorization": f"Bearer {TOKEN}"}),
        client.post("/api/reindex", headers={"Authorization": f"Bearer {TOKEN}x"}),
        client.post("/api/reindex", headers={"Authorization": f"Basic {TOKEN}"}),
    ]
    assert [a.status_code for a in answers] == [200, 401, 401]
    for answer in answers:
        assert TOKEN not in answer.get_data(as_text=True)
    assert TOKEN not in caplog.text


def test_unexpected_errors_are_logged_without_headers(client, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(query, "search", boom)
    response = client.get("/api/search?q=x", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert "simulated failure" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert TOKEN not in caplog.text


def test_index_path_is_not_leaked(client, app):
    index_dir = str(Path(app.config["SEEDSEARCH"]["INDEX_DIR"]))
    for path in ("/healthz", "/api/search?q=*", "/api/nothing", "/nothing"):
        assert index_dir not in client.get(path).get_data(as_text=True)
