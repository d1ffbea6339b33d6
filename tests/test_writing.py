"""The fast analysis and segment writer produce exactly what Whoosh's own code would."""

from __future__ import annotations

import pickle
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3FieldWriter
from whoosh.reading import SegmentReader
from whoosh.writing import CLEAR, OPTIMIZE, SegmentWriter

from search import segments, writing
from search.analysis import build_schema, language_analyzer, word_analyzer
from search.fastanalysis import compile_analyzer
from search.writing import BufferedSegmentWriter, compile_field, merge_small

SCHEMA = build_schema()
FAST_FIELDS = [name for name, field in SCHEMA.items() if compile_field(field) is not None]
# Those given text as several parts (a title and a body's lines); `folder` is one value, every
# ancestor joined by NUL, and a newline is part of a folder's name.
TEXT_FIELDS = [name for name in FAST_FIELDS if name != "folder"]
TRICKY = [
    "",
    "a the of and",
    "The THE the. Café, naïve façade; 3.14 big-time under_score x.y.z ..a a.b.",
    "Ёлка и ёж в России. Президент России подписал указ о переезде.",
    "İstanbul ǅemal ß ﬁnance ΣΊΣΥΦΟΣ",
    "Überraschung: Straße, Größe und Füße. L'été à Besançon.",
    "word " * 300,
    "我爱北京天安门。東京タワーは333m、Python入門 서울에 살아요 ｶﾀｶﾅ",
]
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
worded = st.lists(
    st.sampled_from(["flow", "the", "Россия", "café", "a.b", "x", "Ёж", "ab", "北京", "東京タワー", "a.北"]),
    max_size=40,
).map(" ".join)


def test_every_text_field_has_a_fast_path():
    assert {"words"} | {f"body_{lang}" for lang in ("en", "ru")} <= set(FAST_FIELDS)


@pytest.mark.parametrize("text", TRICKY)
def test_fast_postings_equal_whooshs(text):
    for name in FAST_FIELDS:
        field = SCHEMA[name]
        assert sorted(compile_field(field).postings(text)) == sorted(field.index(text)), name


@settings(max_examples=150, deadline=None)
@given(st.one_of(texts, worded))
def test_fast_postings_equal_whooshs_on_any_text(text):
    for name in FAST_FIELDS:
        field = SCHEMA[name]
        assert sorted(compile_field(field).postings(text)) == sorted(field.index(text)), name


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(texts, worded), max_size=3))
def test_several_texts_index_as_their_lines(parts):
    """A value of several texts has the postings of the texts joined by newlines, their tokens shared between fields."""
    seen: dict = {}
    for name in TEXT_FIELDS:
        field, fast = SCHEMA[name], compile_field(SCHEMA[name])
        assert sorted(fast.postings(tuple(parts))) == sorted(field.index("\n".join(parts))), name
        length, _ = fast.add(tuple(parts), 0, writing.FieldTokens(fast.positions, fast.boost), seen)
        assert length == sum(posting[1] for posting in field.index("\n".join(parts))), name
    assert len(seen) == len({id(part) for part in parts})


@settings(max_examples=150, deadline=None)
@given(st.one_of(texts, worded), st.sampled_from(["en", "ru", "de", "fr"]))
def test_compiled_tokens_and_offsets_equal_the_analyzers(text, lang):
    analyzer = language_analyzer(lang)
    expected = [(t.text, t.startchar, t.endchar) for t in analyzer(text, chars=True)]
    assert list(zip(*compile_analyzer(analyzer).located(text), strict=True)) == expected


def test_unknown_analyzers_are_left_to_whoosh():
    from whoosh.analysis import NgramFilter, StandardAnalyzer

    assert compile_analyzer(StandardAnalyzer() | NgramFilter(2)) is None
    assert compile_analyzer(StandardAnalyzer()) is None  # a StopFilter drops words and renumbers positions
    assert compile_analyzer(word_analyzer()) is not None


def _docs() -> list[dict]:
    docs = []
    for n, text in enumerate(TRICKY * 3):
        lang = "ru" if "Росси" in text else "en"
        docs.append(
            {
                "id": f"{n:016x}",
                "path": f"folder/doc-{n}.txt",
                "folder": "folder",
                "type": "text",
                "lang": lang,
                "modified": datetime(2026, 1, 1 + n % 28, 12, n % 60),
                "mtime_ns": 1_700_000_000_000_000_000 + n,
                "size": 100 + n,
                "hash": f"{n:064x}".encode("ascii"),
                "title": text[:30] or f"doc {n}",
                "body": text,
                "words": text,
                f"title_{lang}": text[:30],
                f"body_{lang}": text,
                f"pairs_{lang}": text,
            }
        )
    return docs


def _build(folder: Path, writer_class, docs: list[dict], **kwargs):
    folder.mkdir()
    ix = whoosh_index.create_in(str(folder), build_schema(), indexname="t")
    writer = writer_class(ix, compound=False, **kwargs)
    for doc in docs:
        writer.add_document(**doc)
    writer.commit()
    return ix


def _contents(ix) -> dict:
    """Return every posting, stored field, column value and field length of the index."""
    out: dict = {"postings": {}, "stored": [], "columns": {}, "lengths": {}}
    with ix.reader() as reader:
        for fieldname, text in reader.all_terms():
            matcher = reader.postings(fieldname, text)
            items = []
            while matcher.is_active():
                items.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            info = reader.term_info(fieldname, text)
            stats = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(), info.max_weight())
            out["postings"][(fieldname, text)] = (items, stats)
        out["stored"] = [reader.stored_fields(n) for n in reader.all_doc_ids()]
        for name in ("path", "mtime_ns", "size", "hash", "modified"):
            out["columns"][name] = list(reader.column_reader(name))
        for name in SCHEMA.scorable_names():
            out["lengths"][name] = [reader.doc_field_length(n, name) for n in reader.all_doc_ids()]
    return out


def _blocks(ix) -> tuple[dict, set[int]]:
    """Return every term's statistics and blocks (each its header and its loaded contents), and the pickle protocols seen."""
    out, protocols = {}, set()
    with ix.reader() as reader:
        for fieldname, text in reader.all_terms():
            info = reader.term_info(fieldname, text)
            blocks = []
            matcher = segments._leaf_matcher(reader, fieldname, text)
            while matcher.is_active():
                raw = matcher._postfile.get(matcher._dataoffset, matcher._nextoffset - matcher._dataoffset)
                raw = zlib.decompress(raw) if matcher._compression else raw
                protocols.add(raw[1])
                header = (matcher._blocklength, matcher._maxid, matcher._maxweight, matcher._compression)
                blocks.append((header, matcher._minlength, matcher._maxlength, pickle.loads(raw)))
                matcher._next_block()
            stats = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(), info.max_weight())
            out[(fieldname, text)] = (stats, info.min_id(), info.max_id(), blocks)
    return out, protocols


@pytest.mark.parametrize("chunk", [None, 7])
def test_buffered_writer_writes_the_same_segment(tmp_path, monkeypatch, chunk):
    if chunk:  # positions encoded a few at a time: a term's values span several chunks
        monkeypatch.setattr(writing, "ENCODE_CHUNK", chunk)
    docs = _docs()
    whooshs = _build(tmp_path / "whoosh", SegmentWriter, docs)
    ours = _build(tmp_path / "ours", BufferedSegmentWriter, docs)
    # Every term's statistics and blocks are the same, each block's header and contents; only the
    # contents' pickle protocol differs. Columns are compared by value because Whoosh's own column
    # files differ from run to run.
    (our_blocks, our_protocols), (their_blocks, their_protocols) = _blocks(ours), _blocks(whooshs)
    assert our_blocks == their_blocks
    assert (our_protocols, their_protocols) == ({segments.BLOCK_PROTOCOL}, {2})
    assert _contents(ours) == _contents(whooshs)


def test_a_value_of_several_texts_is_indexed_as_their_lines(tmp_path):
    docs = _docs()
    joined = _build(
        tmp_path / "joined", BufferedSegmentWriter, [dict(d, words=d["title"] + "\n" + d["body"]) for d in docs]
    )
    split = _build(tmp_path / "split", BufferedSegmentWriter, [dict(d, words=(d["title"], d["body"])) for d in docs])
    # A boost sends every document through Whoosh's own add_document.
    whooshs = _build(
        tmp_path / "whoosh", BufferedSegmentWriter, [dict(d, words=(d["title"], d["body"]), _boost=1.0) for d in docs]
    )
    assert _contents(split) == _contents(joined) == _contents(whooshs)


def test_memory_limit_splits_segments_without_changing_contents(tmp_path):
    docs = _docs()
    one = _build(tmp_path / "one", BufferedSegmentWriter, docs)
    many = _build(tmp_path / "many", BufferedSegmentWriter, docs, limitmb=0)
    assert len(many._segments()) > 1
    # Docnums differ between segmentations, so compare per path.
    assert _by_path(_contents(many)) == _by_path(_contents(one))


def _by_path(contents: dict) -> dict:
    paths = [stored["path"] for stored in contents["stored"]]
    postings = {
        key: sorted((paths[docnum], weight, value) for docnum, weight, value in items)
        for key, (items, _) in contents["postings"].items()
    }
    return {"postings": postings, "stored": sorted(contents["stored"], key=lambda s: s["path"])}


def test_merging_segments_goes_through_the_buffer(tmp_path):
    docs = _docs()
    one = _build(tmp_path / "one", BufferedSegmentWriter, docs)
    ix = _build(tmp_path / "merged", BufferedSegmentWriter, docs, limitmb=0)
    writer = BufferedSegmentWriter(ix)
    writer.commit(mergetype=OPTIMIZE)
    assert len(ix._segments()) == 1
    assert _by_path(_contents(ix)) == _by_path(_contents(one))


@pytest.mark.parametrize("merge_first", [False, True])
def test_new_documents_and_merged_segments_share_a_segment(tmp_path, merge_first):
    """A commit that merges small segments into the one it writes keeps every posting in document order."""
    docs = _docs()
    one = _build(tmp_path / "one", BufferedSegmentWriter, docs)
    ix = _build(tmp_path / "merged", BufferedSegmentWriter, docs[::2], limitmb=0)
    assert len(ix._segments()) > 1
    writer = BufferedSegmentWriter(ix)
    if merge_first:
        for segment in ix._segments():
            reader = SegmentReader(ix.storage, ix.schema, segment)
            writer.add_reader(reader)
            reader.close()
    for doc in docs[1::2]:
        writer.add_document(**doc)
    writer.commit(mergetype=CLEAR if merge_first else merge_small)
    assert len(ix._segments()) == 1
    assert _by_path(_contents(ix)) == _by_path(_contents(one))


def test_postings_are_written_a_block_at_a_time(tmp_path, monkeypatch):
    """With Whoosh 3's codec no posting goes through the field writer one by one (new, merged or Whoosh-indexed)."""

    def one_by_one(*args):
        raise AssertionError("a posting was written one by one")

    monkeypatch.setattr(W3FieldWriter, "add", one_by_one)
    docs = _docs()
    ix = _build(tmp_path / "ix", BufferedSegmentWriter, docs[:5], limitmb=0)
    writer = BufferedSegmentWriter(ix)
    writer.add_document(**docs[5], _boost=2.0)  # a boost: Whoosh's own add_document
    for doc in docs[6:]:
        writer.add_document(**doc)
    writer.commit(mergetype=OPTIMIZE)
    with ix.searcher() as searcher:
        assert searcher.doc_count() == len(docs)


def test_finish_hands_segments_to_another_writer(tmp_path):
    docs = _docs()
    folder = tmp_path / "ix"
    folder.mkdir()
    ix = whoosh_index.create_in(str(folder), build_schema(), indexname="t")
    parts = []
    for half in (docs[::2], docs[1::2]):
        worker = BufferedSegmentWriter(ix, _lk=False)
        for doc in half:
            worker.add_document(**doc)
        parts += worker.finish()
    with ix.reader() as reader:
        assert reader.doc_count() == 0  # nothing is visible before the commit
    BufferedSegmentWriter(ix).commit(extra_segments=parts)
    with ix.searcher() as searcher:
        assert searcher.doc_count() == len(docs)
        assert {hit["path"] for hit in searcher.documents()} == {doc["path"] for doc in docs}


def test_common_pairs_are_indexed_from_the_body_unasked(tmp_path):
    """The writer gives each PairsField its body's text; derived from the body's tokens, they equal Whoosh's."""
    docs = _docs()
    given = _build(tmp_path / "given", BufferedSegmentWriter, docs)
    unasked = _build(
        tmp_path / "unasked",
        BufferedSegmentWriter,
        [{k: v for k, v in d.items() if not k.startswith("pairs_")} for d in docs],
    )
    pairs = {key: found for key, found in _contents(given)["postings"].items() if key[0].startswith("pairs_")}
    assert {("pairs_en", b"a the"), ("pairs_en", b"the of"), ("pairs_en", b"the the")} <= set(pairs)
    assert _contents(unasked) == _contents(given)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            worded, st.lists(st.sampled_from(["of", "the", "a", "in", "flow", "The", "x"]), max_size=30).map(" ".join)
        ),
        max_size=6,
    )
)
def test_common_pairs_derived_from_tokens_equal_the_filters(texts):
    """FieldTokens.pairs, over several documents' tokens at once, gives each document the pairs CommonPairs gives it."""
    body, pairs = SCHEMA["body_en"], SCHEMA["pairs_en"]
    fast = compile_field(body)
    tokens = writing.FieldTokens(fast.positions, fast.boost)
    for docnum, text in enumerate(texts):
        fast.add(text, docnum * 3, tokens)  # document numbers with gaps, as a segment's may have
    table = tokens.pairs(pairs.common).postings()
    derived = sorted(
        (int(docnum), tbytes, weight, value)
        for tbytes, start, end in table.terms()
        for docnum, weight, value in zip(
            table.docs[start:end], table.weights(start, end), table.each_value(start, end), strict=True
        )
    )
    expected = sorted(
        (docnum * 3, tbytes, weight, value)
        for docnum, text in enumerate(texts)
        for tbytes, _, weight, value in pairs.index(text)
    )
    assert derived == expected
