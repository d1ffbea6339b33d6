"""The query language, languages, relaxation and suggestions."""

from __future__ import annotations

from datetime import UTC, datetime
from os.path import commonprefix

import pytest
from conftest import write
from whoosh import query as query_module
from whoosh.spelling import ReaderCorrector

from search import expansion, indexer, parsing, query, scope, serialize, spelling
from search.config import load

CONFIG = load({}, environ={})


@pytest.fixture
def searchers(tmp_path):
    root = tmp_path / "corpus"
    write(root, "en/wings.txt", "Swept wings delay the onset of compressibility drag at high subsonic speeds.\n")
    write(root, "en/lift.txt", "Lift increases with the angle of attack until the wing stalls.\n")
    write(
        root,
        "en/boundary.md",
        "# Boundary layers\n\nThe boundary layer thickens along the plate; transition to turbulence follows.\n",
    )
    write(root, "en/heat.txt", "Heat transfer to a flat plate in hypersonic flow, measured in a shock tunnel.\n")
    write(root, "ru/a.txt", "Россия будет помогать иностранцам переехать в страну. Ёлка стоит во дворе.\n")
    write(root, "ru/b.txt", "Президент России подписал указ о сотрудничестве с Россией и соседями.\n")
    write(root, "fr/c.txt", "Les chercheurs étudient les écoulements hypersoniques autour des véhicules spatiaux.\n")
    write(root, "de/d.txt", "Die Forscher untersuchen die Strömungen um Flugzeuge bei hohen Geschwindigkeiten.\n")
    write(root, "el/e.txt", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και η μεγαλύτερη πόλη της.\n")
    indexer.reindex(root, tmp_path / "ix")
    return query.Searchers(tmp_path / "ix")


def paths(searchers, q, **kwargs):
    result = query.search(searchers, query.SearchRequest(q=q, **kwargs), CONFIG)
    return sorted(hit.path for hit in result.hits)


def indexed(tmp_path, files: dict[str, str]) -> query.Searchers:
    """Return searchers over an index of `files` (corpus path -> text)."""
    root = tmp_path / "corpus"
    for path, text in files.items():
        write(root, path, text)
    indexer.reindex(root, tmp_path / "ix")
    return query.Searchers(tmp_path / "ix")


def found_exactly(searchers, q: str) -> list[str]:
    """Return the paths `q` finds, in order, asserting it found them without relaxing."""
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    assert result.relaxed is None, q
    return [hit.path for hit in result.hits]


def marked(searchers, q: str) -> list[str]:
    """Return the marked words of the first hit's snippet for `q`."""
    hit = query.search(searchers, query.SearchRequest(q=q), CONFIG).hits[0]
    return [hit.snippet.text[start:end] for start, end in hit.snippet.marks]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("wing", ["en/lift.txt", "en/wings.txt"]),
        ("wings AND stalls", ["en/lift.txt"]),
        ("(hypersonic OR swept) AND plate", ["en/heat.txt"]),  # AND after a group is kept
        ("(plate) AND hypersonic", ["en/heat.txt"]),
        ("stalls OR (plate AND shock)", ["en/heat.txt", "en/lift.txt"]),
        ("(hypersonic OR swept)AND plate", ["en/heat.txt"]),  # an operator against a bracket
        ("plate AND(hypersonic OR swept)", ["en/heat.txt"]),
        ('"flat plate"AND hypersonic', ["en/heat.txt"]),  # and against a phrase's quotes
        ('plate AND"flat plate"', ["en/heat.txt"]),
        ('"the plate"-hypersonic', ["en/boundary.md"]),
        ("(plate OR stalls)-hypersonic", ["en/boundary.md", "en/lift.txt"]),
        ('"boundary layer"', ["en/boundary.md"]),
        ('"plate boundary"', []),
        ("plate OR stalls", ["en/boundary.md", "en/heat.txt", "en/lift.txt"]),
        ("plate -hypersonic", ["en/boundary.md"]),
        ("plate NOT hypersonic", ["en/boundary.md"]),
        ("compress*", ["en/wings.txt"]),
        ("turbulense~", ["en/boundary.md"]),
        ("title:boundary", ["en/boundary.md"]),
        ("title:layers", ["en/boundary.md"]),
        ("title:thickens", []),
        ("Россия", ["ru/a.txt", "ru/b.txt"]),
        ("россией", ["ru/a.txt", "ru/b.txt"]),
        ("елка", ["ru/a.txt"]),
        ("ёлки", ["ru/a.txt"]),
        ("hypersonique", ["fr/c.txt"]),
        ("ecoulement", ["fr/c.txt"]),
        ("strömung", ["de/d.txt"]),
    ],
)
def test_query_language(searchers, q, expected):
    assert paths(searchers, q) == expected


@pytest.mark.parametrize("q", ["αθηνα", "ΑΘΗΝΑ", "πρωτευουσα", "Αθηνα"])
def test_greek_is_found_without_its_accents(searchers, q):
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    assert [hit.path for hit in result.hits] == ["el/e.txt"] and result.relaxed is None  # not by close spellings


def test_documents_are_stemmed_in_their_own_language(searchers):
    reader = searchers.get().reader()
    assert set(expansion.languages(reader)) == {"en", "ru", "fr", "de"}


def test_all_words_relaxes_to_any(searchers):
    result = query.search(searchers, query.SearchRequest(q="stalls hypersonic"), CONFIG)
    assert result.relaxed == "any" and result.total == 2


@pytest.mark.parametrize(
    ("q", "suggestion", "paths"),
    [
        ("thikens", "thickens", ["en/boundary.md"]),
        ("tunnle", "tunnel", ["en/heat.txt"]),  # two letters swapped: one edit, as for the suggestion
        ("wnigs", "wings", ["en/lift.txt", "en/wings.txt"]),  # `wings`, stemmed: `wing` too
    ],
)
def test_fuzzy_relaxation_and_suggestion(searchers, q, suggestion, paths):
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    assert result.relaxed == "fuzzy" and sorted(hit.path for hit in result.hits) == paths
    assert result.suggestion == suggestion


def test_words_the_index_holds_are_not_relaxed_to_close_spellings(searchers):
    # `wing` is in the index: its documents are excluded, so nothing matches; `wind` or `wings`'
    # neighbours are not what was asked. A word the index lacks is still relaxed beside it.
    for q in ('wing -"angle of attack" -swept', "wing AND -stalls -swept"):
        result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
        assert (result.total, result.relaxed) == (0, None), q
    result = query.search(searchers, query.SearchRequest(q="thikens -hypersonic"), CONFIG)
    assert result.relaxed == "fuzzy" and [hit.path for hit in result.hits] == ["en/boundary.md"]
    # What is excluded stays as typed: `-turbulenc` (misspelt, in no document) excludes nothing,
    # where its close spelling `turbulence` would exclude the very document found.
    result = query.search(searchers, query.SearchRequest(q="thikens -turbulenc"), CONFIG)
    assert result.relaxed == "fuzzy" and [hit.path for hit in result.hits] == ["en/boundary.md"]
    assert str(
        parsing.fuzzy(query_module.AndNot(query_module.Term("text", "thikens"), query_module.Term("text", "turbulenc")))
    ) == ("(text:thikens~2 ANDNOT text:turbulenc)")


def test_fuzzy_with_no_edit_is_the_word_and_a_pattern_cannot_be_fuzzy(searchers):
    assert paths(searchers, "stalls~0") == ["en/lift.txt"]
    assert paths(searchers, "stall~0") == paths(searchers, "stall") == ["en/lift.txt"]
    exact = query.search(searchers, query.SearchRequest(q="thikens~0"), CONFIG)
    assert exact.relaxed == "fuzzy"  # as the word alone: nothing, then its close spellings
    assert query.search(searchers, query.SearchRequest(q="thikens~1"), CONFIG).relaxed is None
    for q in ("wing*~", "wing*~2", "w?ng~", "wing~2*", "(tur*b~1)", "(wing*)~", "wing*)~"):
        with pytest.raises(query.QueryError, match="both a pattern"):
            paths(searchers, q)
    # In a phrase, words are matched exactly: a mark on a word is a 400, not a search for its letters.
    for q in ('"wing*~ stalls"', '"the wing stall*"', '"w?ng stalls"', '"wing~ stalls"'):
        with pytest.raises(query.QueryError, match="inside quotes"):
            paths(searchers, q)
    assert paths(searchers, '"the wing stalls?"') == ["en/lift.txt"]  # a question mark after a word is punctuation


def test_completions_are_in_the_case_typed(searchers):
    assert spelling.complete(searchers, "THI", CONFIG) == ["THICKENS"]
    assert spelling.complete(searchers, "Thi", CONFIG) == ["Thickens"]
    assert spelling.complete(searchers, "tHi", CONFIG) == ["thickens"]
    assert spelling.complete(searchers, "РОСС", CONFIG)[0].isupper()
    # Two words that are one in upper case (ё and е are not; ß and ss are) are offered once.
    assert len(set(spelling.complete(searchers, "РОСС", CONFIG))) == len(spelling.complete(searchers, "РОСС", CONFIG))


@pytest.mark.parametrize(
    ("q", "suggestion"),
    [
        ("thikens -hypersonic", "thickens -hypersonic"),  # not clean()'s `NOT hypersonic`
        ("Thikens^2 plate?", "Thickens^2 plate?"),
        ('"boundary layr" -"shock tunnel"', '"boundary layer" -"shock tunnel"'),
    ],
)
def test_did_you_mean_keeps_the_query_as_typed(searchers, q, suggestion):
    assert query.search(searchers, query.SearchRequest(q=q), CONFIG).suggestion == suggestion


def test_stemming_forgives_some_misspellings(searchers):
    result = query.search(searchers, query.SearchRequest(q="turbulance"), CONFIG)
    assert result.relaxed is None and result.total == 1 and result.suggestion is None


@pytest.mark.parametrize(
    ("q", "suggestion"),
    [
        ("Compresibility", "Compressibility"),
        ("Boundry", "Boundary"),
        ("Hypersonik", "Hypersonic"),
        ("Swept Wingz", "Swept Wings"),
        ('"Swept Wingz"', '"Swept Wings"'),  # in a phrase, which finds nothing as typed
        ('"swept wings" compresibility', '"swept wings" compressibility'),
        ('"sweptt wings" -"high subsonik"', '"swept wings" -"high subsonik"'),  # an excluded phrase stays
        ("Rossia", None),  # no indexed word is within reach: no suggestion rather than a wild one
    ],
)
def test_capitalised_suggestion(searchers, q, suggestion):
    assert query.search(searchers, query.SearchRequest(q=q), CONFIG).suggestion == suggestion


def test_known_words_get_no_suggestion(searchers):
    assert query.search(searchers, query.SearchRequest(q="россией"), CONFIG).suggestion is None


WING = ["en/lift.txt", "en/wings.txt"]


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ('"unbalanced', []),
        ("((wing", WING),
        ("wing)))", WING),
        ("x (-y z)", []),
        ("a AND OR b", ["en/heat.txt"]),  # every word is indexed, "a" too
        ("title:", []),
        ("foo:bar", []),
        ("~", []),
        ('""', []),
        ("\x00wing\x07", WING),
        ("wing~9", ["en/heat.txt", *WING]),  # at most 2 edits: "in" is a word of heat.txt
        ("what is lift?", ["en/lift.txt"]),
        ("?lift?", ["en/lift.txt"]),  # '?' for quotes: a wildcard only inside a word
        ("l?ft", ["en/lift.txt"]),
        ("a - b", ["en/heat.txt"]),
        ("e-mail", []),
        ("[a TO b]", ["en/heat.txt"]),
        ("wing^3", WING),
        ("NOT NOT wing", WING),  # two NOTs cancel
        ("-(-wing)", WING),
        ("NOT (NOT wing)", WING),
        ("wing NOT NOT NOT lift", ["en/wings.txt"]),
        ('"NOT NOT wing', WING),  # after a quote left open
        ("ты", []),
        ("😀 wing", WING),
    ],
)
def test_odd_queries_are_answered(searchers, q, found):
    result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
    assert result.query == q and result.total == len(found)
    assert sorted(hit.path for hit in result.hits) == found


@pytest.mark.parametrize("q", ["*", "?*", "?", "-wing", "NOT wing", "NOT NOT", "   ", "NOT NOT NOT wing"])
def test_unanswerable_queries_are_query_errors(searchers, q):
    with pytest.raises(query.QueryError):
        query.search(searchers, query.SearchRequest(q=q), CONFIG)


def test_wildcard_expansion_is_capped(tmp_path):
    root = tmp_path / "corpus"
    words = " ".join(f"a{i:05d}" for i in range(expansion.MAX_SCANNED_WORDS + 10))
    write(root, "many.txt", words)
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    with pytest.raises(query.QueryError, match="too many words"):
        query.search(searchers, query.SearchRequest(q="a*"), CONFIG)
    assert query.search(searchers, query.SearchRequest(q="a0000*"), CONFIG).total == 1


def test_wildcard_and_fuzzy_words_are_the_most_frequent_over_every_segment(tmp_path, monkeypatch):
    # Each segment's vocabulary is walked on its own; a word's documents are counted in all of them.
    root = tmp_path / "corpus"
    for i in range(3):
        write(root, f"first/{i}.txt", f"zqbb zqcc note{i}\n")  # zqbb: 3 documents, all in the first segment
    write(root, "first/3.txt", "zqaa zqdd\n")
    indexer.reindex(root, tmp_path / "ix")
    for i in range(3):
        write(root, f"second/{i}.txt", f"zqaa zqcc other{i}\n")  # zqaa: 1 + 3, over both segments
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    reader = searchers.get().reader()
    assert len(reader.leaf_readers()) == 2
    expander = expansion.Expander(reader, ["en"], query.Deadline(10))
    by_frequency = sorted(["zqaa", "zqbb", "zqcc", "zqdd"], key=lambda w: (-reader.doc_frequency("words", w), w))
    assert by_frequency == ["zqcc", "zqaa", "zqbb", "zqdd"]  # 6, 4, 3, 1 documents
    assert expander._prefix_words("zq") == by_frequency
    assert expander._wildcard_words("zq?a") == ["zqaa"]
    assert expander._wildcard_words("*dd") == ["zqdd"]
    monkeypatch.setattr(expansion, "MAX_EXPANSIONS", 2)
    assert expander._prefix_words("zq") == ["zqcc", "zqaa"]
    assert expander._fuzzy_words(query_module.FuzzyTerm("words", "zqxx", maxdist=2, prefixlength=1)) == ["zqcc", "zqaa"]


def test_fuzzy_words_and_corrections_are_whooshs(tmp_path):
    # Measured in C over the vocabulary sharing the prefix: the words Whoosh's Levenshtein automaton
    # accepts walking each segment, and those one swap of neighbouring letters away (one edit here,
    # as in Lucene's FuzzyQuery, two in the automaton).
    from rapidfuzz.distance import OSA, Levenshtein

    root = tmp_path / "corpus"
    first = "pressure presure pressures press retrieval retreival receive recieve a ab abc"
    write(root, "one.txt", first + " cat cart carts tarc act\n")
    indexer.reindex(root, tmp_path / "ix")
    write(root, "two.txt", "Россия России росия pressing prestige x xy ёлка елка\n")
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    reader = searchers.get().reader()
    assert len(reader.leaf_readers()) == 2
    expander = expansion.Expander(reader, ["en"], query.Deadline(10))
    vocabulary = [word.decode() for word in reader.lexicon("words")]
    typed = ["presure", "retrieval", "recieve", "cat", "tac", "ab", "x", "россия", "елка", "prestgie", "zzz"]
    for text in typed:
        for maxdist in (1, 2):
            for prefix in sorted({0, 1, min(2, len(text))}):  # _fuzzy_words keeps the prefix within the word
                found = dict(expander._within(text, maxdist, prefix))
                automaton = set()
                for leaf, _ in reader.leaf_readers():
                    automaton.update(leaf.terms_within("words", text, maxdist, prefix=prefix))
                swapped = {
                    word
                    for word in vocabulary
                    if word[:prefix] == text[:prefix] and OSA.distance(word, text) <= maxdist
                }
                assert automaton <= set(found) == swapped, (text, maxdist, prefix)
                assert all(found[word] == reader.doc_frequency("words", word) for word in found)
    # One swap is one edit: more words than the automaton's.
    assert "prestige" in dict(expander._within("prestgie", 1, 1))
    assert {"cat", "act"} <= set(dict(expander._within("act", 1, 0)))
    assert "retrieval" in dict(expander._within("retreival", 1, 1))
    # Did-you-mean measures in C too, with Whoosh's own distance (a transposition is one edit there):
    # the same words as Whoosh's corrector but the word itself, ranked closest first, then by how many
    # of the edits are swaps, then by the first letters they share with it, then most frequent.
    ours = spelling.VocabularyCorrector(reader, reader.frequency)
    whooshs = ReaderCorrector(reader, "words", reader.schema["words"])
    for text in typed:
        for maxdist in (1, 2):
            for prefix in sorted({0, 1, min(2, len(text))}):
                found = ours.suggest(text, 100, maxdist, prefix)
                assert sorted(found) == sorted(set(whooshs.suggest(text, 100, maxdist, prefix)) - {text})
                ranks = [
                    (
                        OSA.distance(word, text),
                        OSA.distance(word, text) - min(Levenshtein.distance(word, text), 9),  # more swaps first
                        -min(len(commonprefix((word, text))), 9),
                        -reader.frequency("words", word),
                    )
                    for word in found
                ]
                assert ranks == sorted(ranks), (text, maxdist, prefix)
    assert ours.suggest("retreival", 1, 1, 1) == ["retrieval"]


def test_did_you_mean_prefers_the_closest_word_then_the_one_sharing_more_first_letters(tmp_path):
    root = tmp_path / "corpus"
    write(root, "a.txt", "The receiver must sign. Every receiver signs.\n")
    write(root, "b.txt", "A receiver of parcels.\n")
    write(root, "c.txt", "You will receive the parcel tomorrow.\n")
    indexer.reindex(root, tmp_path / "ix")
    result = query.search(query.Searchers(tmp_path / "ix"), query.SearchRequest(q="recieve"), CONFIG)
    assert result.suggestion == "receive"  # one swap away; *receiver* is two edits
    write(root, "d.txt", "Every form is reviewed. Reviewed twice, reviewed again, reviewed by all.\n")
    indexer.reindex(root, tmp_path / "ix")
    result = query.search(query.Searchers(tmp_path / "ix"), query.SearchRequest(q="recieved"), CONFIG)
    # Two edits from *receive*, *receiver* and the more frequent *reviewed*: the first two by a swap.
    assert result.suggestion in ("receive", "receiver")
    write(root, "e.txt", "Ten of them saw the ten cats; the the the.\n")
    indexer.reindex(root, tmp_path / "ix")
    result = query.search(query.Searchers(tmp_path / "ix"), query.SearchRequest(q="teh cats"), CONFIG)
    assert result.suggestion == "the cats"  # a swap, where *ten* is a letter changed and shares more


def test_the_words_under_a_prefix_are_walked_once_per_index_generation(tmp_path, monkeypatch):
    from rapidfuzz.distance import Levenshtein

    root = tmp_path / "corpus"
    write(root, "one.txt", "pressure presure pressures press prestige retrieval receive\n")
    indexer.reindex(root, tmp_path / "ix")
    walks = []
    walk = expansion.vocabulary_words

    def counted(reader, prefix, keep, check=None):
        walks.append(prefix)
        return walk(reader, prefix, keep, check)

    monkeypatch.setattr(expansion, "vocabulary_words", counted)
    searchers = query.Searchers(tmp_path / "ix")

    def close(text: str, maxdist: int = 1) -> list[str]:
        return list(expansion.close_words(searchers.get().reader(), text, maxdist, 1, Levenshtein.distance))

    assert close("presure") == ["pressure", "presure"]
    assert close("presure") == ["pressure", "presure"] and walks == ["p"]
    assert close("prestgie", 2) == ["prestige"] and walks == ["p"]  # another word, the same letter
    assert close("recieve", 2) == ["receive"] and walks == ["p", "r"]
    with pytest.raises(query.QueryError, match="took too long"):  # kept words, but out of time
        list(
            expansion.close_words(
                searchers.get().reader(), "presure", 1, 1, Levenshtein.distance, query.Deadline(0).check
            )
        )
    # A misspelling's correction (another distance) and its fuzzy relaxation walk nothing more.
    result = query.search(searchers, query.SearchRequest(q="prestgie"), CONFIG)
    assert (result.relaxed, result.total, result.suggestion) == ("fuzzy", 1, "prestige")
    assert walks == ["p", "r"]
    # A new generation is walked again, and finds its new words.
    write(root, "two.txt", "presures\n")
    indexer.reindex(root, tmp_path / "ix")
    assert close("presure") == ["pressure", "presure", "presures"] and walks == ["p", "r", "p"]
    # A walk of more words than may be kept, or past the number of prefixes kept, is walked again.
    monkeypatch.setattr(expansion, "MAX_KEPT_WALK_WORDS", 1)  # "r": receive, retrieval
    assert close("rceive") == ["receive"] and close("rceive") == ["receive"]
    assert walks == ["p", "r", "p", "r", "r"]
    monkeypatch.setattr(expansion, "MAX_KEPT_WALK_WORDS", 100)
    monkeypatch.setattr(expansion, "MAX_KEPT_WALKS", 1)
    close("rceive")  # kept, and "p" forgotten
    close("presure")
    close("rceive")
    assert walks == ["p", "r", "p", "r", "r", "r", "p", "r"]


def test_completions_rank_by_the_documents_shown(tmp_path):
    # Two segments and deletions: Whoosh's frequencies still count the deleted documents, and a
    # folder's key sees only its own; completions are ranked by the documents shown, as if every
    # candidate were counted, though the counting stops early.
    root = tmp_path / "corpus"
    counts = {"zqa": 5, "zqb": 4, "zqc": 3, "zqd": 2, "zqe": 1}
    for word, n in counts.items():
        for i in range(n):
            write(root, f"{'hr' if i % 2 else 'eng'}/{word}{i}.txt", f"{word} filler{i}\n")
    indexer.reindex(root, tmp_path / "ix")
    for i in range(5):
        (root / f"{'hr' if i % 2 else 'eng'}/zqa{i}.txt").unlink()  # zqa: 5 in Whoosh's counts, none shown
    (root / "eng/zqb0.txt").unlink()
    write(root, "hr/zqe9.txt", "zqe zqe\n")
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    searcher = searchers.get()
    assert len(searcher.reader().leaf_readers()) == 2 and searcher.reader().has_deletions()
    everything, hr = scope.EVERYTHING, scope.of(["hr"])
    for shown in (everything, hr):
        visible = scope.visible(searcher, shown)
        words = [w.decode() for w in searcher.reader().expand_prefix("words", "zq")]
        expected = sorted((-visible.doc_frequency("words", w), w) for w in words if visible.holds("words", w))
        for limit in (1, 2, 3, 8):
            got = spelling.complete(searchers, "zq", CONFIG, limit=limit, scope=shown)
            assert got == [w for _, w in expected[:limit]], (shown, limit)
    assert spelling.complete(searchers, "zq", CONFIG, limit=3) == ["zqb", "zqc", "zqd"]  # 3, 3 and 2 shown
    assert spelling.complete(searchers, "zq", CONFIG, limit=2, scope=hr) == ["zqb", "zqc"]


def test_filters_and_sort(searchers):
    assert paths(searchers, "plate", filters=query.Filters(types=("markdown",))) == ["en/boundary.md"]
    assert paths(searchers, "plate", filters=query.Filters(types=("text",))) == ["en/heat.txt"]
    assert paths(searchers, "plate", filters=query.Filters(types=("markdown", "text"))) == [
        "en/boundary.md",
        "en/heat.txt",
    ]
    assert paths(searchers, "россия", filters=query.Filters(folder="ru")) == ["ru/a.txt", "ru/b.txt"]
    assert paths(searchers, "россия", filters=query.Filters(folder="en")) == []
    result = query.search(searchers, query.SearchRequest(q="plate OR wing", sort="date"), CONFIG)
    dates = [hit.modified for hit in result.hits]
    assert dates == sorted(dates, reverse=True)


def test_filter_on_more_matches_than_a_page(tmp_path):
    # Once the top-N heap is full, Whoosh skips blocks by quality, which crashed on filtered queries.
    root = tmp_path / "corpus"
    for i in range(25):
        ext = "md" if i % 2 else "txt"
        write(root, f"f{i % 3}/doc{i:02d}.{ext}", f"Harvest {i}: the harvest came in. " * (1 + i % 4) + "\n")
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")
    for filters, expected in [
        (query.Filters(types=("text",)), 13),
        (query.Filters(types=("markdown",)), 12),
        (query.Filters(folder="f1"), 8),
    ]:
        result = query.search(searchers, query.SearchRequest(q="harvest", per_page=5, filters=filters), CONFIG)
        assert result.total == expected and len(result.hits) == 5


def test_date_filters_take_whole_days_and_honour_offsets(tmp_path):
    root = tmp_path / "corpus"
    noon = datetime(2026, 1, 31, 12, tzinfo=UTC).timestamp()
    write(root, "a.txt", "Quarterly harvest figures.\n", mtime=noon)
    write(root, "b.txt", "Earlier harvest figures.\n", mtime=noon - 3 * 86400)
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix")

    def found(**args):
        return paths(searchers, "harvest", filters=query.parse_request({"q": "harvest", **args}).filters)

    assert found(before="2026-01-31") == ["a.txt", "b.txt"]
    assert found(after="2026-01-31", before="2026-01-31") == ["a.txt"]
    assert found(after="2026-01-31T13:00:00+02:00") == ["a.txt"]  # 11:00 UTC
    assert found(after="2026-01-31T13:00:00") == []  # naive means UTC


def test_results_are_cached_for_one_index_state(tmp_path):
    root = tmp_path / "corpus"
    write(root, "a.txt", "Gliders soar on thermals.\n")
    indexer.reindex(root, tmp_path / "ix")
    searchers = query.Searchers(tmp_path / "ix", cache_entries=8)
    request = query.SearchRequest(q="gliders")
    first = query.search(searchers, request, CONFIG)
    again = query.search(searchers, request, CONFIG)
    assert serialize.result_json(again) | {"took_ms": 0} == serialize.result_json(first) | {"took_ms": 0}
    assert len(searchers.results) == 1
    write(root, "b.txt", "More gliders, and sailplanes.\n")
    indexer.reindex(root, tmp_path / "ix")
    assert query.search(searchers, request, CONFIG).total == 2  # a commit is a new index state
    (root / "b.txt").unlink()
    indexer.reindex(root, tmp_path / "ix")  # deletions only: same segments, new state
    assert query.search(searchers, request, CONFIG).total == 1
    indexer.reindex(root, tmp_path / "ix", rebuild=True)
    assert query.search(searchers, request, CONFIG).total == 1
    searchers.close()


def test_a_long_query_tells_a_scoped_key_nothing_of_other_folders_words(tmp_path):
    # The words a long query keeps (used_words) are those the key's documents hold: a word only
    # another folder has is left out as a word no document has, whatever the mode.
    searchers = indexed(
        tmp_path, {"aero/wing.txt": "The wing of a glider.\n", "secret/plan.txt": "The zeppelin plan.\n"}
    )
    filler = " ".join(f"filler{i}" for i in range(70))
    for match in ("all", "any"):
        request = query.SearchRequest(q=f"wing zeppelin {filler}", match=match)
        scoped = query.search(searchers, request, CONFIG, scope.of(["aero"]))
        assert scoped.used_words == ["wing"], match
        assert query.search(searchers, request, CONFIG).used_words == ["wing", "zeppelin"], match


def test_a_query_is_prepared_once_per_index_state_and_evaluated_every_time(tmp_path, monkeypatch):
    root = tmp_path / "corpus"
    write(root, "hang/a.txt", "Gliders soar on thermals over the ridge.\n")
    write(root, "club/b.txt", "The club flies gliders from the ridge all summer.\n")
    indexer.reindex(root, tmp_path / "ix")
    prepared, suggested = [], []
    prepare, suggest = query.prepare, query.suggest

    def counted_prepare(searcher, parsed, text, deadline, near, scope=scope.EVERYTHING):
        prepared.append((text, near))
        return prepare(searcher, parsed, text, deadline, near, scope)

    def counted_suggest(searcher, parsed, text, deadline, shown=scope.EVERYTHING, typed=None):
        suggested.append((text, shown))
        return suggest(searcher, parsed, text, deadline, shown, typed)

    monkeypatch.setattr(query, "prepare", counted_prepare)
    monkeypatch.setattr(query, "suggest", counted_suggest)
    searchers = query.Searchers(tmp_path / "ix")  # no result cache: every search is evaluated
    unkept = query.Searchers(tmp_path / "ix", prepared_entries=0)

    def answer(searchers, q, shown=scope.EVERYTHING):
        return serialize.result_json(query.search(searchers, query.SearchRequest(q=q), CONFIG, shown)) | {"took_ms": 0}

    for q in ["glid*", "gliders ridge", "glidres", '"the ridge"']:
        first = answer(searchers, q)
        assert answer(searchers, q) == first == answer(unkept, q)
    # Kept: each query once, and the suggestion once; the fuzzy relaxation of `glidres` (nothing
    # matches it as typed) is prepared every time, as in a search without the kept ones.
    fuzzy = ("glidres", False)
    assert prepared.count(("glid*", True)) == 2 and prepared.count(("glidres", True)) == 2
    assert prepared.count(fuzzy) == 3 and len(suggested) == 8
    assert answer(searchers, "glidres")["suggestion"] == "gliders" and len(suggested) == 8
    # Suggestions are kept per scope: another key's suggestion is its own.
    assert answer(searchers, "glidres", scope.of(["club"]))["total"] == 1 and len(suggested) == 9
    # A new index state prepares again: the prefix now reaches the new word.
    write(root, "hang/c.txt", "Gliding at dawn.\n")
    indexer.reindex(root, tmp_path / "ix")
    before = len(prepared)
    assert answer(searchers, "glid*")["total"] == 3 and prepared[before:] == [("glid*", True)]
    # Out of time, nothing is kept: the next search prepares again and suggests again.
    with pytest.raises(query.QueryError, match="took too long"):
        query.search(searchers, query.SearchRequest(q="thermals"), CONFIG | {"SEARCH_TIME_LIMIT": 0})

    def late_suggest(searcher, parsed, text, deadline, shown=scope.EVERYTHING, typed=None):
        suggested.append((text, shown))
        deadline.ends = 0  # suggest() gave up past the deadline
        return None

    monkeypatch.setattr(query, "suggest", late_suggest)
    assert answer(searchers, "thermals")["total"] == 1
    monkeypatch.setattr(query, "suggest", counted_suggest)
    assert answer(searchers, "thermals")["total"] == 1
    assert prepared.count(("thermals", True)) == 2 and suggested[-2:] == [("thermals", scope.EVERYTHING)] * 2
    searchers.close()
    unkept.close()


def test_the_cache_is_bounded():
    from search.cache import ResultCache

    results = ResultCache(entries=2)
    for n in range(5):
        results.put(n, f"result {n}", size=10)
    assert len(results) == 2 and results.get(4) == "result 4" and results.get(0) is None
    results.put("huge", "x", size=10**9)
    assert results.get("huge") is None
    assert ResultCache(entries=0).get(1) is None


def test_a_split_word_keeps_where_it_was_typed_and_never_marks_the_shared_null_query():
    from whoosh import query as whoosh_query

    from search.parsing import SplitWord

    typed = SplitWord("text", ["free", "stream"])
    typed.startchar, typed.endchar = 4, 15
    kept = typed.normalize()
    assert (kept.startchar, kept.endchar) == (4, 15)
    one = SplitWord("text", ["stream"])
    one.startchar, one.endchar = 0, 6
    assert isinstance(one.normalize(), whoosh_query.Term) and one.normalize().startchar == 0
    empty = SplitWord("text", [])
    empty.startchar, empty.endchar = 3, 9
    assert empty.normalize() is whoosh_query.NullQuery
    assert getattr(whoosh_query.NullQuery, "startchar", None) is None


@pytest.mark.parametrize("q", ["Title:wings", "TITLE:wings", "title:Wings"])
def test_field_names_in_any_case(q):
    assert parsing.parse(q) == parsing.parse("title:wings")


def test_names_joined_by_dots_underscores_and_at_are_found_by_their_parts(tmp_path):
    searchers = indexed(
        tmp_path,
        {
            "a.txt": "Edit config.yaml, run make_backup.sh and mail john.doe@example.com. The meeting ended.Next we left.\n",
            "b.txt": "Python 3.11.7 replaces 3.10.2; the dose was 12.5 mg in the U.S. trial.\n",
            "c.html": "<p>A non&shy;breaking space, and a zero\u200bwidth one.</p>\n",
            "d.txt": "Twelve doses of 5 mg; a config of yaml files.\n",
        },
    )
    cases = {
        "config": ["a.txt", "d.txt"],
        "backup": ["a.txt"],
        "john": ["a.txt"],
        "example": ["a.txt"],
        "next": ["a.txt"],
        '"meeting ended"': ["a.txt"],
        "make_backup.sh": ["a.txt"],
        "john.doe@example.com": ["a.txt"],
        "3.11.7": ["b.txt"],
        "12.5": ["b.txt"],  # a decimal stays one number
        "U.S.": ["b.txt"],  # so does an abbreviation of single letters
        "nonbreaking": ["c.html"],  # a soft hyphen is not a break
        "zerowidth": ["c.html"],
    }
    for q, expected in cases.items():
        assert paths(searchers, q, match="any") == expected, q
    # The whole ranks as a compound does: the exact one first, then its words apart ("config of yaml").
    assert found_exactly(searchers, "config.yaml") == ["a.txt", "d.txt"]
    assert marked(searchers, "nonbreaking") == ["nonbreaking"]


def test_scores_never_rise_down_the_list(tmp_path):
    # The documents holding every word come first, whatever their score alone: the score given is
    # the ranking's own key, so a client sorting by it keeps the order.
    files = {f"travel{number}.txt": f"Travel tips, number {number}.\n" for number in range(20)}
    files["partial.txt"] = "Volcano. Volcano eruptions, volcano ash volcano volcano.\n"
    files["complete.txt"] = "Notes on travel planning " + "and more notes " * 200 + "near a volcano.\n"
    hits = query.search(indexed(tmp_path, files), query.SearchRequest(q="volcano travel"), CONFIG).hits
    assert hits[0].path == "complete.txt"
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_a_letter_that_is_a_common_word_counts_only_after_a_word_it_may_name(searchers):
    # "a plate", "I am looking for plate": the article and the pronoun are common words, left out
    # of the ranking as "the" is; after a word of meaning ("vitamin a", "world war i") it is kept.
    def ranked(q):
        result = query.search(searchers, query.SearchRequest(q=q), CONFIG)
        return [(hit.path, hit.score) for hit in result.hits], result.relaxed

    assert ranked("a plate") == ranked("plate") == ranked("I plate")
    assert ranked("plate a") != ranked("plate")
    assert {path for path, _ in ranked("plate a")[0]} >= {"en/heat.txt", "en/boundary.md"}


def test_a_short_version_finds_the_longer_ones(tmp_path):
    searchers = indexed(
        tmp_path,
        {
            "a.txt": "Python 3.11.7 is out.\n",
            "b.txt": "Python 3.11 was released in 2022.\n",
            "c.txt": "Python 3.1 is old, and 3.110 does not exist.\n",
        },
    )
    assert paths(searchers, "3.11") == ["a.txt", "b.txt"]
    assert paths(searchers, "3.11.7") == ["a.txt"]
    assert paths(searchers, '"python 3.11"') == ["b.txt"]  # a phrase is exact


def test_words_typed_without_their_accents_find_them_in_phrases_too(tmp_path):
    # Accents are folded after stemming: unaccented, `corrian` stems apart from *corrían*.
    searchers = indexed(
        tmp_path,
        {
            "es.txt": "Los niños corrían por el parque de Andalucía mientras sus padres hablaban de política.\n",
            "fr.txt": "Les assemblées nationales ont voté la loi après un long débat sur les écoles publiques.\n",
            "en.txt": "The children ran in the park while their parents talked about the weather and the news.\n",
        },
    )
    for q, expected in [
        ("corrian", "es.txt"),
        ('"los ninos corrian"', "es.txt"),
        ("assemblees", "fr.txt"),
        ('"assemblees nationales"', "fr.txt"),
        ("débat ecoles", "fr.txt"),
    ]:
        assert found_exactly(searchers, q) == [expected]
        assert marked(searchers, q), q  # the accented words are marked
        # No "did you mean" that only adds the accents: the query found those forms itself.
        assert query.search(searchers, query.SearchRequest(q=q), CONFIG).suggestion is None, q


def test_sharp_s_and_ligatures_are_found_as_two_letters(tmp_path):
    searchers = indexed(
        tmp_path,
        {
            "de.txt": "Das Büro liegt in der Torstraße 12, gleich neben der großen Straße am Markt in Berlin Mitte.\n",
            "en.txt": "Our office: Torstraße 12. Ask for the encyclopædia and the œuvre.\n",
        },
    )
    for q, expected in [
        ("torstrasse", ["de.txt", "en.txt"]),
        ("strasse", ["de.txt"]),
        ("grosse", ["de.txt"]),
        ("encyclopaedia", ["en.txt"]),
        ("oeuvre", ["en.txt"]),
    ]:
        assert sorted(found_exactly(searchers, q)) == expected


def test_a_word_typed_joined_finds_it_written_apart_or_with_a_hyphen(tmp_path):
    searchers = indexed(
        tmp_path,
        {
            "a.txt": "Send an e-mail to the desk. The guest Wi-Fi password is on the wall.\n",
            "b.txt": "The data base holds every record.\n",
            "c.txt": "Mail arrives daily at the front office.\n",
        },
    )
    for q, expected, words in [
        ("email", ["a.txt"], ["e-mail"]),
        ("wifi", ["a.txt"], ["Wi-Fi"]),
        ("database", ["b.txt"], ["data base"]),
    ]:
        assert found_exactly(searchers, q) == expected and marked(searchers, q) == words
    assert paths(searchers, "mail") == ["a.txt", "c.txt"]  # a word the index has is searched as it is


def test_a_word_is_not_broken_into_a_common_word_nor_when_the_index_holds_it_inflected(tmp_path):
    searchers = indexed(
        tmp_path,
        {
            "agents.txt": "The agents met at noon.\n",
            "gent.txt": "Beware a gent in a hat, who said this is land.\n",
            "assign.txt": "Assign the ticket to the desk.\n",
        },
    )
    assert found_exactly(searchers, "agent") == ["agents.txt"]  # not "a gent"
    assert paths(searchers, "island") == []  # not "is land"
    relaxed = query.search(searchers, query.SearchRequest(q="asign"), CONFIG)  # not "a sign": a misspelling
    assert relaxed.relaxed == "fuzzy" and [hit.path for hit in relaxed.hits] == ["assign.txt"]


def test_german_umlauts_typed_as_two_letters(tmp_path):
    text = "Übermorgen fahren wir von München nach Köln und essen dort Käsespätzle mit den Bauern.\n"
    searchers = indexed(tmp_path, {"de.txt": text})
    for q in ("Muenchen", "koeln", "kaesespaetzle", "uebermorgen", "muenchen koeln", '"nach koeln"'):
        assert found_exactly(searchers, q) == ["de.txt"]


def test_patterns_fuzzy_words_and_completions_forgive_accents(tmp_path):
    searchers = indexed(
        tmp_path,
        {
            "el.txt": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.\n",
            "fr.txt": "Le café du coin est ouvert tous les jours.\n",
        },
    )
    for q, expected in [("αθην*", "el.txt"), ("ελλαδα~", "el.txt"), ("cafe*", "fr.txt"), ("caf*", "fr.txt")]:
        assert found_exactly(searchers, q) == [expected]
    assert spelling.complete(searchers, "αθη", CONFIG) == ["αθήνα"]
    assert spelling.complete(searchers, "le cafe", CONFIG) == ["le café"]


def test_completions_add_the_forms_with_accents_to_a_few_without(tmp_path):
    searchers = indexed(tmp_path, {"a.txt": "Η Αθήνα και οι Αθηναίοι. München, Munk und Munk.\n"})
    assert spelling.complete(searchers, "αθη", CONFIG) == ["αθήνα", "αθηναίοι"]
    assert spelling.complete(searchers, "mun", CONFIG) == ["munk", "münchen"]  # most frequent first
