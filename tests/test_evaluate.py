"""search.evaluate gives what Whoosh's own matchers and collector give: the same total, order and scores."""

from __future__ import annotations

from random import Random

import pytest
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from whoosh import query as whoosh_query

from search import evaluate, indexer, query
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


@pytest.mark.parametrize("q", QUERIES)
@pytest.mark.parametrize("match", ["all", "any"])
def test_same_results_as_whoosh(searcher, q, match):
    langs = query.languages(searcher.reader())
    expanded = query._Expander(searcher.reader(), langs, query.Deadline()).expand_all(query.parse(q, match))
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
    langs = query.languages(searcher.reader())
    expanded = query._Expander(searcher.reader(), langs, query.Deadline()).expand_all(
        query.parse("flow NOT (wave OR lift)", "all")
    )
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
    langs = query.languages(searcher.reader())
    expanded = query._Expander(searcher.reader(), langs, query.Deadline()).expand_all(query.parse("flow", "all"))
    restricted = whoosh_query.Require(expanded, whoosh_query.Term("folder", "b1"))
    mine, total = evaluate.run(searcher, restricted, 10, searcher.weighting, lambda: None)
    whoosh = searcher.search(restricted, limit=None)
    assert total == len(whoosh) > 0
    assert [hit.docnum for hit in mine] == [hit.docnum for hit in whoosh[:10]]
    assert all(hit["path"].startswith("b1/") for hit in mine)


def test_out_of_time_stops_the_run(searcher):
    def out_of_time():
        raise query.QueryError(query.TOO_SLOW)

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
    langs = query.languages(searcher.reader())
    expanded = query._Expander(searcher.reader(), langs, query.Deadline()).expand_all(query.parse(q, match))
    mine, total = evaluate.run(searcher, expanded, limit, searcher.weighting, lambda: None)
    whoosh = searcher.search(expanded, limit=None)
    assert total == len(whoosh)
    assert [hit.score for hit in mine] == pytest.approx([hit.score for hit in whoosh[:limit]], rel=1e-9)
    # Equal scores may come in another order only if Whoosh's sums differ in the last bits.
    assert {hit.docnum for hit in mine} <= {hit.docnum for hit in whoosh[: limit + 5]}


def test_newest_first(searcher):
    langs = query.languages(searcher.reader())
    expanded = query._Expander(searcher.reader(), langs, query.Deadline()).expand_all(
        query.parse("flow OR heat", "all")
    )
    mine, total = evaluate.run(searcher, expanded, 10, searcher.weighting, lambda: None, newest_by="modified")
    every = searcher.search(expanded, limit=None)
    assert total == len(every) > 10
    newest = sorted((hit["modified"] for hit in every), reverse=True)[:10]
    assert [hit["modified"] for hit in mine] == newest
    assert evaluate.sortable(searcher, "modified") and not evaluate.sortable(searcher, "path")


def test_filters_on_type_and_dates_match_whoosh(searcher):
    from datetime import datetime

    langs = query.languages(searcher.reader())
    expanded = query._Expander(searcher.reader(), langs, query.Deadline()).expand_all(query.parse("flow", "all"))
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
