"""Search semantics from issue 11: every word indexed, exact phrases, short tokens, all the words first, long queries."""

from __future__ import annotations

import re

import pytest
from conftest import write

from search import focus, indexer, query, snippets, spelling
from search.config import load

CONFIG = load({}, environ={})


DOCS = {
    "moved-in.txt": "The family moved in Moscow last spring and found a flat near the river.",
    "moved-to.txt": "The family moved to Moscow last spring and found a flat near the river.",
    "hamlet.txt": "To be, or not to be, that is the question: whether it is nobler in the mind to suffer.",
    "band.txt": "The Who played their loudest concert in London, and the crowd sang along.",
    "plain.txt": "Who could say which band played where? Nobody remembered it.",
    "il6.txt": "Interleukin IL-6 receptor signalling drives the acute phase response in the liver.",
    "il1.txt": "Interleukin IL-1 receptor signalling drives fever; the 6 patients improved.",
    "il10.txt": "Interleukin IL-10 limits the immune reaction.",
    "shock-sound.txt": "Shock-sound interaction was measured behind a blunt body.",
    "lyapunov.txt": "The Lyapunov method proves that periodic systems are stable.",
    "neoliberal.txt": "Neoliberal reforms cut tariffs and sold the railways.",
    "liberal.txt": "Liberal reforms of the courts came later.",
    "shock-only.txt": "The shock was measured, and the shock was measured twice: shock after shock.",
    "greek-all.txt": "Alpha, beta and gamma rays were seen.",
    "greek-two.txt": "Alpha and gamma: gamma rays, gamma counts, alpha counts.",
    "shock-apart.txt": "The shock stood still while the sound field was measured.",
    "vitd.txt": "Vitamin D deficiency weakens bones; sunlight and vitamin D supplements help.",
    "vitc.txt": "Vitamin C deficiency causes scurvy; a deficiency of vitamin C is rare today.",
    "type2.txt": "Type 2 diabetes follows insulin resistance; treatment starts with diet and exercise.",
    "type1.txt": "Type 1 diabetes is autoimmune; 2 injections of insulin a day are common in diabetes care.",
    "ru-phrase.txt": "Он переехал в Москву прошлой весной вместе с семьёй и друзьями.",
    "ru-other.txt": "Он переехал под Москву прошлой весной вместе с семьёй и друзьями.",
    "wing-lift.txt": "Lift on a swept wing falls as the angle grows past the stall.",
    "wing-only.txt": "A wing, a wing, a wing: the wing of the aircraft, wing after wing, wing and wing.",
    "lift-only.txt": "An elevator lift carries passengers; the lift stops at every floor of the lift shaft.",
    "email.txt": "Email campaigns reach customers.",
    "im.txt": "The im prefix means not.",
    "beijing.txt": "我爱北京天安门。",
    "tokyo.txt": "東京は日本の首都です。京都は古い都です。",
}


@pytest.fixture
def searchers(tmp_path):
    root = tmp_path / "corpus"
    for name, text in DOCS.items():
        write(root, name, text + "\n")
    indexer.reindex(root, tmp_path / "ix")
    return query.Searchers(tmp_path / "ix")


def ranked(searchers, q: str, **kwargs) -> list[str]:
    result = query.search(searchers, query.SearchRequest(q=q, **kwargs), CONFIG)
    return [hit.path for hit in result.hits]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"moved in Moscow"', ["moved-in.txt"]),
        ('"moved to Moscow"', ["moved-to.txt"]),
        ('"переехал в Москву"', ["ru-phrase.txt"]),
        ('"переехал под Москву"', ["ru-other.txt"]),
        ('"to be or not to be"', ["hamlet.txt"]),
    ],
)
def test_phrases_with_common_words_are_exact(searchers, q, expected):
    assert ranked(searchers, q) == expected


def test_a_phrase_pasted_across_lines_is_exact(searchers):
    for q in ('"moved in\nMoscow"', '"moved\r\nin Moscow"', '"moved in\tMoscow"'):
        assert ranked(searchers, q) == ["moved-in.txt"], repr(q)


def test_phrase_highlights_its_common_words(searchers):
    result = query.search(searchers, query.SearchRequest(q='"moved in Moscow"'), CONFIG)
    assert "<mark>moved in Moscow</mark>" in snippets.to_html(result.hits[0].snippet)


@pytest.mark.parametrize(
    ("q", "first"),
    [
        ("to be or not to be", "hamlet.txt"),
        ("the who", "band.txt"),
        ("IL-6 receptor", "il6.txt"),
        ("vitamin d deficiency", "vitd.txt"),
        ("type 2 diabetes", "type2.txt"),
    ],
)
def test_short_and_common_words_put_the_right_document_strictly_first(searchers, q, first):
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    assert result.hits[0].path == first
    assert len(result.hits) == 1 or result.hits[0].score > result.hits[1].score or result.total == 1


def test_il6_does_not_match_il1(searchers):
    assert "il1.txt" not in ranked(searchers, '"IL-6"')
    assert ranked(searchers, "IL-6") == ["il6.txt"]


def test_a_name_with_a_number_stays_exact(searchers):
    assert ranked(searchers, "IL-10") == ["il10.txt"]  # IL-6: test_il6_does_not_match_il1


def test_a_compound_word_finds_its_parts_apart_after_the_whole_word(searchers):
    # Unquoted, "shock-sound" is its parts (a document may write them apart), the exact word first.
    assert ranked(searchers, "shock-sound") == ["shock-sound.txt", "shock-apart.txt", "shock-only.txt"]
    assert ranked(searchers, '"shock-sound"') == ["shock-sound.txt"]


def test_a_compound_is_held_by_all_of_its_parts(searchers):
    # For the all-words tier, a compound counts when the document has it whole or every part of it.
    paths = ranked(searchers, "shock-sound measured")
    assert set(paths[:2]) == {"shock-sound.txt", "shock-apart.txt"} and paths[2:] == ["shock-only.txt"]
    # shock-only.txt has "twice" and "shock", not "sound": it does not hold every word.
    result = query.search(searchers, query.SearchRequest(q="shock-sound twice"), CONFIG)
    assert result.relaxed == "any" and "shock-only.txt" in {hit.path for hit in result.hits}


def test_a_group_in_brackets_is_held_by_all_of_its_words(searchers):
    result = query.search(searchers, query.SearchRequest(q="(alpha beta) gamma"), CONFIG)
    assert [hit.path for hit in result.hits] == ["greek-all.txt", "greek-two.txt"] and result.relaxed is None
    # greek-two.txt has alpha and counts but not beta, greek-all.txt no counts: none holds every word.
    assert query.search(searchers, query.SearchRequest(q="(alpha beta) counts"), CONFIG).relaxed == "any"


def test_a_compound_finds_the_word_written_joined(searchers):
    # And the documents with one of its parts: "liberal" weighs as much as "neoliberal" (bench/RESULTS.md).
    assert set(ranked(searchers, "neo-liberal")) == {"neoliberal.txt", "liberal.txt"}
    assert ranked(searchers, '"neo-liberal"') == []  # quoted: the exact sequence only
    # A single letter joined by a hyphen too: e-mail is email; "I'm" (an apostrophe) is not "im".
    assert ranked(searchers, "e-mail") == ranked(searchers, "e\u2010mail") == ["email.txt"]  # U+2010, a hyphen too
    assert ranked(searchers, "I'm") == []


def test_excluding_a_compound_leaves_out_the_compound_not_its_parts(searchers):
    assert ranked(searchers, "reforms -neo-liberal") == ["liberal.txt"]


def test_a_possessive_finds_the_word_itself(searchers):
    assert ranked(searchers, "Lyapunov's") == ["lyapunov.txt"]


def test_a_lone_common_word_is_answered(searchers):
    result = query.search(searchers, query.SearchRequest(q="the", per_page=20), CONFIG)
    having = {name for name, text in DOCS.items() if re.search(r"\bthe\b", text, re.IGNORECASE)}
    assert {hit.path for hit in result.hits} == having and result.total == len(having) > 5
    assert result.suggestion is None


@pytest.mark.parametrize("match", ["all", "any"])
def test_common_words_with_an_exclusion_are_answered(searchers, match):
    having = {name for name, text in DOCS.items() if re.search(r"\bthe\b", text, re.IGNORECASE)}
    for q in ("the -moscow", "the NOT moscow", '"the" -moscow'):
        result = query.search(searchers, query.SearchRequest(q=q, match=match, per_page=50), CONFIG)
        assert {hit.path for hit in result.hits} == having - {"moved-in.txt", "moved-to.txt"}, q
    result = query.search(searchers, query.SearchRequest(q="the who -london", match=match), CONFIG)
    assert result.total >= 1 and "band.txt" not in {hit.path for hit in result.hits}


def test_documents_with_all_the_words_come_first(searchers):
    # wing-only and lift-only repeat one word many times; BM25 alone could rank them above.
    paths = ranked(searchers, "wing lift")
    assert paths[0] == "wing-lift.txt"
    assert set(paths[1:]) == {"wing-only.txt", "lift-only.txt"}
    result = query.search(searchers, query.SearchRequest(q="wing lift"), CONFIG)
    assert result.relaxed is None


def test_no_document_with_every_word_says_so(searchers):
    result = query.search(searchers, query.SearchRequest(q="scurvy bones"), CONFIG)
    assert result.relaxed == "any" and {hit.path for hit in result.hits} == {"vitc.txt", "vitd.txt"}


def test_a_pasted_paragraph_is_answered_from_its_informative_words(searchers):
    paragraph = (
        "I have been reading about how the liver responds to inflammation, and I would like to know more "
        "about interleukin signalling through the receptor, in particular what the acute phase response is "
        "and which cytokines drive it. "
    )
    long_query = (paragraph * 20)[:3000]
    assert len(long_query) == 3000
    result = query.search(searchers, query.SearchRequest(q=long_query), CONFIG)
    assert result.hits[0].path == "il6.txt"
    assert result.suggestion is None  # no "did you mean" that echoes a whole paragraph back
    assert result.used_words is None or "liver" in result.used_words


def test_a_query_with_many_words_says_which_it_used(searchers):
    words = [f"word{i}" for i in range(focus.MAX_QUERY_TERMS + 10)] + ["liver", "receptor"]
    result = query.search(searchers, query.SearchRequest(q=" ".join(words)), CONFIG)
    assert result.used_words is not None and len(result.used_words) <= focus.MAX_QUERY_TERMS
    # Words the index has are the most informative; words it lacks are left out first.
    assert {"liver", "receptor"} <= set(result.used_words)
    assert result.hits[0].path == "il6.txt"


def test_what_a_query_asks_with_its_syntax_leaves_its_words_their_places(searchers):
    # Many exclusions or phrases take none of the MAX_QUERY_TERMS places of the plain words.
    excluded = " ".join(f"-nothing{i}" for i in range(focus.MAX_QUERY_TERMS + 1))
    result = query.search(searchers, query.SearchRequest(q=f"lyapunov {excluded}"), CONFIG)
    assert [hit.path for hit in result.hits] == ["lyapunov.txt"]
    phrases = " ".join(f'"nothing{i} else{i}"' for i in range(focus.MAX_QUERY_TERMS))
    result = query.search(searchers, query.SearchRequest(q=f"lyapunov {phrases}"), CONFIG)
    assert [hit.path for hit in result.hits] == ["lyapunov.txt"]


def test_a_long_query_is_focused_in_any_mode_and_when_relaxed(searchers):
    words = " ".join(f"word{i}" for i in range(focus.MAX_QUERY_TERMS + 10))
    result = query.search(searchers, query.SearchRequest(q=f"{words} liver", match="any"), CONFIG)
    assert result.used_words is not None and len(result.used_words) <= focus.MAX_QUERY_TERMS
    assert result.hits[0].path == "il6.txt"
    # Nothing matches: the relaxed query (any word, close spellings) is focused as well.
    names = " ".join(f"XQ-{i}" for i in range(300))
    result = query.search(searchers, query.SearchRequest(q=names), CONFIG)
    assert result.used_words is not None and len(result.used_words) <= focus.MAX_QUERY_SPLIT_WORDS


@pytest.mark.parametrize(
    ("q", "expected"),
    [("北京", ["beijing.txt"]), ("天安门", ["beijing.txt"]), ("京都", ["tokyo.txt"]), ("東京", ["tokyo.txt"])],
)
def test_chinese_and_japanese_words_are_found_inside_unspaced_text(searchers, q, expected):
    # Each ideograph or kana is a token, and a word of several is matched as the exact sequence:
    # 京 alone is in both documents, 北京 only in one, 京都 only where they stand side by side.
    assert ranked(searchers, q) == expected
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    snippet = result.hits[0].snippet
    assert [snippet.text[a:b] for a, b in snippet.marks] == [q]


def test_a_long_query_keeps_a_few_of_its_split_words_the_most_specific(searchers):
    # A pasted paragraph full of hyphenated words: each one would be matched as a phrase.
    common = [f"alpha-gamma{i}" for i in range(focus.MAX_QUERY_SPLIT_WORDS + 6)]
    filler = [f"word{i}" for i in range(focus.MAX_QUERY_TERMS)]
    q = " ".join([*common, "Lyapunov-method", *filler])
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    split = [word for word in result.used_words if "-" in word]
    assert len(split) == focus.MAX_QUERY_SPLIT_WORDS
    # Listed as typed; the rarest first (lyapunov is in one document, alpha in two), though typed last.
    assert "lyapunov-method" in split
    assert result.hits[0].path == "lyapunov.txt"


def test_no_suggestion_from_a_deleted_document(tmp_path):
    root = tmp_path / "corpus"
    write(root, "keep.txt", "Boundary layers on flat plates.\n")
    write(root, "gone.txt", "The hovercraft crossed the channel.\n")
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    assert query.search(searchers, query.SearchRequest(q="hovercraftt"), CONFIG).suggestion == "hovercraft"
    assert spelling.complete(searchers, "hoverc", CONFIG) == ["hovercraft"]
    (root / "gone.txt").unlink()
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    assert searchers.get().reader().has_deletions() or "hovercraft" not in list(
        searchers.get().reader().field_terms("words")
    )
    assert query.search(searchers, query.SearchRequest(q="hovercraftt"), CONFIG).suggestion is None
    assert spelling.complete(searchers, "hoverc", CONFIG) == []


def test_did_you_mean_is_for_short_queries(searchers):
    assert query.search(searchers, query.SearchRequest(q="receptr liver"), CONFIG).suggestion == "receptor liver"
    pasted = "the acute phase receptr response in the liver " * 3  # 24 words: a pasted passage
    assert query.search(searchers, query.SearchRequest(q=pasted), CONFIG).suggestion is None
