"""Write Whoosh segments fast: postings grouped per term in memory, written a block at a time.

Whoosh's own SegmentWriter sends every posting through a generic pool that
spills sorted runs to disk and merges them with a heap at commit, and runs each
token through a chain of generators; with language detection, that was the
whole of the indexing time. This writer keeps Whoosh's segment format and
commit protocol (the terms and postings files come out byte for byte the same)
but:

- analyses text fields with `search.fastanalysis` (same terms and positions);
- groups postings by term as they arrive, so a segment is written by sorting
  the terms, not the postings, and each posting list goes to the codec in
  whole blocks, with field lengths read once per segment instead of per posting;
- writes a segment whenever its buffered postings reach `limitmb`, so memory
  stays bounded and a large build ends as a few segments, not one huge merge;
- can hand its segments to another writer to commit (`finish`), so worker
  processes can each write segments while one process holds the lock.

Anything it does not recognise (another analyzer, format or codec, term
vectors, boosts) goes through Whoosh's own code.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pickle import dumps

from whoosh import formats
from whoosh.system import pack_uint, unpack_uint
from whoosh.writing import SegmentWriter

from search import segments
from search.fastanalysis import compile_analyzer

# (term bytes, frequency, weight, value bytes) for each distinct term of a field value.
Posting = tuple[bytes, int, float, bytes]
SMALL_SEGMENT_DOCS = 5_000  # segments under this many documents are merged when a commit adds to the index
TERM_OVERHEAD = 320  # bytes of Python objects per distinct term in the buffer, roughly
POSTING_OVERHEAD = 16  # docnum, weight and value offset


class FastField:
    """A text field's indexing as list and dict operations: the same postings as `field.index`."""

    def __init__(self, run: Callable[[str], tuple[list[str], list[int]]], positions: bool, boost: float):
        self._run = run
        self._positions = positions
        self._boost = boost

    def postings(self, text: str) -> list[Posting]:
        """Return what `field.index(text)` yields, (term bytes, frequency, weight, value), as `add` makes them."""
        buffer = PostingBuffer()
        self.add(text, 0, buffer, buffer.fields[""])
        found = []
        for tbytes, entry in buffer.fields[""].items():
            (value,) = _values(entry, 0, 1)
            # Both formats' values start with the frequency (formats.Frequency and Positions).
            found.append((tbytes, unpack_uint(value[:4])[0], entry[1][0], value))
        return found

    def add(self, text: str, docnum: int, buffer: PostingBuffer, terms: dict) -> int:
        """Add the postings of `text` for document `docnum` to a field's `terms`; return the field length.

        `postings(text)` shows what it adds. This loop is the hottest in indexing, so it writes out
        what PostingBuffer.add_all does rather than call it.
        """
        boost, get, packed, one_position = self._boost, terms.get, _PACKED, _ONE_POSITION
        words, places = self._run(text)
        if self._positions:
            found: dict[str, list[int]] = defaultdict(list)
            for word, pos in zip(words, places, strict=True):
                found[word].append(pos)
            items = found.items()
        else:
            items = Counter(words).items()
        grown = 0
        for word, where in items:
            if self._positions:
                n = len(where)
                if n == 1:
                    value = one_position.get(where[0]) or _one_position(where[0])
                else:
                    gaps = [where[0], *(b - a for a, b in zip(where, where[1:], strict=False))]
                    value = (packed[n] if n < 256 else pack_uint(n)) + dumps(gaps, 2)
            else:
                n = where
                value = packed[n] if n < 256 else pack_uint(n)
            tbytes = word.encode("utf-8")
            entry = get(tbytes)
            if entry is None:
                entry = terms[tbytes] = _new_term()
                grown += TERM_OVERHEAD + len(tbytes)
            docs, weights, values, ends = entry
            docs.append(docnum)
            weights.append(n * boost)
            values += value
            ends.append(len(values))
            grown += len(value)
        buffer.size += grown + POSTING_OVERHEAD * len(items)
        return len(words)


def compile_field(field) -> FastField | None:
    """Return the fast equivalent of `field.index` for text values, or None if there is none."""
    fmt = field.format
    if not field.indexed or fmt is None or type(fmt) not in (formats.Positions, formats.Frequency):
        return None
    compiled = compile_analyzer(field.analyzer)
    if compiled is None:
        return None
    return FastField(compiled.terms, type(fmt) is formats.Positions, fmt.field_boost)


_PACKED = [pack_uint(n) for n in range(256)]
_ONE_POSITION: dict[int, bytes] = {}


def _one_position(pos: int) -> bytes:
    # Most terms occur once in a document; their encoded value depends only on the position.
    value = _PACKED[1] + dumps([pos], 2)
    if pos < 100_000:
        _ONE_POSITION[pos] = value
    return value


# One term's postings in a segment: docnums, weights (doubles, as Whoosh keeps each
# block's maximum weight unrounded), the values concatenated, and where each value ends.
_TermPostings = tuple[array, array, bytearray, array]


def _new_term() -> _TermPostings:
    return array("I"), array("d"), bytearray(), array("I")


def _values(entry: _TermPostings, start: int, end: int) -> list[bytes]:
    """Return the values of postings start..end-1 of a term."""
    _, _, values, ends = entry
    first = ends[start - 1] if start else 0
    blob = bytes(values[first : ends[end - 1]]) if end > start else b""
    stops = ends[start:end]
    return [blob[a - first : b - first] for a, b in zip([first, *stops], stops, strict=False)]


class PostingBuffer:
    """A segment's postings grouped by field and term; stands in for Whoosh's PostingPool."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[bytes, _TermPostings]] = defaultdict(dict)
        self.size = 0
        self.fieldnames: set[str] = set()
        self.runs: list = []  # Whoosh's pool API; this buffer never spills

    def add_all(self, fieldname: str, docnum: int, postings: Iterable[Posting]) -> None:
        """Add one document's postings for one field."""
        terms = self.fields[fieldname]
        get = terms.get
        grown = 0
        for tbytes, _, weight, value in postings:
            entry = get(tbytes)
            if entry is None:
                entry = terms[tbytes] = _new_term()
                grown += TERM_OVERHEAD + len(tbytes)
            docs, weights, values, ends = entry
            docs.append(docnum)
            weights.append(weight)
            if value:
                values += value
                grown += len(value)
            ends.append(len(values))
        self.size += grown + POSTING_OVERHEAD * len(postings)

    def add(self, item: tuple) -> None:
        """Add one (fieldname, tbytes, docnum, weight, vbytes) posting, as Whoosh's merges do."""
        fieldname, tbytes, docnum, weight, value = item
        self.fieldnames.add(fieldname)
        self.add_all(fieldname, docnum, ((tbytes, 0, weight, value),))

    def iter_postings(self) -> Iterator[tuple]:
        """Yield every posting in (field, term, docnum) order, as Whoosh's pool does."""
        for fieldname in sorted(self.fields):
            terms = self.fields[fieldname]
            for tbytes in sorted(terms):
                docs, weights, _, _ = entry = terms[tbytes]
                for docnum, weight, value in zip(docs, weights, _values(entry, 0, len(docs)), strict=True):
                    yield fieldname, tbytes, docnum, weight, value

    def save(self) -> None:
        """Do nothing: the buffer is written as a segment instead of spilled."""

    def cleanup(self) -> None:
        """Drop every posting."""
        self.fields.clear()
        self.size = 0


class BufferedSegmentWriter(SegmentWriter):
    """A Whoosh SegmentWriter that buffers postings per term and may write several segments.

    Use it like SegmentWriter. `finish()` writes the pending segment and returns
    every segment written, for a parent process to commit (`_lk=False` writers);
    `commit(extra_segments=...)` commits this writer's segments and those.
    """

    def __init__(self, ix, limitmb: int = 256, compound: bool = False, **kwargs):
        # Not compound: Whoosh reads a compound segment's postings and terms by copying them
        # into memory (BytesIO over the mmap) in every reader, i.e. in every searcher of every
        # web worker thread; separate files are read in place. Assembling one also copies it.
        super().__init__(ix, limitmb=limitmb, compound=compound, **kwargs)
        self.limit = limitmb * 1024 * 1024
        self.pool = PostingBuffer()
        self.written_segments: list = []
        self._fast = {name: compile_field(field) for name, field in self.schema.items()}
        self._fast_ok = not any(
            field.vector or field.separate_spelling() for _, field in self.schema.items() if field.indexed
        )

    # -- adding ------------------------------------------------------------------------------

    def add_document(self, **fields) -> None:
        """Add a document, like SegmentWriter.add_document."""
        if not self._fast_ok or any(name.startswith("_") for name in fields):
            # Boosts, custom stored values and term vectors: Whoosh's own path.
            SegmentWriter.add_document(self, **fields)
        else:
            self._add_fast(fields)
        if self.pool.size > self.limit:
            self._start_new_segment()

    def _add_fast(self, fields: dict) -> None:
        self._check_state()
        schema, pool, perdoc, docnum = self.schema, self.pool, self.perdocwriter, self.docnum
        names = sorted(fields)
        self._check_fields(schema, names)
        perdoc.start_doc(docnum)
        try:
            for name in names:
                value = fields[name]
                if value is None:
                    continue
                field = schema[name]
                length = 0
                if field.indexed:
                    fast = self._fast.get(name)
                    if fast is not None and isinstance(value, str):
                        pool.fieldnames.add(name)
                        length = fast.add(value, docnum, pool, pool.fields[name])
                    else:
                        postings = list(field.index(value))
                        if postings:
                            pool.fieldnames.add(name)
                            pool.add_all(name, docnum, postings)
                            length = sum(posting[1] for posting in postings)
                    if not field.scorable:
                        length = 0
                perdoc.add_field(name, field, value if field.stored else None, length)
                column = field.column_type
                if column:
                    perdoc.add_column_value(name, column, field.to_column_value(value))
        except Exception:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    # -- writing segments --------------------------------------------------------------------

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = _Lengths(self.per_document_reader()) if self.codec.length_stats else None
        try:
            _write_postings(self.fieldwriter, self.schema, self.pool, lengths)
        finally:
            if lengths is not None:
                lengths.close()
        self.fieldwriter.close()

    def _start_new_segment(self) -> None:
        """Write what is buffered as a segment and carry on in a fresh one."""
        self.written_segments.append(self._finalize_segment())
        self.newsegment = self.codec.new_segment(self.storage, self.indexname)
        self.compound = self.compound and self.newsegment.should_assemble()
        self.pool = PostingBuffer()
        self.perdocwriter = self.codec.per_document_writer(self.storage, self.newsegment)
        self.fieldwriter = self.codec.field_writer(self.storage, self.newsegment)
        self.docnum = self.docbase = 0
        self._added = False

    def finish(self) -> list:
        """Write the pending segment and return every segment this writer wrote (no commit)."""
        self._check_state()
        if self._added:
            self.written_segments.append(self._finalize_segment())
        else:
            self._close_segment()
        self.is_closed = True
        return self.written_segments

    def commit(self, mergetype=None, optimize=None, merge=None, extra_segments: Iterable = ()) -> None:
        """Commit this writer's segments and `extra_segments` (written by other writers) atomically."""
        self._check_state()
        final = self._merge_segments(mergetype, optimize, merge)
        final += self.written_segments
        final += list(extra_segments)
        if self._added:
            final.append(self._finalize_segment())
        else:
            self._close_segment()
        # Writing the TOC is the commit: readers see the old generation until it is renamed into place.
        self._commit_toc(final)
        self._finish()


def merge_small(writer, existing: list) -> list:
    """Merge the index's small segments into `writer`'s; return the segments kept as they are (a merge policy).

    Whoosh's default policy (MERGE_SMALL) compares a running total of documents with a
    Fibonacci bound: at 100k documents (12 segments of ~8k) it merged nothing, and at 300k
    (30 segments of ~10k) a 1% change made it rewrite 24 of them, half the index, in one
    process (13 minutes, over 3 GB). Here a commit rewrites only the segments of fewer than
    SMALL_SEGMENT_DOCS documents, when there are two or more: what repeated small reindexes
    leave behind, so their number stays bounded while the cost of a commit follows the change,
    not the index. Segments whose every document was deleted are dropped; a large segment keeps
    its deleted documents until a rebuild.
    """
    from whoosh.reading import SegmentReader

    live = [segment for segment in existing if segment.doc_count() > 0]
    small = [segment for segment in live if segment.doc_count_all() < SMALL_SEGMENT_DOCS]
    if len(small) < 2:
        return live
    for segment in small:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in live if segment not in small]


class _Lengths:
    """Per-document field lengths of a segment (0: none), each field's column read once."""

    def __init__(self, reader) -> None:
        self.reader = reader
        self.columns: dict[str, list[int] | None] = {}

    def get(self, fieldname: str) -> list[int] | None:
        if fieldname not in self.columns:
            found = segments.document_lengths(self.reader, fieldname)
            self.columns[fieldname] = found.tolist() if found is not None else None
        return self.columns[fieldname]

    def close(self) -> None:
        self.reader.close()


def _write_postings(fieldwriter, schema, pool: PostingBuffer, lengths: _Lengths | None) -> None:
    """Write every buffered posting list through the codec's field writer, a block at a time."""
    for fieldname in sorted(pool.fields):
        terms = pool.fields[fieldname]
        if not terms:
            continue
        field = schema[fieldname]
        fieldwriter.start_field(fieldname, field)
        blocks = segments.writes_blocks(fieldwriter)
        column = lengths.get(fieldname) if lengths is not None else None
        for tbytes in sorted(terms):
            entry = terms[tbytes]
            fieldwriter.start_term(tbytes)
            docs, weights, _, _ = entry
            if blocks:
                block_values = _block_values(entry, field.format.fixed_value_size())
                segments.write_blocks(fieldwriter, docs, weights, block_values, column)
            else:
                for docnum, weight, value in zip(docs, weights, _values(entry, 0, len(docs)), strict=True):
                    fieldwriter.add(docnum, weight, value, column[docnum] if column else None)
            fieldwriter.finish_term()
        fieldwriter.finish_field()


def _block_values(entry: _TermPostings, fixed: int | None) -> Callable[[int, int], list[bytes]]:
    """Return values(start, end): postings start..end-1's values as the postings writer keeps a block's."""
    _, _, all_values, _ = entry
    # A fixed-size format's block values are written joined together (W3PostingsWriter._mini_values),
    # so one slice of the buffer stands for the whole block, without a bytes object per posting.
    if fixed and len(all_values) == fixed * len(entry[0]):
        return lambda start, end: [bytes(all_values[start * fixed : end * fixed])]
    # add_posting keeps only non-empty values.
    return lambda start, end: [value for value in _values(entry, start, end) if value]
