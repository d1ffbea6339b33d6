"""The JSON API: shapes, errors on every route, the reindex token rules."""

from __future__ import annotations

import pytest
from conftest import TOKEN, write

from search import create_app, indexer

ERROR_CASES = [
    ("get", "/api/search?q=", 400, "bad_query"),
    ("get", "/api/search?q=relocate&page=0", 400, "bad_query"),
    ("get", "/api/search?q=relocate&page=abc", 400, "bad_query"),
    ("get", "/api/search?q=relocate&per_page=-1", 400, "bad_query"),
    ("get", "/api/search?q=relocate&per_page=10000", 400, "bad_query"),
    ("get", "/api/search?q=relocate&after=2026-02-01&before=2026-01-31", 400, "bad_query"),
    ("get", "/api/search?q=relocate&sort=sideways", 400, "bad_query"),
    ("get", "/api/search?q=relocate&after=yesterday", 400, "bad_query"),
    ("get", "/api/search?q=*", 400, "bad_query"),
    ("get", "/api/search?q=-russia", 400, "bad_query"),
    ("get", "/api/search?q=" + "x" * 10_001, 400, "bad_query"),
    ("get", "/api/suggest?q=" + "x" * 10_001, 400, "bad_query"),
    ("post", "/api/suggest?q=rel", 405, "method_not_allowed"),
    ("get", "/api/documents/0123456789abcdef", 404, "not_found"),
    ("get", "/api/documents/..%2F..%2Fetc%2Fpasswd", 404, "not_found"),
    ("get", "/api/nothing-here", 404, "not_found"),
    ("get", "/api", 404, "not_found"),
    ("get", "/api/search?q=caf%E9", 400, "bad_query"),  # Latin-1, not UTF-8: not searched as "caf%E9"
    ("get", "/api/suggest?q=pu&q=zz", 400, "bad_query"),  # one q, or say so
    ("get", "/api/search?q=wing&folder=a&folder=b", 400, "bad_query"),  # one folder, or say so
    ("get", "/files", 404, "not_found"),
    ("post", "/api/search?q=x", 405, "method_not_allowed"),
    ("get", "/api/reindex", 405, "method_not_allowed"),
    ("post", "/api/reindex", 401, "unauthorized"),
    ("post", "/livez", 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "url", "status", "code"), ERROR_CASES)
def test_every_api_error_is_json(client, method, url, status, code):
    response = getattr(client, method)(url)
    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_search_shape(client):
    body = client.get("/api/search?q=putin").get_json()
    assert set(body) >= {"query", "total", "page", "per_page", "took_ms", "suggestion", "results"}
    assert body["query"] == "putin" and body["total"] == 1 and body["page"] == 1 and body["per_page"] == 10
    (hit,) = body["results"]
    assert set(hit) >= {"id", "title", "path", "url", "score", "snippet", "modified", "size", "type"}
    assert hit["path"] == "000_acc6ccc9b971d366.txt" and hit["type"] == "text" and hit["size"] == 2220
    assert hit["url"].startswith("/doc/" + hit["id"])
    assert "<mark>Putin</mark>" in hit["snippet"]
    assert hit["modified"].endswith("Z")


def test_a_page_past_the_end_is_empty_and_says_where_the_results_end(corpus, tmp_path):
    # Past the results window too: the results are counted, and only when they run on past the
    # window is the page out of reach.
    for number in range(12):
        write(corpus, f"more/{number}.txt", f"Note {number}\n\nAbout a wing.\n")
    indexer.reindex(corpus, tmp_path / "ix")
    app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(tmp_path / "ix"), "MAX_RESULTS_WINDOW": 10})
    client = app.test_client()
    for page in (3, 50, 999999999):
        body = client.get(f"/api/search?q=putin&per_page=5&page={page}").get_json()
        assert (body["total"], body["results"]) == (1, [])
    html = client.get("/search?q=putin&per_page=5&page=50").get_data(as_text=True)
    assert "The results end on page 1" in html
    many = client.get("/api/search?q=wing&per_page=1").get_json()["total"]
    assert many > 10  # more results than the window holds
    refused = client.get("/api/search?q=wing&per_page=1&page=11")
    assert refused.status_code == 400 and "beyond the first 10" in refused.get_json()["error"]["message"]
    assert client.get(f"/api/search?q=wing&per_page=1&page={many + 1}").status_code == 200


def test_sort_and_match_take_any_case(client):
    lower = client.get("/api/search?q=putin&sort=date&match=all").get_json()
    upper = client.get("/api/search?q=putin&sort=DATE&match=All").get_json()
    assert upper["total"] == lower["total"] == 1


def test_stemmed_variants_are_marked(client):
    body = client.get("/api/search?q=relocate").get_json()
    seed = next(hit for hit in body["results"] if hit["path"].startswith("000_"))
    assert "<mark>relocating</mark>" in seed["snippet"]


def test_pagination(client):
    first = client.get("/api/search?q=russia OR relocation OR lift&per_page=1").get_json()
    second = client.get("/api/search?q=russia OR relocation OR lift&per_page=1&page=2").get_json()
    assert first["total"] == second["total"] >= 2
    assert first["results"][0]["id"] != second["results"][0]["id"]


def test_document_endpoint(client):
    hit = client.get("/api/search?q=putin").get_json()["results"][0]
    body = client.get(f"/api/documents/{hit['id']}").get_json()
    assert body["path"] == hit["path"] and "Vladimir Putin" in body["text"]


@pytest.mark.parametrize("q", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "beware"])
def test_hostile_text_comes_back_escaped(client, q):
    body = client.get("/api/search", query_string={"q": q}).get_json()
    for hit in body["results"]:
        assert "<script" not in hit["snippet"] and "<img" not in hit["snippet"]
    hostile = client.get("/api/search?q=beware").get_json()["results"][0]
    assert "&lt;script&gt;" in hostile["snippet"] and "&lt;img" in hostile["snippet"]


def test_healthz(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["documents"] == 5


def test_livez_answers_without_an_index(tmp_path):
    client = create_app({"INDEX_DIR": str(tmp_path / "no-index")}).test_client()
    assert client.get("/livez").get_json() == {"status": "ok"}
    assert not (tmp_path / "no-index").exists()


def test_openapi(client):
    body = client.get("/api/openapi.json").get_json()
    assert body["openapi"].startswith("3.") and "/api/search" in body["paths"]


def test_reindex_disabled_without_token(corpus, index_dir):
    client = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": ""}).test_client()
    response = client.post("/api/reindex", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("header", ["", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_reindex_rejects_wrong_tokens(client, header):
    response = client.post("/api/reindex", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_reindex_makes_new_files_searchable_and_drops_deleted(client, corpus):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/search?q=ornithopter").get_json()["total"] == 0
    write(corpus, "added/new.md", "# Ornithopter\n\nFlapping-wing flight.\n")
    summary = client.post("/api/reindex", headers=auth).get_json()
    assert summary["added"] == 1 and summary["unchanged"] == 5
    assert client.get("/api/search?q=ornithopter").get_json()["total"] == 1
    (corpus / "added/new.md").unlink()
    assert client.post("/api/reindex", headers=auth).get_json()["deleted"] == 1
    assert client.get("/api/search?q=ornithopter").get_json()["total"] == 0


def test_reindex_while_another_runs_is_409(client, index_dir):
    from search import indexer

    with indexer.writer_lock(index_dir):
        response = client.post("/api/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"


def test_suggest_completes_the_last_word(client):
    body = client.get("/api/suggest?q=moving rel").get_json()
    assert body["query"] == "moving rel"
    # Most documents first, then alphabetical: each of these words is in one document.
    assert body["suggestions"] == ["moving relating", "moving relocating", "moving relocation"]
    for text in ["", "r", "moving ", "zzqx", '"', "title:"]:
        assert client.get("/api/suggest", query_string={"q": text}).get_json()["suggestions"] == []
    assert client.get("/api/suggest?q=Росс").get_json()["suggestions"] == ["России", "Россию", "Россия"]
    missing = client.get("/api/suggest")
    assert missing.status_code == 400 and "q parameter is required" in missing.get_json()["error"]["message"]


@pytest.mark.parametrize("q", ["title:moving", 'title:"moving abroad"', "title:moving visas"])
def test_a_title_search_is_marked_where_the_text_has_its_words(client, q):
    hit = client.get("/api/search", query_string={"q": q}).get_json()["results"][0]
    assert hit["path"] == "notes/moving.md" and hit["matches"] and "<mark>Moving" in hit["snippet"]


@pytest.mark.parametrize(
    ("q", "suggestion"), [("Rusia", "Russia"), ("relocatoin", "relocation"), ("relocatoin Rusia", "relocation Russia")]
)
def test_misspellings_get_a_suggestion_and_results(client, q, suggestion):
    body = client.get("/api/search", query_string={"q": q}).get_json()
    assert body["suggestion"] == suggestion
    assert body["relaxed"] == "fuzzy" and body["total"] >= 1


def test_a_suggestion_that_would_find_nothing_is_not_offered(client):
    assert client.get("/api/search?q=visaz").get_json()["suggestion"] == "visas"
    # The folder asked for holds no "visas": suggesting it would lead to another empty page.
    body = client.get("/api/search?q=visaz&folder=ru").get_json()
    assert body["total"] == 0 and body["suggestion"] is None


def test_an_unreadable_index_folder_is_a_503_that_says_so(app, index_dir, monkeypatch):
    # Tests run as root, who reads any folder: os.access stands for a folder at mode 000.
    monkeypatch.setattr(indexer.os, "access", lambda path, mode: str(path) != str(index_dir))
    client = create_app({"INDEX_DIR": str(index_dir)}).test_client()
    for path in ("/healthz", "/api/search?q=putin"):
        response = client.get(path)
        assert response.status_code == 503 and response.get_json()["error"]["code"] == "index_unreadable", path
        assert str(index_dir) not in response.get_data(as_text=True)  # messages never name a server path
    page = client.get("/search?q=putin")
    assert page.status_code == 503 and "cannot read its index folder" in page.get_data(as_text=True)
