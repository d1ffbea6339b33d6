"""Signing in and out with a key in a real Chromium, against a live server with keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import serving
from test_keys import ENG_ONLY, HR_ONLY, build_corpus

from search import create_app, indexer, keys

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """Serve the two teams' corpus with keys from a real HTTP server; yield its URL and the keys."""
    base = tmp_path_factory.mktemp("keys-browser")
    build_corpus(base / "corpus")
    indexer.reindex(base / "corpus", base / "index")
    store = keys.KeyStore(base / "instance" / "keys.json")
    made = {"eng": store.create("eng", ["Eng"])[1], "hr": store.create("hr", ["HR"])[1]}
    app = create_app(
        {"CORPUS_DIR": str(base / "corpus"), "INDEX_DIR": str(base / "index"), "KEYS_FILE": str(store.path)}
    )
    with serving(app) as url:
        yield url, made


def test_sign_in_and_out_with_chromium(browser, served, tmp_path):
    base_url, made = served
    context = browser.new_context(base_url=base_url, viewport={"width": 1100, "height": 800})
    context.set_default_timeout(5000)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    try:
        page.goto("/search?q=budget")
        assert page.url.startswith(f"{base_url}/login?next=")
        page.screenshot(path=tmp_path / "sign-in.png")

        page.get_by_label("Key").fill("ssk_not-a-key")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "That key is not valid."
        page.screenshot(path=tmp_path / "wrong-key.png")

        page.get_by_label("Key").fill(made["eng"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base_url}/search?q=budget")  # back where the visitor was going
        assert "Signed in as eng" in page.locator("header").inner_text()
        titles = page.locator("ol.results > li .meta").all_inner_texts()
        assert titles and all("Eng/" in title for title in titles)
        assert HR_ONLY not in page.content()
        page.screenshot(path=tmp_path / "signed-in.png")

        # The cookie: HttpOnly (script cannot read it), SameSite=Lax, and no key in it.
        (cookie,) = context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and made["eng"] not in cookie["value"]
        assert page.evaluate("document.cookie") == ""

        # Completions come through the session too, from the key's folders only.
        box = page.get_by_label("Search the documents")
        box.fill("")
        box.press_sequentially(ENG_ONLY[:3], delay=20)
        options = page.locator("#q-suggestions option")
        options.first.wait_for(state="attached")
        assert options.evaluate_all("els => els.map(el => el.value)") == [ENG_ONLY]

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{base_url}/login")
        page.goto("/")
        assert page.url.startswith(f"{base_url}/login")
        page.screenshot(path=tmp_path / "signed-out.png")
    finally:
        context.close()
    assert problems == []
