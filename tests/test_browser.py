"""The web page as people use it, driven in a real Chromium by Playwright.

One Chromium and one live server (a real HTTP server in a thread, on an ephemeral port) serve
the whole module. Each test gets fresh browser contexts that fail the test on any dialog,
JavaScript error, console error, failed asset or request leaving the server. Screenshots of
every state are saved in the test's tmp dir.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import missing, serving, write

from search import create_app, indexer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
AXE = Path(os.environ.get("SEEDSEARCH_AXE", ROOT / ".cache/npm/node_modules/axe-core/axe.min.js"))
SHARED_WORD = "harvest"
REPORTS = 15  # reports/*.txt; the rest of the harvest documents are notes/*.md
HARVESTS = 25
FIRST_DATE = datetime(2024, 3, 1, 12, tzinfo=UTC)
HOSTILE_NAME = 'beware <img src=x onerror="alert(3)">.txt'
CROPS = ("barley", "wheat", "rye", "oats", "maize")


def harvest_date(i: int) -> datetime:
    """Return the modification time of harvest document `i`."""
    return FIRST_DATE + timedelta(days=25 * i)


def build_corpus(root: Path) -> None:
    """Write the browser corpus: 25 harvest documents of two types in two folders, and oddities."""
    for i in range(1, HARVESTS + 1):
        crop = CROPS[i % len(CROPS)]
        paragraphs = [
            f"The {crop} {SHARED_WORD} in the northern valley began early this year.",
            f"Farmers brought in the {crop} before the autumn rains, and the {SHARED_WORD} festival followed.",
            "Storage barns were cleaned, weighed and recorded by the cooperative.",
        ]
        if i == 1:  # one long document, so that match navigation has somewhere to scroll
            filler = "Weather notes from the season, with rainfall, frost and sunshine recorded daily. " * 12
            paragraphs = [p for n in range(12) for p in (f"Part {n + 1}: the {SHARED_WORD} went on.", filler)]
        mtime = harvest_date(i).timestamp()
        if i <= REPORTS:
            body = f"Harvest report {i:02d}\n\n" + "\n\n".join(paragraphs) + "\n"
            write(root, f"reports/harvest-{i:02d}.txt", body, mtime)
        else:
            body = f"# Harvest notes {i:02d}\n\n" + "\n\n".join(paragraphs) + "\n"
            write(root, f"notes/harvest-{i:02d}.md", body, mtime)
    write(
        root,
        "aero/flow.txt",
        "Turbulence in the boundary layer\n\nTurbulence grows downstream of the transition point, "
        "where the laminar boundary layer breaks down into eddies of many sizes.\n",
    )
    write(
        root,
        f"hostile/{HOSTILE_NAME}",
        'Beware <script>window.pwned = 1; alert("script")</script> and '
        '<img src=x onerror="window.pwned = 2; alert(1)"> in plain text.\n',
    )
    write(
        root,
        "hostile/title.html",
        "<html><head><title>&lt;img src=x onerror=alert(2)&gt; beware</title></head>"
        "<body><p>Beware of titles that look like markup.</p></body></html>",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """Serve the app on the browser corpus from a real HTTP server; yield its base URL."""
    base = tmp_path_factory.mktemp("browser")
    corpus, index = base / "corpus", base / "index"
    build_corpus(corpus)
    indexer.reindex(corpus, index)
    app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index)})
    with serving(app) as url:
        yield url


DESKTOP = {"viewport": {"width": 1100, "height": 800}}


def new_context(browser, base_url: str, **options):
    """Return a browser context on the live server; waits fail after 5 s rather than 30."""
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(5000)
    return context


@pytest.fixture(scope="module")
def desktop(browser, server):
    """Return a desktop-sized browser context shared by the module's tests (contexts are slow to make)."""
    context = new_context(browser, server, **DESKTOP)
    yield context
    context.close()


class Watched:
    """Open pages that record every dialog, script error, console error, failed asset and foreign request."""

    def __init__(self, browser, base_url: str, shots: Path, desktop):
        self.browser, self.base_url, self.shots, self.desktop = browser, base_url, shots, desktop
        self.contexts = []
        self.pages = []
        self.problems: list[str] = []

    def page(self, **options):
        """Return a new page: in the shared desktop context, or in a new context made with `options`."""
        if options:
            context = new_context(self.browser, self.base_url, **options)
            self.contexts.append(context)
        else:
            context = self.desktop
        page = context.new_page()
        self.pages.append(page)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)
        page.on("request", self._request)
        page.on("response", self._response)
        return page

    def shot(self, page, name: str, full_page: bool = True) -> Path:
        """Save a screenshot of `page` in the test's tmp dir."""
        path = self.shots / f"{name}.png"
        page.screenshot(path=path, full_page=full_page)
        return path

    def _dialog(self, dialog) -> None:
        self.problems.append(f"dialog: {dialog.type} {dialog.message!r}")
        dialog.dismiss()

    def _console(self, message) -> None:
        # A 4xx page (a bad query) is logged as "Failed to load resource"; assets are checked in _response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _request(self, request) -> None:
        if not request.url.startswith((self.base_url + "/", "data:", "about:")):
            self.problems.append(f"request left the server: {request.url}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"asset failed: {response.status} {response.url}")

    def close(self) -> None:
        for page in self.pages:
            page.close()
        for context in self.contexts:
            context.close()


@pytest.fixture
def watched(browser, server, desktop, tmp_path) -> Iterator[Watched]:
    """Yield a page factory; fail the test if any page misbehaved."""
    pages = Watched(browser, server, tmp_path, desktop)
    try:
        yield pages
    finally:
        pages.close()
    assert pages.problems == []


@pytest.fixture
def page(watched):
    """Return a desktop-sized page with JavaScript on."""
    return watched.page()


def search_box(page):
    """Return the search box: a searchbox, or a combobox once script offers suggestions."""
    return page.get_by_label("Search the documents")


def result_titles(page) -> list[str]:
    return page.locator("ol.results > li h2 a").all_inner_texts()


def test_type_a_query_and_press_enter(page, watched):
    page.goto("/")
    box = search_box(page)
    assert box.evaluate("el => el === document.activeElement"), "the search box has focus on arrival"
    watched.shot(page, "home")
    box.type(SHARED_WORD)
    with page.expect_navigation():
        box.press("Enter")
    assert page.url.endswith(f"/search?q={SHARED_WORD}")
    assert box.input_value() == SHARED_WORD
    status = page.get_by_role("status")
    assert re.search(rf"^{HARVESTS} results for {SHARED_WORD} in (?:\d+|under 1) ms", status.inner_text())
    results = page.locator("ol.results > li")
    assert results.count() == 10
    first = results.first
    assert first.locator("mark").first.inner_text().lower() == SHARED_WORD
    assert re.fullmatch(r"(reports|notes)/harvest-\d\d\.(txt|md)", first.locator(".path").inner_text())
    assert first.locator(".type").inner_text() in ("text", "markdown")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", first.locator("time").inner_text())
    assert first.locator("h2 a").get_attribute("href").startswith("/doc/")
    watched.shot(page, "results")


def test_pagination_keeps_the_query_and_filters(page, watched):
    page.goto(f"/search?q={SHARED_WORD}&folder=reports&sort=date")
    first_page = result_titles(page)
    assert len(first_page) == 10
    with page.expect_navigation():
        page.get_by_role("link", name="Next").click()
    assert "page=2" in page.url
    assert search_box(page).input_value() == SHARED_WORD
    assert page.get_by_label("Folder").input_value() == "reports"
    assert page.get_by_label("Sort").input_value() == "date"
    second_page = result_titles(page)
    assert len(second_page) == REPORTS - 10 and not set(first_page) & set(second_page)
    pages = page.get_by_role("navigation", name="Result pages")
    assert pages.locator("[aria-current=page]").inner_text() == "2"
    assert pages.get_by_role("link", name="Next").count() == 0
    watched.shot(page, "results-page-2")
    with page.expect_navigation():
        page.get_by_role("link", name="Previous").click()
    assert result_titles(page) == first_page


def test_did_you_mean(page, watched):
    page.goto("/search?q=turbulense")
    suggestion = page.locator(".suggestion").get_by_role("link", name="turbulence")
    watched.shot(page, "did-you-mean")
    with page.expect_navigation():
        suggestion.click()
    assert search_box(page).input_value() == "turbulence"
    assert result_titles(page) == ["Turbulence in the boundary layer"]
    assert page.locator(".result mark").first.inner_text() == "Turbulence"


def test_document_view_highlights_and_walks_every_match(page, watched):
    page.goto(f"/search?q={SHARED_WORD}")
    report = page.get_by_role("link", name="Harvest report 01")
    while report.count() == 0:  # page through the results to the long document, wherever it ranks
        with page.expect_navigation():
            page.locator("a[rel=next]").click()
    results_url = page.url
    with page.expect_navigation():
        report.click()
    marks = page.locator(".document .text mark")
    total = marks.count()
    assert total == 13  # the title line and the twelve parts
    assert all(text.lower() == SHARED_WORD for text in marks.all_inner_texts())
    assert f"{total} matches" in page.locator(".match-nav").inner_text()
    watched.shot(page, "document")
    nxt = page.get_by_role("button", name="Next match")
    prev = page.get_by_role("button", name="Previous match")
    nxt.click()
    nxt.click()
    assert page.locator("mark.current").count() == 1
    assert marks.nth(1).get_attribute("class") == "current"
    assert "Match 2 of 13" in page.locator(".match-nav").inner_text()
    prev.click()
    prev.click()  # wraps around to the last match
    assert marks.nth(total - 1).get_attribute("class") == "current"
    page.wait_for_function(
        "() => { const r = document.querySelector('mark.current').getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= innerHeight; }"
    )
    page.keyboard.press("n")  # keyboard shortcut, outside the search box
    assert marks.nth(0).get_attribute("class") == "current"
    watched.shot(page, "document-match-1")
    with page.expect_navigation():
        page.get_by_role("link", name="Back to results").click()
    assert search_box(page).input_value() == SHARED_WORD
    assert page.url == results_url


def test_filters_and_sort(page, watched):
    page.goto(f"/search?q={SHARED_WORD}")
    page.get_by_text("Filters and sort").click()
    page.get_by_label("Type").select_option("markdown")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    assert set(page.locator(".result .type").all_inner_texts()) == {"markdown"}
    assert page.get_by_role("status").inner_text().startswith(f"{HARVESTS - REPORTS} results")
    watched.shot(page, "filter-type")

    page.get_by_label("Type").select_option("")
    page.get_by_label("Folder").fill("reports")
    after = harvest_date(10).date()
    page.get_by_label("Modified after").fill(after.isoformat())
    page.get_by_label("Sort").select_option("date")
    with page.expect_navigation():
        search_box(page).press("Enter")
    paths = page.locator(".result .path").all_inner_texts()
    assert paths == [f"reports/harvest-{i:02d}.txt" for i in range(REPORTS, 9, -1)]  # newest first
    dates = page.locator(".result time").all_inner_texts()
    assert dates == sorted(dates, reverse=True) and min(dates) >= after.isoformat()
    watched.shot(page, "filter-folder-date-sort")


def test_hostile_documents_run_no_script(watched):
    # Without the CSP, so that only the escaping stands between the documents and the browser.
    page = watched.page(bypass_csp=True, **DESKTOP)

    def inert() -> bool:
        return page.evaluate("() => window.pwned") is None and page.locator("img").count() == 0

    page.goto("/search?q=beware")
    assert page.locator(".result").count() == 2 and inert()
    assert "<script>" in " ".join(page.locator(".snippet").all_inner_texts())
    assert page.get_by_role("link", name="<img src=x onerror=alert(2)> beware").count() == 1
    assert page.get_by_text(HOSTILE_NAME.removesuffix(".txt")).count() >= 1
    watched.shot(page, "hostile-results")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile(r"^Beware <script>")).click()
    assert "window.pwned = 1" in page.locator(".document .text").inner_text() and inert()
    watched.shot(page, "hostile-document")
    # A query that is itself markup is shown as text: in the box, the status and the title.
    page.goto("/search?q=" + "%3Cimg%20src%3Dx%20onerror%3Dalert(4)%3E")
    assert search_box(page).input_value() == "<img src=x onerror=alert(4)>"
    assert "<img src=x onerror=alert(4)>" in page.get_by_role("status").inner_text()
    assert page.title().startswith("<img src=x onerror=alert(4)>") and inert()
    assert watched.problems == []  # no dialog, no console error, no script error
    # And the watch would have seen one: a dialog opened on purpose is caught.
    page.evaluate("() => alert('probe')")
    assert watched.problems == ["dialog: alert 'probe'"]
    watched.problems.clear()


def test_works_without_javascript(watched):
    page = watched.page(java_script_enabled=False, **DESKTOP)
    page.goto("/")
    assert page.get_by_role("searchbox", name="Search the documents").is_visible()
    search_box(page).fill(SHARED_WORD)
    with page.expect_navigation():
        search_box(page).press("Enter")
    assert page.locator(".result").count() == 10
    with page.expect_navigation():
        page.get_by_role("link", name="Next").click()
    assert "page=2" in page.url and page.locator(".result").count() == 10
    page.get_by_text("Filters and sort").click()  # <details> opens without script
    page.get_by_label("Type").select_option("markdown")
    with page.expect_navigation():
        page.get_by_role("button", name="Search").click()
    assert "page=" not in page.url, "changing a filter starts again at page 1"
    assert set(page.locator(".result .type").all_inner_texts()) == {"markdown"}
    watched.shot(page, "no-js-results")
    with page.expect_navigation():
        page.locator(".result h2 a").first.click()
    assert page.locator(".document .text mark").count() >= 3
    assert not page.get_by_role("button", name="Next match").is_visible()
    watched.shot(page, "no-js-document")


def test_search_as_you_type_suggests_index_words(page, watched):
    page.goto("/")
    search_box(page).press_sequentially("boundary tur", delay=20)
    options = page.locator("#q-suggestions option")
    options.first.wait_for(state="attached")
    assert options.evaluate_all("els => els.map(el => el.value)") == ["boundary turbulence"]
    assert search_box(page).get_attribute("list") == "q-suggestions"
    search_box(page).press_sequentially(" ")
    page.wait_for_function("() => !document.querySelector('#q-suggestions option')")


def test_empty_and_error_states(page, watched):
    page.goto("/search?q=zzyzzyqqq")
    assert "No results" in page.get_by_role("status").inner_text()
    assert page.get_by_role("heading", name="Nothing found").is_visible()
    watched.shot(page, "empty")
    response = page.goto("/search?q=*")
    assert response.status == 400
    alert = page.get_by_role("alert")
    assert "could not be run" in alert.inner_text() and "wildcard" in alert.inner_text()
    assert search_box(page).input_value() == "*"
    watched.shot(page, "error")


def test_keyboard_focus_is_visible(page):
    page.goto(f"/search?q={SHARED_WORD}")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement") and skip.is_visible()
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"


def test_readable_on_a_phone(watched):
    page = watched.page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto(f"/search?q={SHARED_WORD}")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "no sideways scrolling"
    box = search_box(page).bounding_box()
    assert box["width"] >= 200
    watched.shot(page, "phone-results", full_page=False)
    with page.expect_navigation():
        page.locator(".result h2 a").first.click()
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    watched.shot(page, "phone-document", full_page=False)


def test_dark_mode_follows_the_system(watched):
    page = watched.page(color_scheme="dark", **DESKTOP)
    page.goto(f"/search?q={SHARED_WORD}")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert sum(map(int, re.findall(r"\d+", background)[:3])) < 3 * 64, background
    watched.shot(page, "dark-results")


AXE_STATES = {
    "home": "/",
    # Relaxed results with a "did you mean", open filters and pagination.
    "results": f"/search?q={SHARED_WORD}+turbulense&type=text&sort=date",
    "empty": "/search?q=zzyzzyqqq&folder=nowhere",
    "error": "/search?q=*",
    "document": f"/search?q={SHARED_WORD}",  # then its first result, on its first match
    "missing": "/doc/ffffffffffffffff",
}
# Dark mode changes only colours; these states between them show every colour of the palette.
AXE_DARK_STATES = ("results", "error", "document")


@pytest.fixture(scope="session")
def axe() -> Path:
    """Return the path of axe-core's script, or skip (fail in CI) before starting any browser without it."""
    if not AXE.is_file():
        missing(f"axe-core is not installed at {AXE}: run `make axe` (needs npm)")
    return AXE


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations(axe, watched, scheme):
    page = watched.page(bypass_csp=True, color_scheme=scheme, **DESKTOP)
    states = AXE_STATES if scheme == "light" else AXE_DARK_STATES
    found = {}
    for state in states:
        page.goto(AXE_STATES[state])
        if state == "results":
            assert page.locator(".suggestion, .pagination, details[open]").count() == 3
        if state == "document":
            with page.expect_navigation():
                page.locator(".result h2 a").first.click()
            page.get_by_role("button", name="Next match").click()
        if scheme == "dark":  # the light states have their screenshots in the tests above
            watched.shot(page, f"axe-{state}-{scheme}")
        page.add_script_tag(path=str(axe))
        report = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        found[state] = [
            f"{v['impact']}: {v['id']} ({v['help']}) at {[node['target'] for node in v['nodes']][:3]}"
            for v in report["violations"]
        ]
        print(f"axe {report['testEngine']['version']} on {state}/{scheme}: {found[state] or 'no violations'}")
    # The issue asks for no serious or critical violations; the page has none of any impact, so keep it so.
    assert {state: problems for state, problems in found.items() if problems} == {}
