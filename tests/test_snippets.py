"""Snippets people trust: stems, whole phrases, the best passage anywhere, escaping."""

from __future__ import annotations

import time

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import indexer, query, snippets
from search.config import load

CONFIG = load({}, environ={})


def marked(html: str) -> list[str]:
    return [part.split("</mark>")[0] for part in html.split("<mark>")[1:]]


def terms(**by_lang) -> snippets.MatchTerms:
    return snippets.MatchTerms(terms={k: set(v) for k, v in by_lang.items()}, phrases={})


def test_stemmed_variants_are_marked():
    text = "We relocate. They relocated. Relocating is hard; relocation takes time."
    result = snippets.snippet(text, "en", terms(en={"reloc"}))
    assert marked(snippets.to_html(result)) == ["relocate", "relocated", "Relocating", "relocation"]


def test_phrase_is_marked_as_one_span_and_scattered_words_are_not():
    text = "The layer near the wall is thin. A boundary layer forms on the plate. Boundary conditions differ."
    match = snippets.MatchTerms(terms={}, phrases={"en": {("boundari", "layer")}})
    result = snippets.snippet(text, "en", match)
    assert marked(snippets.to_html(result)) == ["boundary layer"]


def test_a_text_no_longer_than_a_passage_is_shown_whole():
    # Not just the line the match is on, after an ellipsis: the whole note fits.
    text = '  A quote "and" an apostrophe in a note.\nIt ends hostile.\n'
    result = snippets.snippet(text, "en", terms(en={"hostil"}))
    assert result.text == text.strip() and marked(snippets.to_html(result)) == ["hostile"]
    assert [text[a:b] for a, b in result.matches] == ["hostile"]


def test_match_offsets_point_into_the_text():
    text = "Alpha beta gamma. Delta relocating epsilon."
    result = snippets.snippet(text, "en", terms(en={"reloc"}))
    (span,) = result.matches
    start, end = span
    assert text[start:end] == "relocating"


def test_best_passage_of_a_2mb_document_whose_only_match_is_near_the_end():
    filler = "Nothing to see in this sentence at all. " * 52_000
    text = filler + "At last the ornithopter flapped its wings. " + "Trailing words follow here. " * 50
    assert len(text) > 2_000_000
    started = time.perf_counter()
    result = snippets.snippet(text, "en", terms(en={"ornithopt"}))
    elapsed = time.perf_counter() - started
    assert marked(snippets.to_html(result)) == ["ornithopter"]
    assert snippets.to_html(result).startswith("… ") and snippets.to_html(result).endswith(" …")
    assert elapsed < 2.0  # only the windows around candidate hits are analysed


def test_a_rare_word_is_shown_beside_a_word_on_every_line():
    # "the" occurs thousands of times; the one "hovercraft" must still get its passage.
    text = "The cat sat on the mat by the door. " * 5_000 + "Then the hovercraft left the pier. " + "The end. " * 5_000
    result = snippets.snippet(text, "en", terms(en={"the", "hovercraft"}))
    shown = marked(snippets.to_html(result))
    assert "hovercraft" in shown and "the" in shown


def test_a_word_on_every_line_gets_its_passages_from_a_few_of_its_matches():
    text = "The cat sat on the mat by the door. " * 500
    spans, every = snippets.find_matches(text, "en", terms(en={"the"}))
    assert len(spans) > 1_000 and not every
    assert len(snippets._candidates(text, spans)) <= snippets.CANDIDATES_PER_WORD


def test_the_document_page_marks_every_match_up_to_a_bound(monkeypatch):
    text = "The cat sat on the mat by the door. " * 2_000  # 72,000 characters, 6,000 matches
    found = snippets.highlight_all(text, "en", terms(en={"the"}))
    assert len(found.marks) == 6_000 and not found.partial
    monkeypatch.setattr(snippets, "MAX_MARKS", 1_000)
    found = snippets.highlight_all(text, "en", terms(en={"the"}))
    assert len(found.marks) == 1_000 and found.partial and found.marks[0] == (0, 3)


def test_a_word_on_every_line_is_marked_through_the_whole_of_a_very_long_document(monkeypatch):
    # Past FULL_HIGHLIGHT_CHARS, the page analyses up to MAX_WINDOWS regions, spread over the
    # whole text, not over the first few thousand of a common word's occurrences, and says so.
    monkeypatch.setattr(snippets, "FULL_HIGHLIGHT_CHARS", 100_000)
    monkeypatch.setattr(snippets, "MAX_MARKS", 100_000)  # (the windows' reach, not the bound on marks)
    text = "The cat sat on the mat by the door. " * 20_000
    found = snippets.highlight_all(text, "en", terms(en={"the"}))
    assert found.marks[0][0] < len(text) * 0.05 and found.marks[-1][1] > len(text) * 0.95
    assert found.partial and len(found.marks) < 60_000
    rare = snippets.highlight_all(text + " A hovercraft.", "en", terms(en={"hovercraft"}))
    assert len(rare.marks) == 1 and not rare.partial  # every occurrence was looked at


def test_a_snippet_analyses_a_few_windows_of_a_word_on_every_line_and_all_of_a_rarer_ones():
    text = "The cat sat on the mat by the door. " * 2_000 + "A hovercraft. " + "The end. " * 2_000
    windows, _ = snippets._windows(text, {"th", "hove"}, snippets.SNIPPET_WINDOWS, snippets.DENSE_WINDOWS)
    assert len(windows) <= snippets.DENSE_WINDOWS + 1
    assert any(start <= text.index("hovercraft") < end for start, end in windows)
    shown = marked(snippets.to_html(snippets.snippet(text, "en", terms(en={"the", "hovercraft"}))))
    assert "hovercraft" in shown and "the" in shown


def test_fragments_are_cut_at_word_boundaries():
    words = " ".join(f"word{i}" for i in range(400))
    text = words + " relocating " + words
    html = snippets.to_html(snippets.snippet(text, "en", terms(en={"reloc"})))
    inner = html.removeprefix("… ").removesuffix(" …").replace("<mark>", "").replace("</mark>", "")
    tokens = inner.split()
    assert all(token.startswith("word") or token == "relocating" for token in tokens)
    assert all(token == "relocating" or token[4:].isdigit() for token in tokens)


def test_fragment_prefers_sentence_start():
    text = "First sentence is here. " * 20 + "The glider landed softly on the grass. More text. " * 3
    html = snippets.to_html(snippets.snippet(text, "en", terms(en={"glider"})))
    assert "The <mark>glider</mark> landed" in html
    assert html.startswith("… The ")


def test_no_ellipsis_where_only_whitespace_is_left_out():
    whole = snippets.snippet("\n  Notes on the glacier survey, day 3.\n\n", "en", terms(en=["glacier"]))
    assert snippets.to_html(whole) == "Notes on the <mark>glacier</mark> survey, day 3."
    unmatched = snippets.snippet("A short note.\n", "en", terms())
    assert snippets.to_html(unmatched) == "A short note."
    cut = snippets.snippet(
        "Intro.\n" + "Filler words here. " * 30 + "The glacier moved.\n", "en", terms(en=["glacier"])
    )
    assert snippets.to_html(cut) == "… The <mark>glacier</mark> moved."


@pytest.mark.parametrize(
    "hostile",
    ['<script>alert("x")</script>', "<img src=x onerror=alert(1)>", "&lt;b&gt;entity&lt;/b&gt;", '<svg onload="x()">'],
)
def test_document_text_is_always_escaped(hostile):
    text = f"Relocating {hostile} here."
    html = snippets.to_html(snippets.snippet(text, "en", terms(en={"reloc"})))
    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<b>" not in html
    assert html.count("<") == html.count("<mark>") + html.count("</mark>")
    whole = snippets.to_html(snippets.highlight_all(text, "en", terms(en={"reloc"})))
    assert whole.count("<") == whole.count("<mark>") + whole.count("</mark>")


def test_russian_inflections_are_marked():
    text = "Россия и России, Россией и о России."
    html = snippets.to_html(snippets.snippet(text, "ru", terms(ru={"росс"})))
    assert marked(html) == ["Россия", "России", "Россией", "России"]


def test_phrase_query_end_to_end(tmp_path):
    write(
        tmp_path / "c",
        "a.txt",
        "Laminar flow. The boundary layer on a flat plate, and a layer of paint on the boundary.\n",
    )
    indexer.reindex(tmp_path / "c", tmp_path / "ix")
    result = query.search(query.Searchers(tmp_path / "ix"), query.SearchRequest(q='"boundary layer"'), CONFIG)
    assert marked(snippets.to_html(result.hits[0].snippet)) == ["boundary layer"]


def test_the_search_returns_snippets_as_data_and_html_is_made_at_the_edge(tmp_path):
    write(tmp_path / "c", "a.txt", 'The <b>rover</b> & "lander" relocating slowly.\n')
    indexer.reindex(tmp_path / "c", tmp_path / "ix")
    (hit,) = query.search(query.Searchers(tmp_path / "ix"), query.SearchRequest(q="relocate"), CONFIG).hits
    found = hit.snippet
    assert found.text == 'The <b>rover</b> & "lander" relocating slowly.'  # the text as written, not HTML
    assert [found.text[start:end] for start, end in found.marks] == ["relocating"]
    body = 'The <b>rover</b> & "lander" relocating slowly.\n'
    assert [body[start:end] for start, end in found.matches] == ["relocating"]
    assert snippets.to_html(found) == (
        "The &lt;b&gt;rover&lt;/b&gt; &amp; &quot;lander&quot; <mark>relocating</mark> slowly."
    )


def test_marks_point_into_the_snippet_text_across_fragments():
    text = "The glider flew. " + "Filler words here. " * 40 + "A second glider landed. " + "More filler. " * 40
    found = snippets.snippet(text, "en", terms(en={"glider"}))
    assert found.text.startswith("The glider flew.") and " … " in found.text and found.text.endswith(" …")
    assert [found.text[start:end] for start, end in found.marks] == ["glider", "glider"]
    assert [text[start:end] for start, end in found.matches] == ["glider", "glider"]


def test_the_document_own_ellipsis_is_not_doubled():
    sentence = "The glider" + " and" * 50 + " paused…"
    text = "Filler words here. " * 30 + sentence + " More filler here." * 30
    found = snippets.snippet(text, "en", terms(en={"glider"}))
    assert found.text == "… " + sentence


def test_a_passage_with_the_phrase_beats_one_with_its_common_word_many_times():
    # `the who`: the phrase's passage shows both words; the others show `the` alone, however often.
    text = "The flow over the flap and the slat of the wing is studied in the tunnel. " * 8 + "\n\nThe Who played.\n"
    match = snippets.MatchTerms({"en": {"the", "who"}}, {"en": {("the", "who")}})
    found = snippets.snippet(text, "en", match)
    assert "The Who" in [found.text[a:b] for a, b in found.marks]


@given(text=st.text(alphabet=st.sampled_from(list("ab .!\n\t")), max_size=400), data=st.data())
def test_fragment_candidates_count_the_words_of_the_spans_wholly_inside(text, data):
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=40)))
    spans = snippets._merge([(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b])
    for distinct, count, _, start, end in snippets._candidates(text, spans):
        inside = [span for span in spans if span[0] >= start and span[1] <= end]
        words = {word for a, b in inside for word in text[a:b].lower().split()}  # a phrase's span shows each word
        assert (distinct, count) == (len(words), len(inside))


_hostile_text = st.lists(
    st.sampled_from([*"ab <>&;\"'/=\r\n\t\x00\x0c", "é", "€", "\ufffd", "&amp;", "<mark>", "</mark>", "<!--", "|~"]),
    max_size=30,
).map("".join)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_hostile_text, min_size=1, max_size=12), data=st.data())
def test_a_page_cleaned_in_one_bleach_call_equals_each_snippet_cleaned_alone(texts, data, monkeypatch_html):
    page = []
    for text in texts:
        cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=6)))
        marks = tuple((a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b)
        page.append(snippets.Snippet(text, marks))
    page.append(snippets.Snippet("the separator " + snippets.SPLIT + " itself, in a document", ((4, 13),)))
    monkeypatch_html()
    expected = [snippets.sanitize(snippets._markup(found)) for found in page]
    assert snippets.page_html(page) == expected
    assert snippets.page_html(page) == expected  # and again from what was kept
    assert [snippets.to_html(found) for found in page] == expected


@pytest.fixture
def monkeypatch_html(monkeypatch):
    """Return a function that gives snippets a fresh, empty store of HTML."""
    from search import cache

    return lambda: monkeypatch.setattr(snippets, "_HTML", cache.ResultCache(entries=2048))


_words_text = st.lists(
    st.sampled_from(
        [
            "the",
            "The",
            "of",
            "flow",
            "flows",
            "flowing",
            "boundary",
            "layers",
            "l'air",
            "Ünd",
            "x2",
            " ",
            "\n",
            ", ",
            ". ",
        ]
    ),
    max_size=60,
).map(" ".join)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_words_text, lang=st.sampled_from(["en", "fr", "de"]), data=st.data())
def test_matches_found_with_the_compiled_analyzer_equal_the_analyzers_own(text, lang, data, monkeypatch):
    stems = {"the", "of", "flow", "boundari", "layer", "air", "und", "x2"}
    match = snippets.MatchTerms(
        terms={lang: data.draw(st.sets(st.sampled_from(sorted(stems)), max_size=3))},
        phrases={lang: data.draw(st.sets(st.tuples(*[st.sampled_from(sorted(stems))] * 2), max_size=2))},
    )
    fast = snippets.find_matches(text, lang, match)
    with monkeypatch.context() as patch:
        patch.setattr(snippets, "compile_analyzer", lambda analyzer: None)  # Whoosh's analyzer, token by token
        assert snippets.find_matches(text, lang, match) == fast
