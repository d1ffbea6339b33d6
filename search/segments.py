"""Whoosh 3 segments read and written in their own formats: the one module that uses Whoosh's private names.

Whoosh's public API gives a posting list, a column or a field length one document at a time;
reading a whole segment that way costs a Python call per document. This module reads them whole,
as arrays: a term's postings and positions from the block format (W3LeafMatcher), numeric columns
(field lengths, dates, sizes) and byte columns in one read each. It also encodes positions values
for many postings at once, writes a field's terms in the Whoosh 3 block format, and sets the
total of Results built without a collector. tests/test_segments.py pins every answer here to what Whoosh's public API returns, and
tests/test_writing.py checks that the segments written hold what Whoosh's own writer puts there,
block by block, so a Whoosh release that changes these internals fails there.
"""

from __future__ import annotations

import os
import zlib
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain
from operator import sub
from pickle import UnpicklingError, dumps, loads

import numpy as np
from whoosh import columns, fields
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3LeafMatcher,
    W3PerDocReader,
    W3PostingsWriter,
    W3TermInfo,
    W3TermsReader,
    _lenfield,
)
from whoosh.filedb.structfile import StructFile
from whoosh.reading import EmptyReader, MultiReader, SegmentReader, TermNotFound
from whoosh.searching import Results
from whoosh.system import pack_int, pack_long, pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte

# A stored field length byte -> the length (Whoosh's byte_to_length). A zero byte is "no length",
# which W3PerDocReader.doc_field_length returns as None; here it is 0.
LENGTH_OF_BYTE = np.array([byte_to_length(b) if b else 0 for b in range(256)], dtype=np.int64)
_TERM_INFO = W3TermInfo._struct  # a term's statistics; its postings' offset and length follow
# Whoosh pickles a block's docnums, weights and values with protocol 2, which has no opcode for
# bytes: each value is stored as a latin-1 string that codecs.encode turns back into bytes when
# read, a Python call per posting. Protocol 4 stores bytes as they are; Whoosh's reader loads
# either. On 4,000 documents' blocks: 43% smaller compressed, written 2.5x and read 2.6x faster.
BLOCK_PROTOCOL = 4


# -- opening ---------------------------------------------------------------------------------


def open_reader(ix):
    """Return a reader on the newest generation of `ix`; a failure to open it leaves no file open.

    Whoosh's FileIndex.reader opens the segments one after another and, when one cannot be opened
    (a commit deleted its files after the generation was read), drops the readers already opened
    with their files still open, and even a half-opened segment's (its term table opened, its
    postings gone). Here every file opened is closed before the error is raised.
    """
    toc = ix._read_toc()
    if not toc.segments:
        return EmptyReader(toc.schema)
    readers = []
    try:
        for segment in toc.segments:
            readers.append(_open_segment(ix.storage, toc.schema, segment, toc.generation))
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    if len(readers) == 1:
        return readers[0]
    return MultiReader(readers, generation=toc.generation)


def _open_segment(storage, schema, segment, generation) -> SegmentReader:
    opening = _RecordingStorage(storage)
    try:
        reader = SegmentReader(opening, schema, segment, generation=generation)
    except BaseException:
        for file in opening.opened:
            file.close()
        raise
    if reader._storage is opening:
        reader._storage = storage  # the files it opens later are its own to close
    return reader


class _RecordingStorage:
    """A storage that remembers each file it opens, so a segment opened halfway can be closed."""

    def __init__(self, storage):
        self._storage = storage
        self.opened: list = []

    def open_file(self, name, *args, **kwargs):
        file = self._storage.open_file(name, *args, **kwargs)
        self.opened.append(file)
        return file

    def __getattr__(self, name):
        return getattr(self._storage, name)


# -- posting lists ---------------------------------------------------------------------------


def postings_arrays(reader, fieldname: str, text: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Return a term's (docnums int32, weights float32) in a segment, deleted documents included; None in another format.

    Raises TermNotFound, as reader.postings does, when the segment lacks the term.
    """
    matcher = _leaf_matcher(reader, fieldname, text)
    if matcher is None:
        return None
    ids, weights = [], []
    for block_ids in _blocks(matcher):
        ids.append(block_ids)
        weights.append(_block_weights(matcher))
    return _joined(ids, np.int32), _joined(weights, np.float32)


def positions_arrays(reader, fieldname: str, text: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (docnum, position) of every occurrence of a term in a segment; None without positions or in another format."""
    found = term_arrays(reader, fieldname, text, weights=False)
    return None if found is None else found[2:]


def term_arrays(
    reader, fieldname: str, text: bytes, weights: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray] | None:
    """Return postings_arrays and positions_arrays of a term, from one read of its blocks; None without positions.

    Each block is one zlib stream and one pickle holding the block's docnums, weights and values,
    so a phrase reading the postings and then the positions of a common word decoded it twice
    (0.2 s for "the" at 100k documents). Without `weights` the postings are (None, None).
    """
    fmt = reader.schema[fieldname].format
    if not fmt.supports("positions"):
        return None
    matcher = _leaf_matcher(reader, fieldname, text)
    if matcher is None:
        return None
    ids, stored, values = [], [], []
    for block_ids in _blocks(matcher):
        ids.append(block_ids)
        if weights:
            stored.append(_block_weights(matcher))
        matcher._read_values()
        values.extend(matcher._values)
    decoded = _pickled_gaps(values)
    if decoded is None:  # not the encoding _pickled_gaps reads: Whoosh's decoder, value by value
        gaps = [_gaps(fmt.decode_positions(value)) for value in values]
        counts = np.fromiter(map(len, gaps), dtype=np.int64, count=len(gaps))
        steps = np.fromiter(chain.from_iterable(gaps), dtype=np.int64, count=int(counts.sum()))
    else:
        counts, steps = decoded
    # Positions are the running sums of the gaps, restarted at each document's first one.
    running = np.cumsum(steps)
    firsts = np.cumsum(counts) - counts
    restart = np.repeat(running[firsts[counts > 0]] - steps[firsts[counts > 0]], counts[counts > 0])
    docnums = _joined(ids, np.int32)
    places = (running - restart).astype(np.int32)
    return (
        docnums if weights else None,
        _joined(stored, np.float32) if weights else None,
        np.repeat(docnums, counts),
        places,
    )


def _block_weights(matcher: W3LeafMatcher) -> np.ndarray:
    matcher._read_weights()
    return np.asarray(matcher._weights, dtype=np.float32)  # as stored


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


# formats.Positions stores a posting's positions as a 4-byte count, then the gaps between them
# pickled (protocol 2). Gaps under 256 pickle to a fixed layout: the header \x80\x02 ] q\x00, then
# "K gap a ." for one gap, or "( K gap K gap ... e ." for 2 to 1,000 (pickle's batch).
_PICKLE_HEADER = np.frombuffer(b"\x80\x02]q\x00", dtype=np.uint8)
_ONE_BYTE_INT = ord("K")


def _pickled_gaps(values: list[bytes]) -> tuple[np.ndarray, np.ndarray] | None:
    """Return (gaps per posting, the gaps) of formats.Positions values; None if one is not pickled as Whoosh does.

    Values whose gaps all fit a byte (nearly all: the commonest words' are short) are read in place
    with numpy, the rest with pickle.loads; loads on every value was two thirds of decoding a
    common word's 3.7 million positions (0.76 s at 100k documents, 0.41 s so).
    """
    if not values:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if lengths.min() < 4 + len(_PICKLE_HEADER) + 2:
        return None
    data = np.frombuffer(b"".join(values), dtype=np.uint8)
    starts = np.cumsum(lengths) - lengths
    counts = data[starts[:, None] + np.arange(4)].view(">u4").ravel().astype(np.int64)
    # In the fixed layout a value's length follows from its count, and only then.
    laid_out = (counts >= 1) & (counts <= 1000) & (lengths == np.where(counts == 1, 13, 12 + 2 * counts))
    fixed_counts, fixed_starts = counts[laid_out], starts[laid_out]
    header = data[fixed_starts[:, None] + 4 + np.arange(len(_PICKLE_HEADER))]
    ends = data[(fixed_starts + lengths[laid_out])[:, None] - (2, 1)]
    if not ((header == _PICKLE_HEADER).all() and (ends[:, 1] == ord(".")).all()):
        return None
    if not (ends[:, 0] == np.where(fixed_counts == 1, ord("a"), ord("e"))).all():
        return None
    # Where each fixed value's first "K" is, then every other byte: the opcodes, the gaps after them.
    firsts = fixed_starts + np.where(fixed_counts == 1, 9, 10)
    nth = np.arange(int(fixed_counts.sum())) - np.repeat(np.cumsum(fixed_counts) - fixed_counts, fixed_counts)
    opcodes = np.repeat(firsts, fixed_counts) + 2 * nth
    if not (data[opcodes] == _ONE_BYTE_INT).all():
        return None
    offsets = np.cumsum(counts) - counts
    gaps = np.empty(int(counts.sum()), dtype=np.int64)
    gaps[np.repeat(offsets[laid_out], fixed_counts) + nth] = data[opcodes + 1]
    for i in np.flatnonzero(~laid_out).tolist():
        try:
            found = loads(values[i][4:])
        except (UnpicklingError, EOFError):
            return None
        if not isinstance(found, list) or len(found) != counts[i]:
            return None
        gaps[offsets[i] : offsets[i] + counts[i]] = found
    return counts, gaps


def _leaf_matcher(reader, fieldname: str, text: bytes) -> W3LeafMatcher | None:
    """Return a term's postings in a segment in Whoosh 3's block format (None in another one).

    Read below reader.postings, whose filter of deleted documents moves the matcher past them:
    here every posting the segment stores is read, and the caller removes deleted documents.
    """
    if not isinstance(reader, SegmentReader):
        return None
    if fieldname not in reader.schema:
        raise TermNotFound(f"no field {fieldname!r}")
    matcher = reader._terms.matcher(fieldname, text, reader.schema[fieldname].format)
    return matcher if type(matcher) is W3LeafMatcher else None


def _blocks(matcher: W3LeafMatcher) -> Iterator[np.ndarray]:
    """Yield the docnums of each block (up to 128 postings), the matcher standing on that block."""
    while matcher.is_active():
        yield _block_ids(matcher)
        matcher._next_block()


def _block_ids(matcher: W3LeafMatcher) -> np.ndarray:
    """Return the docnums of the matcher's current block (stored as gaps: a running sum, in numpy)."""
    if matcher._data is None:
        matcher._read_data()
    if matcher._byteids:
        matcher._read_ids()
        return np.asarray(matcher._ids, dtype=np.int32)
    return np.cumsum(np.asarray(matcher._data[0], dtype=np.int64)).astype(np.int32)


def _gaps(positions: list[int]) -> list[int]:
    return [b - a for a, b in zip([0, *positions], positions, strict=False)]


def live_documents(reader) -> np.ndarray:
    """Return which documents of `reader` (one segment or several) are not deleted, as a mask by document number.

    Read from each segment's deletions: Whoosh's all_doc_ids() asks is_deleted() document by
    document (150 ms at 100k documents).
    """
    live = np.ones(reader.doc_count_all(), dtype=bool)
    if reader.has_deletions():
        for leaf, offset in reader.leaf_readers():
            if leaf.has_deletions():
                live[offset + np.fromiter(leaf.segment().deleted_docs(), dtype=np.int64)] = False
    return live


# -- columns and field lengths ---------------------------------------------------------------


class _OpenColumns(W3PerDocReader):
    """A W3PerDocReader whose column files were all opened up front (see open_columns)."""

    def has_column(self, fieldname):
        # A column opened up front is there even once a later commit has deleted its file.
        return fieldname in self._colfiles or super().has_column(fieldname)


def open_columns(reader, skip: Collection[str] = ()) -> None:
    """Open the column files of a reader's segments now, but those in `skip`; raise FileNotFoundError if one is gone.

    Whoosh opens a segment's column files (stored fields, field lengths, dates, paths) when they
    are first read, and a commit deletes the files of the segments it replaced. A reader opened
    just before a commit would then find its stored fields missing (a TypeError in Whoosh) or its
    field lengths missing (scores computed with no length). A file opened before it is deleted
    stays readable, so readers open them all at once, as Lucene's SegmentReader opens its files.
    """
    leaves = [leaf for leaf, _ in reader.leaf_readers() if isinstance(leaf, SegmentReader)]
    if not leaves:
        return
    names = leaves[0]._storage.list()
    for leaf in leaves:
        perdoc = leaf._perdoc
        if type(perdoc) is not W3PerDocReader:
            continue
        prefix = leaf._segment.segment_id() + "."
        for name in names:
            if name.startswith(prefix) and name.endswith(W3Codec.COLUMN_EXT):
                column = name[len(prefix) : -len(W3Codec.COLUMN_EXT)]
                if column not in perdoc._colfiles and column not in skip:
                    perdoc._colfiles[column] = perdoc._get_column_file(column)
        perdoc.__class__ = _OpenColumns


def read_terms_by_pread(reader) -> None:
    """Make each segment's vocabulary reads one os.pread each, where Whoosh seeks and then reads.

    A term lookup is a binary search of the segment's on-disk term table, each step a few reads of
    a few bytes through StructFile.get (a seek and a read, each through two Python calls). A fuzzy
    word's automaton makes thousands of lookups per segment: `presure~` at 100k documents took 481
    ms so and 180 ms with pread. pread leaves the file position alone, which only Whoosh's opening
    of the table (done by now) relies on. Where there is no pread, or the table is in a compound
    file, Whoosh's own reads stay.
    """
    if not hasattr(os, "pread"):
        return
    for leaf, _ in reader.leaf_readers():
        terms = getattr(leaf, "_terms", None)
        if type(terms) is not W3TermsReader:
            continue
        table = terms._tindex.dbfile
        if type(table) is StructFile and table.is_real:
            table.get = partial(_pread, table.file)


def _pread(file, position: int, length: int) -> bytes:
    # fileno() each time: a closed file raises ValueError, as Whoosh's read does, and a number
    # the system has since given to another file is never read.
    return os.pread(file.fileno(), length, position)


def field_lengths(reader, fieldname: str) -> np.ndarray | None:
    """Return every document's length of `fieldname` in a segment reader (0: none); None if the segment stores none."""
    return document_lengths(reader._perdoc, fieldname)


def document_lengths(perdoc, fieldname: str) -> np.ndarray | None:
    """Return what field_lengths does, from a codec's per-document reader (a writer's own segment)."""
    column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
    if column is None:
        return None
    count = perdoc.doc_count_all()
    raw = _numeric_array(column, count)
    if raw is None:
        raw = np.fromiter(column, dtype=np.uint8, count=count)
    return LENGTH_OF_BYTE[raw]


def numeric_column(reader, fieldname: str) -> np.ndarray:
    """Return a segment's numeric column (such as a date) as stored, one number per document."""
    column = reader.column_reader(fieldname, translate=False)
    size = reader.doc_count_all()
    stored = _numeric_array(column, size)
    if stored is None:
        return np.array([column[docnum] for docnum in range(size)])
    return stored.astype(stored.dtype.newbyteorder("="))


def column_values(reader, fieldname: str) -> list:
    """Return a segment's column values as stored (before from_column_value), one per document."""
    column = reader.column_reader(fieldname, translate=False)
    size = reader.doc_count_all()
    numbers = _numeric_array(column, size)
    if numbers is not None:
        return numbers.tolist()
    if isinstance(column, columns.VarBytesColumn.Reader):
        lengths, offsets = column._lengths, column._offsets
        blob = column._dbfile.get(column._basepos, (offsets[-1] + lengths[-1]) if size else 0)
        return [blob[offset : offset + length] for offset, length in zip(offsets, lengths, strict=True)]
    return list(column)  # another column type: Whoosh's own (slower) iteration


def translated_column_values(reader, fieldname: str) -> list:
    """Return a segment's column values as the field's from_column_value gives them (a translating column reader).

    In bulk for the bookkeeping's kinds of field, which Whoosh translates one call per value: a
    COLUMN's values as stored, a text field's bytes decoded, an integer NUMERIC's sortable numbers
    shifted back (a no-op reindex of 100k files: its four columns read in 0.10 s instead of 0.17).
    """
    field = reader.schema[fieldname]
    kind = type(field)
    if kind.from_bytes is fields.COLUMN.from_bytes and kind.from_column_value is fields.FieldType.from_column_value:
        return column_values(reader, fieldname)  # from_bytes returns the value as it is
    if kind.from_bytes is fields.FieldType.from_bytes and kind.from_column_value is fields.FieldType.from_column_value:
        return [value.decode("utf-8") for value in column_values(reader, fieldname)]
    if kind.from_column_value is fields.NUMERIC.from_column_value and field.numtype is int and not field.decimal_places:
        numbers = _numeric_array(reader.column_reader(fieldname, translate=False), reader.doc_count_all())
        if numbers is not None:
            shift = (1 << (field.bits - 1)) if field.signed else 0  # whoosh.util.numeric.from_sortable
            return [number - shift for number in numbers.tolist()] if shift else numbers.tolist()
    return list(map(field.from_column_value, column_values(reader, fieldname)))


def _numeric_array(column, size: int) -> np.ndarray | None:
    """Return a numeric column of `size` documents in one read, or None when it is not stored whole that way."""
    if not isinstance(column, columns.NumericColumn.Reader) or column._count != size:
        return None
    dtype = np.dtype(">" + column._typecode)  # stored big-endian, struct's standard sizes
    if dtype.itemsize != column._fixedlen:
        return None
    return np.frombuffer(column._dbfile.get(column._basepos, size * column._fixedlen), dtype)


# -- writing ---------------------------------------------------------------------------------


def positions_values(counts: np.ndarray, gaps: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Return formats.Positions values, joined, and where each ends: postings of counts[i] positions each.

    `gaps` holds every posting's gaps in order (its first position, then the differences). Each value
    is what Positions.encode writes, a 4-byte count then the gaps pickled (protocol 2), built for all
    postings at once: the inverse of _pickled_gaps. An int pickles as "K" and one byte under 256,
    "M" and two under 65,536, else "J" and four (little-endian); one gap is followed by "a", more
    are batched a thousand at a time between "(" and "e"; "." ends the pickle.
    """
    counts = np.asarray(counts, dtype=np.int64)
    gaps = np.asarray(gaps, dtype=np.int64)
    if len(gaps) and (gaps.min() < 0 or gaps.max() >= 2**31):
        raise ValueError("a position gap outside 0..2**31-1")
    if len(counts) and counts.min() < 1:
        raise ValueError("a posting without positions")
    firsts = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), counts)
    nth = np.arange(len(gaps)) - firsts[owner]
    many = counts[owner] > 1
    opens = many & (nth % 1000 == 0)
    closes = (nth % 1000 == 999) | (nth == counts[owner] - 1)
    sizes = np.where(gaps < 256, 2, np.where(gaps < 65536, 3, 5))
    spans = sizes + opens + closes
    # A value: count (4) + header (5) + its gaps' spans + "." (1).
    before = np.cumsum(spans) - spans  # bytes of gaps before each gap, over all postings
    lengths = 10 + np.add.reduceat(spans, firsts) if len(counts) else np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    out = np.zeros(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
    out[starts[:, None] + np.arange(4)] = counts.astype(">u4").view(np.uint8).reshape(-1, 4)
    out[starts[:, None] + 4 + np.arange(len(_PICKLE_HEADER))] = _PICKLE_HEADER
    out[ends - 1] = ord(".")
    at = starts[owner] + 9 + before - before[firsts][owner]
    out[at[opens]] = ord("(")
    at += opens
    out[at] = np.where(sizes == 2, ord("K"), np.where(sizes == 3, ord("M"), ord("J")))
    little = gaps.astype("<u4").view(np.uint8).reshape(-1, 4)
    for byte in range(4):
        wide = sizes > byte + 1
        out[at[wide] + 1 + byte] = little[wide, byte]
    at += sizes
    out[at[closes]] = np.where(many[closes], ord("e"), ord("a"))
    return out.tobytes(), ends


def writes_blocks(fieldwriter) -> bool:
    """Return whether write_terms can write the current field's postings (Whoosh 3's postings writer, no inlining)."""
    postwriter = fieldwriter._postwriter
    return type(postwriter) is W3PostingsWriter and not postwriter._byteids and postwriter._inlinelimit <= 1


def write_terms(
    fieldwriter,
    terms: Iterable[tuple[bytes, list[int], list[float], Callable[[int, int], list[bytes]]]],
    lengths: Sequence[int] | None,
) -> None:
    """Write the current field's terms, each (term, docnums, weights, values), as W3FieldWriter writes them.

    What start_term, add per posting and finish_term write (tests/test_writing.py compares every
    block's statistics and contents with Whoosh's own writer), but a block's contents pickled with
    BLOCK_PROTOCOL, and its statistics, deltas and small encodings made by list operations instead
    of a call per posting. `values(start, end)` returns postings
    start..end-1's values as a block keeps them; `lengths` is each document's field length (0:
    none), or None.
    """
    postwriter = fieldwriter._postwriter
    postfile, limit, compression = postwriter._postfile, postwriter._blocklimit, postwriter._compression
    write, add_term = postfile.write, fieldwriter._tindex.add
    prefix = pack_ushort(fieldwriter._fieldid)
    fixed = fieldwriter._format.fixed_value_size()
    # Where each term's postings start, counted here: the file's tell() is a system call each time.
    offset = postfile.tell()
    for tbytes, docs, weights, values in terms:
        pieces = [WHOOSH3_HEADER_MAGIC]
        total_weight, minlength, maxlength, maxweight = 0, None, 0, 0
        total = len(docs)
        for start in range(0, total, limit):
            end = min(total, start + limit)
            ids, raw = docs[start:end], weights[start:end]
            stored = array("f", raw).tolist()  # as W3PostingsWriter keeps them
            found = [length for length in map(lengths.__getitem__, ids) if length] if lengths else ()
            block_min, block_max = (min(found), max(found)) if found else (None, 0)
            block_weight = max(0, max(raw))
            # W3TermInfo.add_block
            total_weight += sum(stored)
            minlength = block_min if minlength is None else min(minlength, block_min)
            maxlength = max(maxlength, block_max)
            maxweight = max(maxweight, block_weight)
            # W3PostingsWriter._write_block: docnums as deltas from the block's start.
            data = dumps(
                ((ids[0], *map(sub, ids[1:], ids)), _mini_weights(stored), _mini_values(fixed, values(start, end))),
                BLOCK_PROTOCOL,
            )
            if compression:
                data = zlib.compress(data, compression)
            info = dumps(
                (len(ids), ids[-1], block_weight, compression, length_to_byte(block_min), length_to_byte(block_max)), 2
            )
            size = len(info) + len(data)
            pieces += (pack_int(-size if end == total else size), info, data)
        info = _TERM_INFO.pack(
            False,
            total_weight,
            total,
            0 if minlength is None else length_to_byte(minlength),
            length_to_byte(maxlength),
            maxweight,
            docs[0],
            docs[-1],
        )
        postings = b"".join(pieces)
        write(postings)
        add_term(prefix + tbytes, info + pack_long(offset) + pack_int(len(postings)))
        offset += len(postings)


def _mini_weights(stored: list[float]):
    # As W3PostingsWriter._mini_weights: None when all are 1.0, one number when all are equal, else each.
    first = stored[0]
    if stored.count(first) != len(stored):
        return tuple(stored)
    return None if first == 1.0 else first


def _mini_values(fixed: int | None, values: list[bytes]):
    # As W3PostingsWriter._mini_values: each value, none (a format without values) or all joined (fixed size).
    if fixed is None or fixed < 0:
        return tuple(values)
    return None if fixed == 0 else b"".join(values)


# -- results ---------------------------------------------------------------------------------


def results_with_total(searcher, q, top: list[tuple[float, int]], total: int) -> Results:
    """Return Whoosh Results of `top` ((score, docnum) pairs) whose len() is `total`, without a collector."""
    results = Results(searcher, q, top)
    results._total = total
    return results
