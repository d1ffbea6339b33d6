"""The HTML pages: form, results, did-you-mean, document view, errors, headers."""

from __future__ import annotations

import re


def test_home_has_a_labelled_search_form(client):
    page = client.get("/").get_data(as_text=True)
    assert 'role="search"' in page and '<label for="q">' in page and 'method="get"' in page


def test_results_page(client):
    response = client.get("/search?q=relocate")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="relocate"' in page
    assert 'role="status"' in page and "result" in page
    assert "<mark>relocating</mark>" in page
    assert "000_acc6ccc9b971d366.txt" in page


def test_query_is_escaped_when_echoed(client):
    page = client.get("/search", query_string={"q": '"><script>alert(1)</script>'}).get_data(as_text=True)
    assert "<script>alert(1)" not in page


def test_hostile_document_is_text(client):
    page = client.get("/search?q=beware").get_data(as_text=True)
    assert "&lt;script&gt;" in page and "<img src=x" not in page
    doc_id = re.search(r'href="/doc/([0-9a-f]{16})', page).group(1)
    doc = client.get(f"/doc/{doc_id}?q=beware").get_data(as_text=True)
    assert "<mark>Beware</mark>" in doc and "<img src=x" not in doc and "&lt;script&gt;" in doc


def test_did_you_mean(client):
    page = client.get("/search?q=relocatoin").get_data(as_text=True)
    assert "Did you mean" in page and "relocating" in page


def test_empty_state(client):
    page = client.get("/search?q=zzyzzyqqq").get_data(as_text=True)
    assert "Nothing found" in page


def test_bad_query_message(client):
    response = client.get("/search?q=*")
    assert response.status_code == 400
    assert "could not be run" in response.get_data(as_text=True)


def test_document_view_highlights_every_match(client):
    hit = client.get("/api/search?q=russia").get_json()["results"][0]
    page = client.get(hit["url"]).get_data(as_text=True)
    assert page.count("<mark>") >= 5 and "Back to results" in page


def test_unknown_document_is_404(client):
    assert client.get("/doc/../../etc/passwd").status_code == 404
    assert client.get("/doc/ffffffffffffffff").status_code == 404


def test_security_headers(client):
    response = client.get("/search?q=x")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
