"""Contract: what search.segments reads from Whoosh's private formats equals Whoosh's public API.

segments.py is the one module that uses Whoosh's internals (block-format posting lists, column
files, the postings writer). Each test here compares its answer with what Whoosh's public API
returns for the same segment, on an index of several segments written both by Whoosh's own
SegmentWriter and by ours, with deletions; so a Whoosh release that changes an internal fails here,
loudly, instead of changing search results or silently taking a slow path.
"""

from __future__ import annotations

import gc
import random
import warnings
from datetime import datetime, timedelta
from functools import partial

import numpy as np
import pytest
from whoosh import formats, query
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.writing import SegmentWriter

from search import segments
from search.analysis import build_schema
from search.writing import BufferedSegmentWriter

WORDS = ["common", "flow", "wing", "heat", "boundary", "layer", "shock", "wave", "mach", "plate"]
TEXT_FIELDS = ["words", "body_en", "title_en", "body_ru"]
COLUMNS = ["path", "modified", "size", "mtime_ns", "hash"]
DELETED = {3, 4, 140, 151, 152, 299, 305}


def _document(n: int, rng: random.Random) -> dict:
    count = rng.choice([1, 5, 40, 300, 2500])  # up to several blocks of positions, and large length bytes
    text = " ".join(["common", *rng.choices(WORDS, k=count)])
    doc = {
        "id": f"d{n}",
        "path": f"folder{n % 3}/file{n}.txt",
        "folder": f"folder{n % 3}",
        "type": "text",
        "lang": "en",
        "modified": datetime(2020, 1, 1) + timedelta(hours=n * 7),
        "mtime_ns": 1_600_000_000_000_000_000 + n * 1_000_003,
        "size": n * 4099,
        "hash": f"{n:064x}".encode("ascii"),
        "title": f"Title {n}",
        "body": text,
        "words": text,
        "title_en": f"Title {n} {WORDS[n % len(WORDS)]}",
    }
    if n % 11:  # some documents have no body_en: a zero length byte
        doc["body_en"] = text
    if n >= 300:  # only the last segment has Russian: the others store no body_ru lengths
        doc["body_ru"] = "поток слой поток"
    return doc


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """Return (index, a reader from before the deletions, the reader after them)."""
    rng = random.Random(7)
    ix = whoosh_index.create_in(tmp_path_factory.mktemp("segments"), build_schema(), indexname="t")
    batches = [
        (SegmentWriter, range(0, 150)),
        (BufferedSegmentWriter, range(150, 300)),
        (BufferedSegmentWriter, range(300, 310)),
    ]
    for make, numbers in batches:
        writer = make(ix)
        for n in numbers:
            writer.add_document(**_document(n, rng))
        writer.commit(merge=False)
    before = ix.reader()
    writer = ix.writer()
    for n in DELETED:
        writer.delete_by_term("id", f"d{n}")
    writer.commit(merge=False)
    after = ix.reader()
    assert len(after.leaf_readers()) == 3 and after.has_deletions()
    yield ix, before, after
    before.close()
    after.close()


@pytest.fixture
def three_segments(tmp_path):
    """Return an index of three segments in separate files (BufferedSegmentWriter's)."""
    rng = random.Random(3)
    ix = whoosh_index.create_in(tmp_path, build_schema(), indexname="t")
    for numbers in (range(0, 20), range(20, 40), range(40, 60)):
        writer = BufferedSegmentWriter(ix)
        for n in numbers:
            writer.add_document(**_document(n, rng))
        writer.commit(merge=False)
    return ix


def _pairs(before, after):
    """Yield each segment's reader before and after the deletions."""
    earlier = {leaf.segment().segment_id(): leaf for leaf, _ in before.leaf_readers()}
    for leaf, _ in after.leaf_readers():
        yield earlier[leaf.segment().segment_id()], leaf


def _terms(leaf, fieldname: str) -> list[bytes]:
    return list(leaf.lexicon(fieldname)) if fieldname in leaf.indexed_field_names() else []


def test_postings_arrays_equal_the_matchers_ids_and_weights(index):
    _, before, after = index
    checked = 0
    for whole, leaf in _pairs(before, after):
        for fieldname in ["words", "body_en", "folder", "path"]:
            for text in _terms(leaf, fieldname):
                found = segments.postings_arrays(leaf, fieldname, text)
                assert found is not None, (fieldname, text)  # the fast path, not a fallback
                docs, weights = found
                # Deleted documents included: what the segment held before its deletions.
                matcher = whole.postings(fieldname, text)
                assert docs.tolist() == list(matcher.all_ids())
                matcher = whole.postings(fieldname, text)
                expected = []
                while matcher.is_active():
                    expected.append(matcher.weight())
                    matcher.next()
                assert weights.tolist() == pytest.approx(expected, rel=1e-7)
                live = [d for d in docs.tolist() if not leaf.is_deleted(d)]
                assert live == list(leaf.postings(fieldname, text).all_ids())
                checked += len(docs)
    assert checked > 1000


def test_postings_span_several_blocks(index):
    _, _, after = index
    leaf = after.leaf_readers()[0][0]
    docs, _ = segments.postings_arrays(leaf, "body_en", b"common")
    assert len(docs) > 128  # a posting block holds 128


def test_positions_arrays_equal_the_matchers_positions(index):
    _, before, after = index
    for whole, leaf in _pairs(before, after):
        for fieldname in ["body_en", "title_en", "body_ru"]:
            for text in _terms(leaf, fieldname):
                docs, places = segments.positions_arrays(leaf, fieldname, text)
                matcher = whole.postings(fieldname, text)
                expected = []
                while matcher.is_active():
                    expected += [(matcher.id(), place) for place in matcher.value_as("positions")]
                    matcher.next()
                assert list(zip(docs.tolist(), places.tolist(), strict=True)) == expected
                # One read of the blocks gives the postings and the positions alike.
                both = segments.term_arrays(leaf, fieldname, text)
                postings = segments.postings_arrays(leaf, fieldname, text)
                for got, want in zip(both, (*postings, docs, places), strict=True):
                    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_pickled_gaps_equal_whooshs_decoder():
    """Whoosh's own encoding of positions lists, decoded in place: one-byte gaps, two- and four-byte ones, pickle's batches."""
    rng = random.Random(11)
    lists = [[0], [255], [256], [7, 300], [70_000], [1, 2, 3], list(range(1000)), list(range(1001)), list(range(2500))]
    for _ in range(300):
        size = rng.choice([1, 2, 3, 10, 999, 1000, 1001])
        step = rng.choice([3, 255, 256, 65_536])
        lists.append(sorted(rng.sample(range(size * step + 1), size)))
    encode = formats.Positions().encode
    for chosen in (lists, [lst for lst in lists if max(segments._gaps(lst)) < 256 and len(lst) <= 1000]):
        counts, gaps = segments._pickled_gaps([encode(lst) for lst in chosen])
        assert counts.tolist() == [len(lst) for lst in chosen]
        assert gaps.tolist() == [gap for lst in chosen for gap in segments._gaps(lst)]
    # Not pickled as Whoosh does (no stop byte, another opcode, not a list): left to Whoosh's decoder.
    value = encode([1, 2, 3])
    assert segments._pickled_gaps([value[:-1]]) is None
    assert segments._pickled_gaps([value.replace(b"K", b"J", 1)]) is None
    assert segments._pickled_gaps([value[:4] + b"\x80\x02K\x03."]) is None


def test_positions_values_equal_whooshs_encoding():
    """Positions encoded for many postings at once are Positions.encode's bytes: every int width, pickle's batches."""
    rng = random.Random(12)
    lists = [[0], [255], [256], [65_535], [65_536], [7, 300], [2**31 - 1], list(range(1000)), list(range(1001))]
    lists += [list(range(2000)), list(range(2001)), list(range(0, 3000, 3))]
    for _ in range(300):
        size = rng.choice([1, 2, 3, 10, 999, 1000, 1001])
        step = rng.choice([3, 255, 256, 65_536])
        lists.append(sorted(rng.sample(range(size * step + 1), size)))
    encode = formats.Positions().encode
    for chosen in (lists, lists[:1], rng.sample(lists, 50)):
        gaps = [gap for lst in chosen for gap in segments._gaps(lst)]
        blob, ends = segments.positions_values(np.array([len(lst) for lst in chosen]), np.array(gaps))
        starts = [0, *ends[:-1].tolist()]
        assert [blob[a:b] for a, b in zip(starts, ends.tolist(), strict=True)] == [encode(lst) for lst in chosen]
    assert segments.positions_values(np.zeros(0, np.int64), np.zeros(0, np.int64))[0] == b""
    with pytest.raises(ValueError):
        segments.positions_values(np.array([1]), np.array([2**31]))


def test_positions_with_long_gaps_equal_the_matchers(tmp_path):
    filler = " ".join(["filler"] * 300)
    bodies = [
        "zeta",
        f"{filler} zeta",
        f"zeta {filler} zeta zeta",
        "zeta " * 1000,
        "zeta " * 1001,
        f"zeta {filler * 250} zeta",
    ]
    ix = whoosh_index.create_in(tmp_path, build_schema(), indexname="t")
    writer = BufferedSegmentWriter(ix)
    for n, body in enumerate(bodies):
        writer.add_document(id=f"d{n}", path=f"d{n}.txt", lang="en", title="t", body=body, body_en=body)
    writer.commit()
    with ix.reader() as reader:
        for text in (b"zeta", b"filler"):
            docs, places = segments.positions_arrays(reader, "body_en", text)
            matcher = reader.postings("body_en", text)
            expected = []
            while matcher.is_active():
                expected += [(matcher.id(), place) for place in matcher.value_as("positions")]
                matcher.next()
            assert list(zip(docs.tolist(), places.tolist(), strict=True)) == expected
            assert max(place for _, place in expected) > 70_000 or text == b"filler"


def test_positions_need_a_positions_format(index):
    _, _, after = index
    leaf = after.leaf_readers()[0][0]
    assert segments.positions_arrays(leaf, "words", b"common") is None  # frequencies only


def test_field_lengths_equal_doc_field_length(index):
    _, _, after = index
    absent = 0
    for leaf, _ in after.leaf_readers():
        size = leaf.doc_count_all()
        for fieldname in TEXT_FIELDS:
            found = segments.field_lengths(leaf, fieldname)
            if found is None:
                absent += 1
                assert all(leaf.doc_field_length(d, fieldname, "none") == "none" for d in range(size))
            else:
                # A zero byte: Whoosh says None, segments 0.
                assert found.tolist() == [leaf.doc_field_length(d, fieldname) or 0 for d in range(size)]
    assert absent == 2  # body_ru in the first two segments
    lengths = segments.field_lengths(after.leaf_readers()[0][0], "body_en")
    assert 0 in lengths and lengths.max() > 2000


def test_live_documents_equal_is_deleted(index):
    _, before, after = index
    for reader in (after, before, *(leaf for leaf, _ in after.leaf_readers())):
        expected = [not reader.is_deleted(d) for d in range(reader.doc_count_all())]
        assert segments.live_documents(reader).tolist() == expected
    assert sorted(d for d, live in enumerate(segments.live_documents(after)) if not live) == sorted(DELETED)


def test_term_reads_by_pread_equal_whooshs(index):
    ix, _, _ = index
    plain, fast = ix.reader(), ix.reader()
    segments.read_terms_by_pread(fast)
    try:
        pairs = list(
            zip((leaf for leaf, _ in plain.leaf_readers()), (leaf for leaf, _ in fast.leaf_readers()), strict=True)
        )
        # Ours (separate files) read by pread; Whoosh's own writer made a compound file, left as it is.
        assert [isinstance(b._terms._tindex.dbfile.get, partial) for _, b in pairs] == [False, True, True]
        for a, b in pairs:
            for fieldname in TEXT_FIELDS:
                words = _terms(a, fieldname)
                assert _terms(b, fieldname) == words
                assert [(t, i.doc_frequency(), i.weight()) for t, i in b.iter_field(fieldname)] == [
                    (t, i.doc_frequency(), i.weight()) for t, i in a.iter_field(fieldname)
                ]
                for word in [*words, b"absent", b"zzz"]:
                    assert ((fieldname, word) in b) == ((fieldname, word) in a)
                    assert b.doc_frequency(fieldname, word) == a.doc_frequency(fieldname, word)
            assert sorted(b.terms_within("words", "comon", 2)) == sorted(a.terms_within("words", "comon", 2)) != []
        assert sorted(fast.expand_prefix("words", "w")) == sorted(plain.expand_prefix("words", "w"))
    finally:
        plain.close()
        fast.close()
    with pytest.raises(ValueError):  # a closed reader fails as Whoosh's does, never reading another file
        fast.leaf_readers()[1][0]._terms._tindex.dbfile.get(0, 4)


def test_columns_equal_the_column_readers(index):
    _, _, after = index
    for leaf, _ in after.leaf_readers():
        size = leaf.doc_count_all()
        for fieldname in COLUMNS:
            column = leaf.column_reader(fieldname, translate=False)
            expected = [column[d] for d in range(size)]
            assert segments.column_values(leaf, fieldname) == expected
            translated = leaf.column_reader(fieldname, translate=True)
            field = leaf.schema[fieldname]
            values = map(field.from_column_value, segments.column_values(leaf, fieldname))
            assert list(values) == [translated[d] for d in range(size)]
            assert segments.translated_column_values(leaf, fieldname) == [translated[d] for d in range(size)]
        for fieldname in ["modified", "size", "mtime_ns"]:
            column = leaf.column_reader(fieldname, translate=False)
            numbers = segments.numeric_column(leaf, fieldname)
            assert numbers.dtype.kind in "iu" and numbers.dtype.isnative
            assert numbers.tolist() == [column[d] for d in range(size)]


def test_the_writer_fills_whoosh3_blocks(index):
    ix, _, _ = index
    writer = SegmentWriter(ix, _lk=False)
    try:
        assert isinstance(writer.codec, W3Codec)
        writer.fieldwriter.start_field("words", ix.schema["words"])
        assert segments.writes_blocks(writer.fieldwriter)  # else BufferedSegmentWriter posts one by one
        writer.fieldwriter.finish_field()
    finally:
        writer.cancel()


def test_results_with_total(index):
    ix, _, _ = index
    with ix.searcher() as searcher:
        q = query.Term("words", "common")
        results = segments.results_with_total(searcher, q, [(2.5, 7), (1.0, 2)], 40)
        assert len(results) == 40
        assert results.scored_length() == 2
        assert [hit.docnum for hit in results] == [7, 2]
        assert results[0].score == 2.5
        assert results[0]["path"] == searcher.stored_fields(7)["path"]


def test_open_reader_reads_what_whooshs_reader_reads(three_segments):
    ix = three_segments
    with ix.reader() as theirs, segments.open_reader(ix) as ours:
        assert ours.generation() == theirs.generation()
        assert [leaf.segment().segment_id() for leaf, _ in ours.leaf_readers()] == [
            leaf.segment().segment_id() for leaf, _ in theirs.leaf_readers()
        ]
        assert ours.doc_count() == theirs.doc_count() == 60
        assert list(ours.lexicon("words")) == list(theirs.lexicon("words"))
        # A file a segment opens later (a column) is the reader's own, closed with it.
        segments.open_columns(ours)
        assert all(type(leaf._storage) is type(ix.storage) for leaf, _ in ours.leaf_readers())


@pytest.mark.parametrize("segment", [0, 2])
def test_a_segment_that_cannot_open_leaves_no_file_open(three_segments, segment):
    """A commit deleted a segment's postings after the generation was read: nothing opened stays open.

    The last segment failing leaves two opened readers to close (Whoosh's FileIndex.reader drops
    them open); the first failing leaves its own term table, opened just before its postings.
    """
    ix = three_segments
    toc = ix._read_toc()
    postings = toc.segments[segment].make_filename(W3Codec.POSTS_EXT)
    ix.storage.delete_file(postings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FileNotFoundError):
            segments.open_reader(ix)
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
