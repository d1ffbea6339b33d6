"""The HTML pages: form, results, did-you-mean, document view, errors, headers."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import write
from flask import template_rendered
from markupsafe import Markup

from search import contract, create_app, indexer, web


def test_home_has_a_labelled_search_form(client):
    page = client.get("/").get_data(as_text=True)
    assert 'role="search"' in page and '<label for="q">' in page and 'method="get"' in page


def test_results_page(client):
    response = client.get("/search?q=relocate")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="relocate"' in page
    assert re.fullmatch(r"2 results for relocate in (?:\d+|under 1) ms", status(page))
    assert "<mark>relocating</mark>" in page
    assert "000_acc6ccc9b971d366.txt" in page


def status(page: str) -> str:
    """Return the text of the page's result count line, spaces collapsed."""
    line = re.search(r'<p class="status" role="status">(.*?)</p>', page, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", line).split())


@pytest.mark.parametrize("path", ["/search?q=%00relocating%07", "/search?q=%00%00", "/search?q=%1b[31mx"])
def test_control_characters_typed_never_reach_the_page(client, path):
    page = client.get(path).get_data()
    assert not any(byte in page for byte in (b"\x00", b"\x07", b"\x1b"))
    assert "\ufffd".encode() in page  # shown where they were, as a browser shows them


def test_one_result_is_singular(client):
    page = client.get("/search?q=putin").get_data(as_text=True)
    assert re.fullmatch(r"1 result for putin in (?:\d+|under 1) ms", status(page))


def test_past_the_last_page_links_back(client):
    response = client.get("/search?q=relocate&per_page=1&page=5")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.fullmatch(r"2 results for relocate in (?:\d+|under 1) ms", status(page))
    assert "No results on page 5" in page and "Nothing found" not in page
    back = re.search(r'<a href="([^"]+)">Go to the last page of results</a>', page).group(1)
    assert dict(parse_qsl(urlsplit(back.replace("&amp;", "&")).query)) == {
        "q": "relocate",
        "per_page": "1",
        "page": "2",
    }
    last = client.get(back.replace("&amp;", "&")).get_data(as_text=True)
    assert last.count('<li class="result">') == 1 and "No results on page" not in last


def test_without_an_index_the_page_says_how_to_build_it(tmp_path):
    client = create_app({"INDEX_DIR": str(tmp_path / "no-index")}).test_client()
    for url in ("/", "/search?q=wing", "/doc/0123456789abcdef"):
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 503 and response.mimetype == "text/html"
        assert "No documents indexed yet" in page and "python -m search index" in page
    assert not (tmp_path / "no-index").exists()


def test_query_is_escaped_when_echoed(client):
    page = client.get("/search", query_string={"q": '"><script>alert(1)</script>'}).get_data(as_text=True)
    assert "<script>alert(1)" not in page


def test_hostile_document_is_text(client):
    page = client.get("/search?q=beware").get_data(as_text=True)
    assert "&lt;script&gt;" in page and "<img src=x" not in page
    doc_id = re.search(r'href="/doc/([0-9a-f]{16})', page).group(1)
    doc = client.get(f"/doc/{doc_id}?q=beware").get_data(as_text=True)
    twice = client.get(f"/doc/{doc_id}?q=beware&q=text")
    assert twice.status_code == 400 and "q is given 2 times" in twice.get_data(as_text=True)
    assert "<mark>Beware</mark>" in doc and "<img src=x" not in doc and "&lt;script&gt;" in doc


def test_did_you_mean(client):
    page = client.get("/search?q=relocatoin").get_data(as_text=True)
    assert "Did you mean" in page and "relocation" in page


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


def links(page: str, path: str) -> list[dict[str, str]]:
    """Return the query parameters of every link to `path` in `page`."""
    hrefs = [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', page)]
    return [dict(parse_qsl(urlsplit(href).query, keep_blank_values=True)) for href in hrefs if href.startswith(path)]


def test_links_keep_the_search_and_drop_empty_parameters(client):
    url = "/search?q=russia+OR+relocate&type=&folder=&after=&before=2099-01-01&sort=relevance&per_page=1"
    page = client.get(url).get_data(as_text=True)
    expected = {"q": "russia OR relocate", "before": "2099-01-01", "per_page": "1"}
    searches = links(page, "/search")
    assert all("" not in params.values() and params.get("sort") != "relevance" for params in searches)
    assert {"page": "2", **expected} in searches  # page 2 and Next
    assert {"q": "russia OR relocate", "per_page": "1"} in searches  # Clear filters
    documents = links(page, "/doc/")
    assert documents and all(params == expected for params in documents)
    doc = client.get(re.search(r'href="(/doc/[^"]+)"', page).group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert expected in links(doc, "/search")  # back to the same results


@pytest.mark.parametrize(
    ("current", "last", "window"),
    [(1, 1, [1]), (1, 3, [1, 2, 3]), (4, 7, [1, 2, 3, 4, 5, 6, 7]), (5, 20, [1, None, 3, 4, 5, 6, 7, None, 20])],
)
def test_page_window(current, last, window):
    assert web.page_window(current, last) == window


def test_pages_stop_at_the_results_window(corpus, tmp_path):
    for number in range(12):
        write(corpus, f"more/{number}.txt", f"Note {number}\n\nAbout a wing.\n")
    indexer.reindex(corpus, tmp_path / "ix")
    app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(tmp_path / "ix"), "MAX_RESULTS_WINDOW": 10})
    page = app.test_client().get("/search?q=russia+OR+relocate+OR+wing&per_page=5").get_data(as_text=True)
    assert int(re.search(r"(\d+) results", page).group(1)) >= 11
    assert max(int(params.get("page", "1")) for params in links(page, "/search")) == 2
    assert "Page 2" in page and "Page 3" not in page


def test_the_document_page_marks_what_a_relaxed_search_matched(client):
    # Nothing is spelt `relocatng`: the search found close spellings, and the page it links to marks them.
    found = client.get("/api/search?q=relocatng").get_json()
    assert found["relaxed"] == "fuzzy"
    for hit in found["results"]:
        marked = set(re.findall(r"<mark>([^<]*)</mark>", hit["snippet"]))
        page = client.get(hit["url"]).get_data(as_text=True)
        assert marked and marked <= set(re.findall(r"<mark[^>]*>([^<]*)</mark>", page)), hit["path"]


def test_a_sort_in_any_case_shows_in_the_form(client):
    page = client.get("/search?q=wing&sort=DATE").get_data(as_text=True)
    assert '<option value="date" selected>' in page and "Clear filters" in page


def test_a_document_gone_from_the_results_links_back_to_them(client):
    page = client.get("/doc/0123456789abcdef?q=wing&type=text").get_data(as_text=True)
    assert "Back to the results" in page and {"q": "wing", "type": "text"} in links(page, "/search")
    assert "Go to search" in client.get("/doc/0123456789abcdef").get_data(as_text=True)


def test_a_bad_date_stays_in_its_box_and_gets_no_query_syntax_hint(client):
    page = client.get("/search?q=wing&after=2025-13-45").get_data(as_text=True)
    assert '<input name="after" type="text" value="2025-13-45">' in page  # a date input would drop it
    assert "must be a date like 2026-01-31" in page and "%2B" not in page
    assert "exact phrase" not in page  # the query syntax is not the problem
    later = client.get("/search?q=wing&after=2026-02-01&before=2026-01-01").get_data(as_text=True)
    assert "After is later than before" in later
    assert "exact phrase" in client.get("/search?q=-wing").get_data(as_text=True)  # the query's own problem


def test_the_form_keeps_filters_its_controls_cannot_show(client):
    # Apply sends the form again: several types, or a time with an offset, must go with it as they came.
    page = client.get("/search?q=wing&type=text&type=markdown&after=2026-01-08T12:00:00%2B02:00").get_data(as_text=True)
    assert re.findall(r'<option value="([^"]*)" selected>', page) == ["text,markdown"]
    assert '<input name="after" type="text" value="2026-01-08T12:00:00+02:00">' in page
    page = client.get("/search?q=wing&type=html&before=2026-02-01").get_data(as_text=True)
    assert re.findall(r'<option value="([^"]*)" selected>', page) == ["html"]
    assert '<input name="before" type="date" value="2026-02-01">' in page


def test_error_page_names_the_status(client):
    page = client.get("/doc/ffffffffffffffff").get_data(as_text=True)
    assert re.search(r"<h1>Not Found <[^>]+>\(404\)", page) and "There is no document with this id." in page


def test_relaxed_query_says_so(client):
    page = client.get("/search?q=relocating+zeppelinxyz").get_data(as_text=True)
    assert "showing documents with any of them" in page
    body = client.get("/api/search?q=relocating+zeppelinxyz").get_json()
    assert body["relaxed"] == "any" and body["total"] >= 1


def test_several_types_filter_and_stay_in_links(client):
    page = client.get("/search?q=relocate&type=markdown&type=HTML&per_page=1").get_data(as_text=True)
    assert re.fullmatch(r"1 result for relocate in (?:\d+|under 1) ms", status(page))
    assert [params.get("type") for params in links(page, "/doc/")] == ["markdown,HTML"]
    both = client.get("/search?q=relocate&type=markdown,Text").get_data(as_text=True)
    assert re.fullmatch(r"2 results for relocate in (?:\d+|under 1) ms", status(both))
    wrong = client.get("/search?q=relocate&type=spreadsheet")
    allowed = f"Type must be one of {', '.join(contract.TYPES)}, not &#39;spreadsheet&#39;"
    assert wrong.status_code == 400 and allowed in wrong.get_data(as_text=True)


def test_templates_mark_only_snippet_html_safe(app, client):
    seen = []
    with template_rendered.connected_to(lambda sender, template, context, **extra: seen.append(context), app):
        assert client.get("/search?q=relocate").status_code == 200
        document = re.search(r'href="(/doc/[^"]+)"', client.get("/search?q=putin").get_data(as_text=True)).group(1)
        assert "<mark>Putin</mark>" in client.get(document.replace("&amp;", "&")).get_data(as_text=True)
    # No page gets the Markup constructor, with which it could mark any text safe.
    assert len(seen) == 3 and all(value is not Markup for context in seen for value in context.values())
    with app.app_context(), pytest.raises(TypeError, match="snippets.Snippet"):
        web.snippet_html("<script>alert(1)</script>")


def test_a_result_from_the_cache_says_under_a_millisecond(client):
    first = client.get("/search?q=relocate").get_data(as_text=True)
    again = client.get("/search?q=relocate").get_data(as_text=True)  # the same page, from the result cache
    assert " 0 ms" not in first + again
    assert re.search(r"in under 1 ms", again)
