"""search.evaluate gives what Whoosh's own matchers and collector give: the same total, order and scores.

Whoosh has no BM25F and no coordination tier: for the comparison, ranking.Fields and
ranking.Coordinated are lowered to Whoosh's Or (which evaluate scores as Whoosh does), and
those two are checked on their own against scores computed here from the stored text.
"""

from __future__ import annotations

import math
from collections import Counter
from random import Random

import numpy as np
import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import query as whoosh_query
from whoosh.query.compound import DefaultOr

from search import deadline, evaluate, expansion, indexer, parsing, query, ranking
from search.analysis import analyze

WORDS = [
    "boundary",
    "layer",
    "flow",
    "heat",
    "transfer",
    "shock",
    "wave",
    "wing",
    "flutter",
    "pressure",
    "orbit",
    "fuel",
    "plate",
    "turbulent",
    "laminar",
    "supersonic",
    "hypersonic",
    "nozzle",
    "cone",
    "drag",
    "lift",
    "the",
    "of",
    "a",
    "in",
]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    """An index of several segments, some with deletions, over texts from a small vocabulary."""
    tmp = tmp_path_factory.mktemp("evaluate")
    root, index_dir = tmp / "corpus", tmp / "ix"
    rng = Random(7)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)) + ".\n"

    for batch in range(3):  # one commit, and so at least one segment, per batch
        for i in range(40):
            write(root, f"b{batch}/d{i:02d}.txt", f"{text(4)}\n{text(rng.randint(5, 120))}")
        indexer.reindex(root, index_dir)
    for i in range(0, 40, 3):  # deletions and new versions in the older segments
        (root / f"b0/d{i:02d}.txt").unlink()
        write(root, f"b1/d{i:02d}.txt", f"{text(3)}\n{text(30)}")
    indexer.reindex(root, index_dir)
    searchers = query.Searchers(index_dir)  # closes its searchers when collected: kept until the end
    found = searchers.get()
    assert len(found.leaf_searchers()) > 1 and any(leaf.reader().has_deletions() for leaf, _ in found.leaf_searchers())
    yield found


QUERIES = [
    "flow",
    "heat transfer",
    "heat OR orbit",
    "flow -wave",
    '"boundary layer"',
    '"the boundary layer"',
    '"flow flow"',
    '"heat transfer"~3',
    "compress* OR turb*",
    "flutr~",
    "title:wing",
    "wing^3 drag",
    "(heat OR cone)^0.5 lift",
    "the",
    "absentword",
    "heat absentword",
]


def lowered(q: whoosh_query.Query) -> whoosh_query.Query:
    """Return `q` with Seedsearch's own query kinds replaced by Whoosh's Or."""
    if isinstance(q, (ranking.Coordinated, ranking.Fields)):
        return DefaultOr([lowered(sub) for sub in q.subqueries], boost=q.boost)
    if isinstance(q, (whoosh_query.AndNot, whoosh_query.AndMaybe, whoosh_query.Require)):
        return q.__class__(lowered(q.a), lowered(q.b))
    if isinstance(q, whoosh_query.CompoundQuery):
        return q.__class__([lowered(sub) for sub in q.subqueries], boost=q.boost)
    if isinstance(q, whoosh_query.Not):
        return whoosh_query.Not(lowered(q.query))
    return q


def expand(searcher, q: str, match: str = "all") -> whoosh_query.Query:
    langs = expansion.languages(searcher.reader())
    return lowered(
        expansion.Expander(searcher.reader(), langs, deadline.Deadline()).expand_all(parsing.parse(q, match))
    )


@pytest.mark.parametrize("q", QUERIES)
@pytest.mark.parametrize("match", ["all", "any"])
def test_same_results_as_whoosh(searcher, q, match):
    expanded = expand(searcher, q, match)
    # Every match, scored and sorted: with a limit, Whoosh's collector may replace a union by
    # its stronger branches once the top N is full, and then undercounts the total.
    whoosh = searcher.search(expanded, limit=None)
    for limit in (1, 10, 500):
        mine, total = evaluate.run(searcher, expanded, limit, searcher.weighting, lambda: None)
        assert total == len(whoosh)
        assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:limit]]
        assert [hit.score for hit in mine] == pytest.approx([hit.score for hit in whoosh[:limit]], rel=1e-9)


def test_an_excluded_group_excludes_each_of_its_words(searcher):
    # Whoosh 2.7's own matchers return, for this query on this index, a document with both words.
    expanded = expand(searcher, "flow NOT (wave OR lift)")
    mine, total = evaluate.run(searcher, expanded, 500, searcher.weighting, lambda: None)
    expected = set()
    for docnum in searcher.reader().all_doc_ids():
        stored = searcher.stored_fields(docnum)
        stems = set(analyze(stored["title"] + "\n" + stored["body"], "en"))
        if "flow" in stems and not stems & {"wave", "lift"}:
            expected.add(docnum)
    assert total == len(expected) > 0
    assert {hit.docnum for hit in mine} == expected


def test_filters_restrict_without_scoring(searcher):
    expanded = expand(searcher, "flow")
    restricted = whoosh_query.Require(expanded, whoosh_query.Term("folder", "b1"))
    mine, total = evaluate.run(searcher, restricted, 10, searcher.weighting, lambda: None)
    whoosh = searcher.search(restricted, limit=None)
    assert total == len(whoosh) > 0
    assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:10]]
    assert all(hit["path"].startswith("b1/") for hit in mine)


def test_out_of_time_stops_the_run(searcher):
    def out_of_time():
        raise query.QueryError(deadline.TOO_SLOW)

    with pytest.raises(query.QueryError):
        evaluate.run(searcher, whoosh_query.Term("body_en", "flow"), 10, searcher.weighting, out_of_time)


# Queries built from the index's words and the query language's operators, minus NOT (above).
_word = st.sampled_from(["flow", "heat", "wave", "wing", "plate", "cone", "lift", "the", "absent", "turb*", "flutr~"])
_phrase = st.lists(st.sampled_from(["boundary", "layer", "flow", "heat", "transfer", "the"]), min_size=2, max_size=3)
_clause = st.one_of(_word, _phrase.map(lambda words: '"' + " ".join(words) + '"'), _word.map("title:{}".format))
_query = st.recursive(
    _clause,
    lambda inner: st.lists(inner, min_size=2, max_size=3).flatmap(
        lambda parts: st.sampled_from([" ", " OR "]).map(lambda joint: "(" + joint.join(parts) + ")")
    ),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=_query, match=st.sampled_from(["all", "any"]), limit=st.sampled_from([1, 10, 1000]))
def test_fuzz_generated_queries_match_whoosh(searcher, q, match, limit):
    expanded = expand(searcher, q, match)
    mine, total = evaluate.run(searcher, expanded, limit, searcher.weighting, lambda: None)
    whoosh = searcher.search(expanded, limit=None)
    assert total == len(whoosh)
    assert [hit.score for hit in mine] == pytest.approx([hit.score for hit in whoosh[:limit]], rel=1e-9)
    # Equal scores may come in another order only if Whoosh's sums differ in the last bits.
    assert {hit.docnum for hit in mine} <= {hit.docnum for hit in whoosh[: limit + 5]}


def test_newest_first(searcher):
    expanded = expand(searcher, "flow OR heat")
    mine, total = evaluate.run(searcher, expanded, 10, searcher.weighting, lambda: None, newest_by="modified")
    every = searcher.search(expanded, limit=None)
    assert total == len(every) > 10
    newest = sorted((hit["modified"] for hit in every), reverse=True)[:10]
    assert [hit["modified"] for hit in mine] == newest
    assert evaluate.sortable(searcher, "modified") and not evaluate.sortable(searcher, "path")


def test_filters_on_type_and_dates_match_whoosh(searcher):
    from datetime import datetime

    expanded = expand(searcher, "flow")
    dates = sorted(searcher.stored_fields(docnum)["modified"] for docnum in searcher.reader().all_doc_ids())
    middle = dates[len(dates) // 2]
    for restriction in [
        whoosh_query.Term("type", "text"),
        whoosh_query.DateRange("modified", middle, None),
        whoosh_query.DateRange("modified", None, middle, endexcl=True),
        whoosh_query.And(
            [whoosh_query.Term("folder", "b2"), whoosh_query.DateRange("modified", datetime(2000, 1, 1), None)]
        ),
    ]:
        restricted = whoosh_query.Require(expanded, restriction)
        mine, total = evaluate.run(searcher, restricted, 10, searcher.weighting, lambda: None)
        every = searcher.search(restricted, limit=None)
        assert total == len(every) > 0, restriction
        assert [hit.docnum for hit in mine] == [hit.docnum for hit in every[:10]]
        alone, count = evaluate.run(searcher, restriction, 500, searcher.weighting, lambda: None)
        whoosh_alone = searcher.search(restriction, limit=None)
        assert count == len(whoosh_alone)
        assert [hit.score for hit in alone] == pytest.approx([hit.score for hit in whoosh_alone[:500]])


def _bm25f(searcher, weighting: ranking.BM25, docnum: int, word: str, title_weight: float) -> float:
    """Return one word's BM25F score in a document, from its stored text and Whoosh's stored lengths."""
    reader = searcher.reader()
    stored = searcher.stored_fields(docnum)
    frequency, idf = 0.0, None
    for field, text, weight in (("title_en", stored["title"], title_weight), ("body_en", stored["body"], 1.0)):
        count = analyze(text, "en").count(word)
        docs = searcher.doc_frequency("lang", "en")
        df = searcher.doc_frequency(field, word)
        field_idf = math.log(1 + (docs - df + 0.5) / (df + 0.5))
        idf = field_idf if idf is None else min(idf, field_idf)
        if count:
            b = weighting.field_b_of(field)
            average = searcher.field_length(field) / docs
            length = reader.doc_field_length(docnum, field)
            frequency += weight * count / ((1 - b) + b * length / average)
    k1 = weighting.k1
    return idf * frequency * (k1 + 1) / (frequency + k1)


def _in_exp_b2f(searcher, docnum: int, word: str, title_weight: float) -> float:
    """Return one word's In_expB2 score over title and body in a document, from its stored text and lengths."""
    reader = searcher.reader()
    stored = searcher.stored_fields(docnum)
    docs = searcher.doc_frequency("lang", "en")
    frequency = 0.0
    for field, text, weight in (("title_en", stored["title"], title_weight), ("body_en", stored["body"], 1.0)):
        count = analyze(text, "en").count(word)
        if count:
            average = searcher.field_length(field) / docs
            length = reader.doc_field_length(docnum, field)
            frequency += weight * count * math.log2(1 + average / length)
    # The body's statistics: every segment has bodies with these words.
    df, occurrences = searcher.doc_frequency("body_en", word), searcher.frequency("body_en", word)
    expected = docs * (1 - ((docs - 1) / docs) ** occurrences)
    return frequency * math.log2((docs + 1) / (expected + 0.5)) * (occurrences + 1) / (df * (frequency + 1))


@pytest.mark.parametrize("model", ["dfr", "bm25"])
@pytest.mark.parametrize("sparse", [0, 1 << 30])  # scored where the word is / over the whole segment
def test_fields_score_as_one_word(searcher, monkeypatch, model, sparse):
    monkeypatch.setattr(evaluate, "_SPARSE", sparse)
    weighting = searcher.weighting if model == "dfr" else ranking.BM25(k1=1.6, b=0.75, field_b={"title": 0.5})
    assert isinstance(searcher.weighting, ranking.DFR)
    for word in ("flow", "the", "wing"):
        field_query = ranking.Fields(
            [deadline.ClockedTerm("title_en", word, boost=2.0), deadline.ClockedTerm("body_en", word)]
        )
        mine, total = evaluate.run(searcher, field_query, 1000, weighting, lambda: None)
        assert total > 0
        for hit in mine:
            if model == "dfr":
                expected = _in_exp_b2f(searcher, hit.docnum, word, 2.0)
            else:
                expected = _bm25f(searcher, weighting, hit.docnum, word, 2.0)
            assert hit.score == pytest.approx(expected, rel=1e-9)
        assert [hit.score for hit in mine] == sorted((hit.score for hit in mine), reverse=True)


def test_documents_with_every_word_come_first(searcher):
    langs = expansion.languages(searcher.reader())
    expanded = expansion.Expander(searcher.reader(), langs, deadline.Deadline()).expand_all(
        parsing.parse("flutter orbit")
    )
    assert isinstance(expanded, ranking.Coordinated)
    mine, total = evaluate.run(searcher, expanded, 1000, searcher.weighting, lambda: None)
    every = searcher.search(lowered(expanded), limit=None)
    assert total == len(every)  # any of the words matches
    holds = []
    for hit in mine:
        stems = set(analyze(hit["title"] + "\n" + hit["body"], "en"))
        holds.append({"flutter", "orbit"} <= stems)
    assert True in holds and False in holds
    first_without = holds.index(False)
    assert all(holds[:first_without]) and not any(holds[first_without:])
    assert mine.complete == first_without
    # Within each tier, by score.
    scores = [hit.score for hit in mine]
    assert scores[:first_without] == sorted(scores[:first_without], reverse=True)
    assert scores[first_without:] == sorted(scores[first_without:], reverse=True)


def test_the_array_cache_is_sized_by_the_setting(corpus, index_dir):
    from search import cache, create_app

    before = evaluate.ARRAYS.max_bytes
    try:
        create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ARRAY_CACHE_MB": 1})
        assert evaluate.ARRAYS.max_bytes == 1024 * 1024
    finally:
        evaluate.set_array_cache(before // (1024 * 1024))
    lru = cache.ResultCache(entries=10, max_bytes=300)
    for key in "abc":
        lru.put(key, key, size=100)
    lru.resize(150)  # forgets the least recently used until it fits
    assert len(lru) == 1 and lru.get("c") == "c" and lru.get("a") is None


# Neighbouring common words are matched on their pairs (analysis.PairsField), the rest on positions.
PHRASES = [
    '"boundary layer"',
    '"the boundary layer"',
    '"flow flow"',
    '"of the"',
    '"the of a"',
    '"heat transfer" wing',
    '"in the flow of the"',
    '"the the the"',
    '"a of in the a"',
    '"of absentword the"',
]


@pytest.mark.parametrize("dense", [0.0, 1.1])  # never / always cut a word's occurrences to the candidates
@pytest.mark.parametrize("ratio", [0, 1 << 30])  # always merge / always look up one by one
@pytest.mark.parametrize("table", [0.0, 1e9])  # occurrences kept as position keys / as bit tables of places
@pytest.mark.parametrize("runs", [0, 1 << 30])  # cut occurrences to documents by their runs / in one pass
# Keys: narrow where they fit (the default); all narrow but widened for any phrase (2); narrow for
# the words whose positions stay under 40, wide for the others ("mixed"); all wide (1 << 40).
@pytest.mark.parametrize("margin", [None, 2, "mixed", 1 << 40])
@pytest.mark.parametrize("q", PHRASES)
def test_phrases_match_whoosh_whichever_way_occurrences_are_intersected(
    searcher, monkeypatch, q, dense, ratio, table, runs, margin
):
    from search import cache

    monkeypatch.setattr(evaluate, "_DENSE", dense)
    monkeypatch.setattr(evaluate, "_RUNS_RATIO", runs)
    monkeypatch.setattr(evaluate, "_TABLE_SIZE", table)
    monkeypatch.setattr(evaluate, "_SEARCH_RATIO", ratio)
    monkeypatch.setattr(evaluate, "ARRAYS", cache.ResultCache(entries=10_000, max_bytes=1 << 30))
    if margin == "mixed":
        margin = (1 << evaluate._narrow_shift(searcher.leaf_searchers()[0][0].doc_count_all())) - 40
    if margin is not None:
        monkeypatch.setattr(evaluate, "_NARROW_MARGIN", margin)
    expanded = expand(searcher, q, "any")
    whoosh = searcher.search(expanded, limit=None)
    mine, total = evaluate.run(searcher, expanded, 500, searcher.weighting, lambda: None)
    assert total == len(whoosh)
    assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:500]]


def _count_reads(monkeypatch, kept: bool) -> Counter:
    """Give evaluate fresh array caches (keeping arrays or not); count the segment reads, absent terms included."""
    from search import cache, segments

    monkeypatch.setattr(evaluate, "ARRAYS", cache.ResultCache(entries=10_000 if kept else 0, max_bytes=1 << 30))
    monkeypatch.setattr(evaluate, "ABSENT", cache.ResultCache(entries=10_000, max_bytes=1 << 20))
    reads = Counter()

    def counting(name: str, read):
        def counted(reader, fieldname, text, *args, **kwargs):
            reads[(name, reader.segment().segment_id(), fieldname, text)] += 1
            return read(reader, fieldname, text, *args, **kwargs)  # raises TermNotFound where absent

        return counted

    for name in ("postings_arrays", "term_arrays"):
        monkeypatch.setattr(segments, name, counting(name, getattr(segments, name)))
    return reads


@pytest.mark.parametrize("kept", [True, False])
def test_a_term_a_segment_lacks_is_looked_up_once_when_kept(searcher, monkeypatch, kept):
    from whoosh.reading import TermNotFound

    lookups = _count_reads(monkeypatch, kept)
    reader = searcher.leaf_searchers()[0][0].reader()
    for read in (evaluate.postings, evaluate._phrase_postings, evaluate.postings):
        with pytest.raises(TermNotFound):
            read(reader, "body_en", b"zzabsentword")
    assert sum(lookups.values()) == (1 if kept else 3)
    # A word the segment holds is still read, and kept, as before; absences never take the arrays' room.
    assert evaluate.postings(reader, "body_en", b"flow") is not None
    assert len(evaluate.ABSENT) == (1 if kept else 0) and len(evaluate.ARRAYS) == (1 if kept else 0)


@pytest.mark.parametrize("kept", [True, False])
def test_phrase_words_are_read_once_with_their_positions(searcher, monkeypatch, kept):
    """A query's words are scored before the phrases among them: each phrase word's blocks are read once when kept."""
    reads = _count_reads(monkeypatch, kept)
    # The words first, then phrases of them, as query.py adds neighbouring pairs (focus.pairs).
    expanded = expand(searcher, 'boundary layer of the flow "boundary layer" "of the flow"', "any")
    assert len(list(evaluate._phrases(expanded))) >= 2
    whoosh = searcher.search(expanded, limit=None)
    mine, total = evaluate.run(searcher, expanded, 500, searcher.weighting, lambda: None)
    assert total == len(whoosh)
    assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:500]]
    together = {key[1:] for key in reads if key[0] == "term_arrays"}
    alone = {key[1:] for key in reads if key[0] == "postings_arrays"}
    if kept:
        assert together and not together & alone
        assert all(count == 1 for key, count in reads.items())
    else:  # nothing kept: read where used; a word's postings also alone, to score it (pairs are never scored)
        assert together and {key for key in together if not key[1].startswith("pairs_")} <= alone


@given(
    a=st.sets(st.integers(0, 1 << 40), max_size=60),
    b=st.sets(st.integers(0, 1 << 40), max_size=60),
    shared=st.sets(st.integers(0, 1 << 40), max_size=20),
    ratio=st.sampled_from([0, 16, 1 << 30]),
)
def test_common_values_of_two_sorted_lists(a, b, shared, ratio):
    left, right = np.array(sorted(a | shared), dtype=np.int64), np.array(sorted(b | shared), dtype=np.int64)
    old = evaluate._SEARCH_RATIO
    evaluate._SEARCH_RATIO = ratio
    try:
        found = evaluate._common(left, right)
    finally:
        evaluate._SEARCH_RATIO = old
    assert found.tolist() == sorted((a | shared) & (b | shared))


@given(
    postings=st.dictionaries(st.integers(0, 299), st.integers(1, 60000), max_size=120),
    share=st.floats(0, 1),
    scatter=st.sampled_from([0, 8, 1 << 30]),
    narrow=st.booleans(),
)
def test_weights_at_the_wanted_documents(postings, share, scatter, narrow):
    # Scattered into a dense array (many wanted) or looked up one by one (few): the same weights.
    dtype = np.uint16 if narrow else np.int32
    docs = np.array(sorted(postings), dtype=dtype)
    weights = np.array([postings[doc] for doc in sorted(postings)], dtype=dtype)
    wanted = np.array(sorted(postings)[: int(len(postings) * share)], dtype=np.int64)
    old = evaluate._LOOKUP_SCATTER
    evaluate._LOOKUP_SCATTER = scatter
    try:
        found = evaluate._weights_at(docs, weights, wanted, 300)
    finally:
        evaluate._LOOKUP_SCATTER = old
    assert found.tolist() == [postings[doc] for doc in wanted.tolist()]


@pytest.mark.parametrize(
    "q", ['"boundary layer"', '"the boundary layer"', '"flow flow"', '"of the"', '"heat absentword"']
)
def test_a_phrase_scores_the_sum_of_its_words_exactly(searcher, q):
    # Where the phrase is, its score is its words' scores added in order, bit for bit; elsewhere 0.
    for phrase in expand(searcher, q, "any").leaves():
        for leaf, _ in searcher.leaf_searchers():
            run = evaluate._Evaluator(leaf, leaf.context(), searcher.weighting, lambda: None, leaf.doc_count_all())
            found = run.part(phrase)
            expected = np.zeros(leaf.doc_count_all())
            for word in phrase.words:
                expected = expected + run.part(whoosh_query.Term(phrase.fieldname, word)).scores
            if phrase.boost != 1.0:  # a title phrase carries the title's weight
                expected = expected * phrase.boost
            assert np.array_equal(found.scores, np.where(found.mask, expected, 0.0))


NEAR = [
    "heat transfer",
    "boundary layer flow",
    "the heat transfer wave",
    "in the",
    "of the",
    "wing flutter -drag",
    "layer boundary",
]


def _near(searcher, q: str) -> whoosh_query.Query:
    """Return `q` as a search runs it: any word, every word first, neighbouring words as a bonus."""
    return query.prepare(searcher, parsing.parse(q), q, deadline.Deadline(), near=True).expanded


@pytest.mark.parametrize("q", NEAR)
def test_the_neighbouring_words_bonus_matches_whoosh(searcher, q):
    expanded = lowered(_near(searcher, q))
    assert evaluate._split_bonus(expanded)[1] is not None  # the bonus is added where it can reach the top
    whoosh = searcher.search(expanded, limit=None)
    for limit in (1, 3, 10, 500):
        mine, total = evaluate.run(searcher, expanded, limit, searcher.weighting, lambda: None)
        assert total == len(whoosh)
        assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:limit]]
        assert [hit.score for hit in mine] == pytest.approx([hit.score for hit in whoosh[:limit]], rel=1e-9)


@pytest.mark.parametrize("q", NEAR)
@pytest.mark.parametrize("limit", [1, 3, 10, 500])
@pytest.mark.parametrize("bound", [1e9, 0.0])  # phrases matched at once / all bounded first
# The bonus as weighed, or outweighing the words (documents with the words apart fall from the
# first batch); matched first in 8 times the top's documents, or in as many (1).
@pytest.mark.parametrize(("weight", "batch"), [(query.PROXIMITY_WEIGHT, 8), (5.0, 1), (5.0, 8)])
def test_the_bonus_added_only_where_it_can_reach_the_top_changes_nothing(
    searcher, monkeypatch, q, limit, bound, weight, batch
):
    monkeypatch.setattr(evaluate, "_BOUND_OCCURRENCES", bound)
    monkeypatch.setattr(evaluate, "_BONUS_BATCH", batch)
    monkeypatch.setattr(query, "PROXIMITY_WEIGHT", weight)
    near = _near(searcher, q)  # with its tier: documents holding every word first
    for run_query in (near, whoosh_query.Require(near, whoosh_query.Term("folder", "b1"))):
        pruned, total = evaluate.run(searcher, run_query, limit, searcher.weighting, lambda: None)
        with monkeypatch.context() as patched:
            patched.setattr(evaluate, "_split_bonus", lambda q: (q, None))
            whole, whole_total = evaluate.run(searcher, run_query, limit, searcher.weighting, lambda: None)
        assert total == whole_total and pruned.complete == whole.complete
        assert [(hit.docnum, hit.score) for hit in pruned] == [(hit.docnum, hit.score) for hit in whole]


def test_the_bonus_is_matched_only_in_documents_that_can_reach_the_top(searcher, monkeypatch):
    near = _near(searcher, "heat transfer")
    matched_in = []
    evaluator = evaluate._Evaluator

    def spy(*args, within=None, **kwargs):
        if within is not None:
            matched_in.append(int(within.sum()))
        return evaluator(*args, within=within, **kwargs)

    monkeypatch.setattr(evaluate, "_Evaluator", spy)
    monkeypatch.setattr(evaluate, "_BOUND_OCCURRENCES", 0.0)  # bounded whatever the corpus
    evaluate.run(searcher, near, 1, searcher.weighting, lambda: None)
    both = sum(
        1
        for docnum in searcher.reader().all_doc_ids()
        if {"heat", "transfer"} <= set(analyze(searcher.stored_fields(docnum)["body"], "en"))
    )
    assert 0 < sum(matched_in) < both / 2


def test_presence_in_a_scope_agrees_with_counting(searcher):
    from search import scope

    visible = scope.visible(searcher, scope.EVERYTHING)  # the index has deletions: a mask, not None
    assert visible is not None
    for word in [*WORDS, "absentword"]:
        for fieldname, text in (("words", word), ("body_en", analyze(word, "en")[0])):
            assert visible.holds(fieldname, text) == (visible.doc_frequency(fieldname, text) > 0)
    # A word the scope's documents do not hold is not there, whatever other documents hold.
    hidden = scope.Visible(visible.reader, np.zeros_like(visible.mask))
    assert visible.holds("words", "flow") and not hidden.holds("words", "flow")


def test_phrases_of_common_words_are_matched_on_their_pairs(searcher, monkeypatch):
    """`"of the"` reads the pair's postings alone; `"in the flow"` the pair's occurrences and `flow`'s.

    Neither reads the positions of two words every document holds.
    """
    from search import cache, segments

    monkeypatch.setattr(evaluate, "ARRAYS", cache.ResultCache(entries=10_000, max_bytes=1 << 30))
    positions, plain = [], []
    for name, reads in (("positions_arrays", positions), ("term_arrays", positions), ("postings_arrays", plain)):
        read = getattr(segments, name)

        def recorded(reader, fieldname, text, *args, _read=read, _reads=reads, **kwargs):
            _reads.append((fieldname, text))
            return _read(reader, fieldname, text, *args, **kwargs)

        monkeypatch.setattr(segments, name, recorded)
    expanded = expand(searcher, '"of the" "in the flow"', "any")
    mine, total = evaluate.run(searcher, expanded, 500, searcher.weighting, lambda: None)
    whoosh = searcher.search(expanded, limit=None)
    assert total == len(whoosh) > 0
    assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:500]]
    assert {text for fieldname, text in positions if fieldname == "pairs_en"} == {b"in the"}
    assert {text for fieldname, text in positions if fieldname == "body_en"} == {b"flow"}
    assert b"of the" in {text for fieldname, text in plain if fieldname == "pairs_en"}


def test_an_index_made_before_the_pairs_matches_phrases_on_positions_alike(tmp_path):
    """An index whose stored schema has no pairs_<lang> fields (made before them) answers phrases as one that has them."""
    from whoosh import index as whoosh_index

    from search import config
    from search.analysis import PairsField, build_schema

    rng = Random(3)
    root = tmp_path / "corpus"
    for i in range(60):
        write(root, f"d{i:02d}.txt", " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 80))) + ".\n")
    write(root, "fixed.txt", "Heat in the flow of the plate, of the wing.\n")
    old, new = tmp_path / "old", tmp_path / "new"
    schema = build_schema()
    for name in [name for name, field in schema.items() if isinstance(field, PairsField)]:
        schema.remove(name)
    old.mkdir()
    whoosh_index.create_in(str(old), schema, indexname=indexer.INDEX_NAME)
    indexer.reindex(root, old)
    indexer.reindex(root, new)
    settings = config.load({}, environ={})
    old_searchers, new_searchers = query.Searchers(old), query.Searchers(new)
    assert not any(name.startswith("pairs_") for name in old_searchers.get().schema.names())
    assert "pairs_en" in new_searchers.get().schema.names()
    found = {}
    for q in ['"of the"', '"in the flow of the"', "of the", '"the boundary layer"', "to be or not to be"]:
        request = query.parse_request({"q": q, "per_page": "50"})
        before, after = query.search(old_searchers, request, settings), query.search(new_searchers, request, settings)
        assert after.total == before.total
        assert [(hit.path, hit.score) for hit in after.hits] == [(hit.path, hit.score) for hit in before.hits]
        found[q] = after.total
    assert found['"of the"'] > 0 and found['"in the flow of the"'] > 0
    old_searchers.close()
    # A rebuild moves it to the current schema, pairs and all, and it answers the same.
    for procs in (1, 2):
        indexer.reindex(root, old, rebuild=True, procs=procs)
        rebuilt = query.Searchers(old)
        assert "pairs_en" in rebuilt.get().schema.names()
        assert any(name == "pairs_en" for name, _ in rebuilt.get().reader().all_terms())
        request = query.parse_request({"q": '"in the flow of the"'})
        assert [hit.path for hit in query.search(rebuilt, request, settings).hits] == [
            hit.path for hit in query.search(new_searchers, request, settings).hits
        ]
        rebuilt.close()
    new_searchers.close()
