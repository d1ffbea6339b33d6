"""Write Whoosh segments fast: postings grouped per term in memory, written a block at a time.

Whoosh's own SegmentWriter sends every posting through a generic pool that
spills sorted runs to disk and merges them with a heap at commit, and runs each
token through a chain of generators; with language detection, that was the
whole of the indexing time. This writer keeps Whoosh's segment format and
commit protocol (the same terms and postings, which Whoosh's reader reads; the
blocks pickled with protocol 4, see `segments.BLOCK_PROTOCOL`) but:

- analyses text fields with `search.fastanalysis` (same terms and positions),
  keeping each document's words as term numbers (`FieldTokens`);
- groups a segment's tokens into postings with numpy when it writes the segment,
  encodes their positions all at once, and writes each field's terms in whole
  blocks (`segments.write_terms`), field lengths read once per segment;
- writes a segment whenever its buffered postings reach `limitmb`, so memory
  stays bounded and a large build ends as a few segments, not one huge merge;
- can hand its segments to another writer to commit (`finish`), so worker
  processes can each write segments while one process holds the lock.

Anything it does not recognise (another analyzer, format or codec, term
vectors, boosts) goes through Whoosh's own code.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain

import numpy as np
from whoosh import formats
from whoosh.writing import SegmentWriter

from search import segments
from search.analysis import PairsField
from search.fastanalysis import CompiledAnalyzer, compile_analyzer

# (term bytes, frequency, weight, value bytes) for each distinct term of a field value.
Posting = tuple[bytes, int, float, bytes]
SMALL_SEGMENT_DOCS = 5_000  # segments under this many documents are merged when a commit adds to the index
MERGE_BUDGET_DOCS = 2_000  # documents of small segments a commit merges, the smallest first (~2.5 s) ...
MERGE_RATIO = 4  # ... each at most this many times the ones before it together ...
MAX_SMALL_SEGMENTS = 8  # ... or more, to leave fewer small ones than this beside the commit's own
TERM_OVERHEAD = 320  # bytes of Python objects per distinct term in the buffer, roughly
POSTING_OVERHEAD = 16  # docnum, weight and value offset
CODE_OVERHEAD = 120  # bytes per distinct token (as written: "The" and "the" are two) in a field's buffer, roughly
TOKEN_OVERHEAD = 12  # a token's term number (4 bytes), and a share of what grouping them costs when written
ENCODE_CHUNK = 1 << 16  # positions encoded at a time when a segment is written (bounds the arrays' memory)


class FastField:
    """A text field's indexing as a few list operations: the same postings as `field.index`.

    A value is a text or a tuple of texts, whose words are indexed in turn, as Lucene indexes a
    multi-valued field: a field of a document's title and body then shares their tokens with the
    fields of each. That is the texts joined by newlines, which no token of Seedsearch's analyzers
    spans, and how Whoosh's own path gets them (`_joined`).
    """

    def __init__(self, analyzer: CompiledAnalyzer, positions: bool, boost: float):
        self._analyzer = analyzer
        self.positions = positions
        self.boost = boost

    def postings(self, text: str | tuple[str, ...]) -> list[Posting]:
        """Return what `field.index(text)` yields, (term bytes, frequency, weight, value), as a segment gets them."""
        tokens = FieldTokens(self.positions, self.boost)
        self.add(text, 0, tokens)
        table = tokens.postings()
        return [
            (tbytes, int(table.counts[start]), *table.weights(start, end), *table.each_value(start, end))
            for tbytes, start, end in table.terms()
        ]

    def add(
        self, value: str | tuple[str, ...], docnum: int, tokens: FieldTokens, seen: dict | None = None
    ) -> tuple[int, int]:
        """Add document `docnum`'s text(s) to a field's `tokens`; return (field length, bytes the buffer grew).

        `seen` holds the document's texts already split into tokens, by pattern and text: each
        text is split once however many fields index it (the caller keeps the texts alive).
        """
        parts = [self._tokens(text, seen) for text in ((value,) if isinstance(value, str) else value)]
        words = parts[0] if len(parts) == 1 else list(chain.from_iterable(parts))
        return len(words), tokens.add(docnum, words, self._analyzer.term)

    def _tokens(self, text: str, seen: dict | None) -> list[str]:
        if seen is None:
            return self._analyzer.tokens(text)
        key = (self._analyzer.pattern, id(text))
        found = seen.get(key)
        if found is None:
            found = seen[key] = self._analyzer.tokens(text)
        return found


def _joined(value):
    """Return a field value given as several texts (a tuple) as one text, their lines; any other value as it is."""
    return "\n".join(value) if isinstance(value, tuple) else value


def compile_field(field) -> FastField | None:
    """Return the fast equivalent of `field.index` for text values, or None if there is none."""
    fmt = field.format
    if not field.indexed or fmt is None or type(fmt) not in (formats.Positions, formats.Frequency):
        return None
    compiled = compile_analyzer(field.analyzer)
    if compiled is None:
        return None
    return FastField(compiled, type(fmt) is formats.Positions, fmt.field_boost)


class FieldTokens:
    """A fast field's documents in a segment: each token as its term's number, in order.

    Adding a document is two C-level passes over its tokens (the number of each token's term
    looked up, then appended): a token seen before in the segment is not analysed again, and
    its term is not looked up twice. A term's positions in a document are its tokens' places
    there. Grouping into postings, one per term and document, and encoding their positions
    happens once, for the whole segment, with numpy (`postings`).
    """

    def __init__(self, positions: bool, boost: float) -> None:
        self.positions = positions
        self.boost = boost
        self.numbers: dict[str, int] = {}  # term -> its number
        self._codes: dict[str, int] = {}  # token as in the text -> its term's number
        self.tokens = array("I")
        self.docs = array("I")
        self.lengths = array("I")

    def add(self, docnum: int, words: list[str], term: Callable[[str], str]) -> int:
        """Add one document's tokens, each indexed as `term(token)`; return the bytes the buffer grew by."""
        codes = self._codes
        found = list(map(codes.get, words))
        grown = TOKEN_OVERHEAD * len(words) + POSTING_OVERHEAD
        if None in found:
            numbers = self.numbers
            for word in set(words).difference(codes):
                text = term(word)
                number = numbers.get(text)
                if number is None:
                    number = numbers[text] = len(numbers)
                    grown += TERM_OVERHEAD + len(text)
                codes[word] = number
                grown += CODE_OVERHEAD + len(word)
            found = list(map(codes.__getitem__, words))
        self.tokens.fromlist(found)
        self.docs.append(docnum)
        self.lengths.append(len(words))
        return grown

    def postings(self) -> TokenPostings:
        """Return the postings of every document added, terms in byte order, documents ascending."""
        lengths = np.frombuffer(self.lengths, dtype=np.uint32)
        begins = (np.cumsum(lengths, dtype=np.uint64) - lengths).astype(np.uint32) if self.positions else None

        def places(by_term: np.ndarray, nth: np.ndarray) -> np.ndarray | None:
            # A token's position is its place among its document's tokens.
            return None if begins is None else by_term - begins[nth]

        # Each token's document passed as made, not kept here: _grouped frees it once sorted.
        return _grouped(
            list(self.numbers),
            np.frombuffer(self.tokens, dtype=np.uint32),
            np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths),
            self.docs,
            self.boost,
            places,
        )

    def pairs(self, common: frozenset[str]) -> PairTokens:
        """Return the neighbouring tokens that are both `common` terms, as analysis.CommonPairs makes them.

        Each pair is "first second" at the first's position; a document's last token pairs with nothing.
        """
        names = list(self.numbers)  # in number order
        flags = np.fromiter((name in common for name in names), dtype=bool, count=len(names))
        tokens = np.frombuffer(self.tokens, dtype=np.uint32)
        lengths = np.frombuffer(self.lengths, dtype=np.uint32)
        ends = np.cumsum(lengths, dtype=np.int64)  # where each document's tokens end
        common_at = flags[tokens]
        both = common_at[:-1] & common_at[1:]  # (empty for fewer than two tokens)
        lasts = ends[(lengths > 0) & (ends < len(tokens))] - 1
        both[lasts] = False
        at = np.flatnonzero(both)
        codes = (tokens[at].astype(np.uint64) << np.uint64(32)) | tokens[at + 1]
        unique, numbers = np.unique(codes, return_inverse=True)
        grams = [
            f"{names[a]} {names[b]}"
            for a, b in zip((unique >> np.uint64(32)).tolist(), (unique & np.uint64(0xFFFFFFFF)).tolist(), strict=True)
        ]
        nth_doc = np.searchsorted(ends, at, side="right").astype(np.uint32)
        places = (at - (ends - lengths)[nth_doc]).astype(np.uint32)
        return PairTokens(grams, numbers.astype(np.uint32), nth_doc, self.docs, places)


class PairTokens:
    """A segment's neighbouring common words (FieldTokens.pairs): each pair's number, document and position."""

    positions = True
    boost = 1.0

    def __init__(self, names: list[str], tokens: np.ndarray, nth_doc: np.ndarray, docs: array, places: np.ndarray):
        self.names, self.tokens, self.nth_doc, self.docs, self.places = names, tokens, nth_doc, docs, places

    def postings(self) -> TokenPostings:
        """Return the pairs' postings, terms in byte order, documents ascending."""
        return _grouped(
            self.names, self.tokens, self.nth_doc, self.docs, self.boost, lambda by_term, _: self.places[by_term]
        )


def _grouped(
    names: list[str],
    tokens: np.ndarray,
    nth_doc: np.ndarray,
    docnums: array,
    boost: float,
    places: Callable[[np.ndarray, np.ndarray], np.ndarray | None],
) -> TokenPostings:
    """Return tokens (term numbers, in document order; term i is names[i]) grouped into postings.

    `nth_doc[i]` is token i's document among `docnums`; `places(by_term, nth)` returns the
    positions of the tokens in term order (by_term: their places in `tokens`), or None.
    """
    terms = [word.encode("utf-8") for word in names]  # in number order
    order = sorted(range(len(terms)), key=terms.__getitem__)
    rank = np.empty(len(terms), dtype=np.uint32)
    rank[order] = np.arange(len(terms), dtype=np.uint32)
    # Stable: within a term, tokens stay in the order added (documents ascending, then positions).
    # 32-bit arrays throughout, freed as soon as used: a segment's largest field has millions of tokens.
    by_term = np.argsort(rank[tokens], kind="stable").astype(np.uint32)
    ranks = rank[tokens[by_term]]
    nth = nth_doc[by_term]
    del nth_doc  # the caller's only reference, for FieldTokens: a segment's largest field has millions of tokens
    docs = np.frombuffer(docnums, dtype=np.uint32)[nth]
    # A new posting starts where the term or the document changes.
    starts = np.ones(len(ranks), dtype=bool)
    starts[1:] = (ranks[1:] != ranks[:-1]) | (docs[1:] != docs[:-1])
    firsts = np.flatnonzero(starts).astype(np.uint32)
    del starts
    counts = np.diff(firsts, append=np.uint32(len(ranks)))
    located = places(by_term, nth)
    del by_term, nth
    return TokenPostings([terms[i] for i in order], ranks[firsts], docs[firsts], counts, boost, firsts, located)


class TokenPostings:
    """A fast field's postings in a segment, as arrays: term i's are bounds[i]:bounds[i + 1]."""

    def __init__(self, terms, ranks, docs, counts, boost, firsts, places) -> None:
        self.names = terms
        self.boost = boost
        self.bounds = np.searchsorted(ranks, np.arange(len(terms) + 1))  # every term has a posting
        self.docs = docs
        self.counts = counts
        self.positions = places is not None
        if places is None:
            # formats.Frequency: the count alone, fixed-size values written joined per block.
            self._blob = counts.astype(">u4").tobytes()
        else:
            self._chunks, self._starts, self._ends = _positions_values(counts, firsts, places)

    def terms(self) -> Iterator[tuple[bytes, int, int]]:
        """Yield (term bytes, first posting, end) in term order."""
        bounds = self.bounds.tolist()
        return zip(self.names, bounds, bounds[1:], strict=False)

    def weights(self, start: int, end: int) -> list[float]:
        """Return postings start..end-1's weights: each count times the field's boost, as Whoosh's formats make them."""
        return [count * self.boost for count in self.counts[start:end].tolist()]

    def values(self, start: int, end: int) -> list[bytes]:
        """Return postings start..end-1's values as a block keeps them (one joined value when fixed-size)."""
        if self.positions:
            return self.each_value(start, end)
        return [self._blob[4 * start : 4 * end]]

    def each_value(self, start: int, end: int) -> list[bytes]:
        """Return postings start..end-1's values, one each."""
        if not self.positions:
            return [self._blob[at : at + 4] for at in range(4 * start, 4 * end, 4)]
        found: list[bytes] = []
        chunk = bisect_right(self._starts, start) - 1
        while start < end:
            # The values of one chunk; each chunk's ends count from its own start.
            stop = min(end, self._starts[chunk + 1])
            blob, ends = self._chunks[chunk], self._ends[start:stop].tolist()
            first = int(self._ends[start - 1]) if start > self._starts[chunk] else 0
            found += [blob[a:b] for a, b in zip([first, *ends], ends, strict=False)]
            start, chunk = stop, chunk + 1
        return found


def _positions_values(
    counts: np.ndarray, firsts: np.ndarray, places: np.ndarray
) -> tuple[list[bytes], list[int], np.ndarray]:
    """Encode each posting's positions (places[firsts[i]:][:counts[i]]) as formats.Positions does, a chunk at a time.

    Return the chunks' values (each chunk's joined), the first posting of each chunk (and the number
    of postings, last), and where each posting's value ends in its chunk. Kept in chunks, not joined,
    so a segment's largest field is never held twice.
    """
    chunks, starts, ends, done = [], [], [], 0
    while done < len(counts):
        # Postings in this chunk: those whose positions start before the chunk's limit (at least one).
        stop = max(done + 1, int(np.searchsorted(firsts, firsts[done] + ENCODE_CHUNK)))
        low, high = int(firsts[done]), (int(firsts[stop]) if stop < len(counts) else len(places))
        chunk = places[low:high].astype(np.int64)
        gaps = np.diff(chunk, prepend=0)
        begins = firsts[done:stop] - low
        gaps[begins] = chunk[begins]  # a posting's first gap is its first position
        blob, chunk_ends = segments.positions_values(counts[done:stop], gaps)
        chunks.append(blob)
        starts.append(done)
        ends.append(chunk_ends)
        done = stop
    return chunks, [*starts, len(counts)], (np.concatenate(ends) if ends else np.zeros(0, np.int64))


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
    """A segment's postings grouped by field and term; stands in for Whoosh's PostingPool.

    Fast fields' documents are kept as tokens (`tokens`); postings from anywhere else (Whoosh's
    own indexing, merged segments) per term (`fields`). Tokens are turned into postings when the
    segment is written, or before other postings join their field (`settle`), so a term's
    postings always arrive in document order.
    """

    def __init__(self, pairs: dict[str, tuple[str, frozenset[str]]] | None = None) -> None:
        self.fields: dict[str, dict[bytes, _TermPostings]] = defaultdict(dict)
        self.tokens: dict[str, FieldTokens | PairTokens] = {}
        self.size = 0
        self.fieldnames: set[str] = set()
        self.runs: list = []  # Whoosh's pool API; this buffer never spills
        # A body field -> (its PairsField, the common terms it pairs): derived from its tokens.
        self.pairs = pairs or {}
        self._bases = {name: base for base, (name, _) in self.pairs.items()}

    def field_tokens(self, fieldname: str, fast: FastField) -> FieldTokens:
        """Return the tokens of a fast field (made on its first document)."""
        found = self.tokens.get(fieldname)
        if found is None:
            found = self.tokens[fieldname] = FieldTokens(fast.positions, fast.boost)
            self.fieldnames.add(fieldname)
            if fieldname in self.pairs:
                self.fieldnames.add(self.pairs[fieldname][0])
        return found

    def take(self, fieldname: str) -> FieldTokens | PairTokens | None:
        """Remove and return a field's tokens; a body field's common pairs are derived from them first."""
        tokens = self.tokens.pop(fieldname, None)
        if isinstance(tokens, FieldTokens) and fieldname in self.pairs:
            name, common = self.pairs[fieldname]
            if name in self.tokens:
                self.settle(name)  # pairs derived before, of older documents
            self.tokens[name] = tokens.pairs(common)
            self.fieldnames.add(name)
        return tokens

    def settle(self, fieldname: str) -> None:
        """Turn a field's tokens into per-term postings, after those already there (their documents are older)."""
        base = self._bases.get(fieldname)
        if base is not None and base in self.tokens:
            self.settle(base)  # which derives this field's tokens of the same documents
        tokens = self.take(fieldname)
        if tokens is None:
            return
        table = tokens.postings()
        terms = self.fields[fieldname]
        for tbytes, start, end in table.terms():
            entry = terms.get(tbytes)
            if entry is None:
                entry = terms[tbytes] = _new_term()
            docs, weights, values, ends = entry
            docs.extend(table.docs[start:end].tolist())
            weights.extend(table.weights(start, end))
            for value in table.each_value(start, end):
                values += value
                ends.append(len(values))

    def add_all(self, fieldname: str, docnum: int, postings: Iterable[Posting]) -> None:
        """Add one document's postings for one field."""
        self.settle(fieldname)  # its tokens' documents came first
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
        while self.tokens:  # settling a body field adds its pairs' tokens
            self.settle(next(iter(self.tokens)))
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
        self.tokens.clear()
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
        self._fast = {name: compile_field(field) for name, field in self.schema.items()}
        # The common pairs of a fast body field are derived from its tokens (PostingBuffer.take).
        self._pairs = {
            field.base: (name, field.common)
            for name, field in self.schema.items()
            if isinstance(field, PairsField) and self._fast.get(field.base) is not None
        }
        self._bases = {name: base for base, (name, _) in self._pairs.items()}
        # Every PairsField indexes its body field's text: given that text whenever the body is.
        self._paired = [(field.base, name) for name, field in self.schema.items() if isinstance(field, PairsField)]
        self.pool = PostingBuffer(self._pairs)
        self.written_segments: list = []
        self._fast_ok = not any(
            field.vector or field.separate_spelling() for _, field in self.schema.items() if field.indexed
        )

    # -- adding ------------------------------------------------------------------------------

    def add_document(self, **fields) -> None:
        """Add a document, like SegmentWriter.add_document (a PairsField gets its body field's value)."""
        for base, name in self._paired:
            if base in fields and name not in fields:
                fields[name] = fields[base]
        if not self._fast_ok or any(name.startswith("_") for name in fields):
            # Boosts, custom stored values and term vectors: Whoosh's own path.
            SegmentWriter.add_document(self, **{name: _joined(value) for name, value in fields.items()})
        else:
            self._add_fast(fields)
        if self.pool.size > self.limit:
            self._start_new_segment()

    def _add_fast(self, fields: dict) -> None:
        self._check_state()
        schema, pool, perdoc, docnum = self.schema, self.pool, self.perdocwriter, self.docnum
        names = sorted(fields)
        self._check_fields(schema, names)
        seen: dict = {}  # each text's tokens, shared by the fields that index it
        perdoc.start_doc(docnum)
        try:
            for name in names:
                value = fields[name]
                if value is None:
                    continue
                field = schema[name]
                base = self._bases.get(name)
                if base is not None and isinstance(value, (str, tuple)) and fields.get(base) == value:
                    continue  # neither stored nor scored: derived from the body's tokens when written
                length = 0
                if field.indexed:
                    fast = self._fast.get(name)
                    if fast is not None and isinstance(value, (str, tuple)):
                        length, grown = fast.add(value, docnum, pool.field_tokens(name, fast), seen)
                        pool.size += grown
                    else:
                        postings = list(field.index(_joined(value)))
                        if postings:
                            pool.fieldnames.add(name)
                            pool.add_all(name, docnum, postings)
                            length = sum(posting[1] for posting in postings)
                    if not field.scorable:
                        length = 0
                perdoc.add_field(name, field, _joined(value) if field.stored else None, length)
                column = field.column_type
                if column:
                    perdoc.add_column_value(name, column, field.to_column_value(_joined(value)))
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
        self.pool = PostingBuffer(self._pairs)
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
    """Merge some of the index's small segments into `writer`'s; return the segments kept as they are (a merge policy).

    Whoosh's default policy (MERGE_SMALL) compares a running total of documents with a
    Fibonacci bound: at 100k documents (12 segments of ~8k) it merged nothing, and at 300k
    (30 segments of ~10k) a 1% change made it rewrite 24 of them, half the index, in one
    process (13 minutes, over 3 GB). Here a commit rewrites only segments of fewer than
    SMALL_SEGMENT_DOCS documents, two or more, the smallest first: what repeated small reindexes
    leave behind. It merges up to MERGE_BUDGET_DOCS documents, and a segment only with smaller
    ones that together hold at least 1/MERGE_RATIO of its documents (segments of like sizes, as
    Lucene's merge policies merge them), so that the cost of a commit follows the change, not
    the index: a save in a watched folder does not rewrite the segment of the 500 files indexed
    before it, and the two last segments of a full index's two processes (~4k documents each at
    100k) are not rewritten by the next reindex of any size (11 s). More only when needed to
    leave fewer than MAX_SMALL_SEGMENTS small ones beside the commit's own, so that their number
    stays bounded. Segments whose every document was deleted are dropped; a large segment keeps
    its deleted documents until a rebuild.
    """
    from whoosh.reading import SegmentReader

    live = [segment for segment in existing if segment.doc_count() > 0]
    small = sorted(
        (segment for segment in live if segment.doc_count_all() < SMALL_SEGMENT_DOCS), key=lambda s: s.doc_count_all()
    )
    # The commit writes a segment of its own (with the merged ones in it): leave room for it.
    needed = len(small) + 1 - MAX_SMALL_SEGMENTS
    needed = max(needed, 2) if needed > 0 else 0
    chosen, total = [], 0
    for segment in small:
        size = segment.doc_count_all()
        fits = total + size <= MERGE_BUDGET_DOCS and (not chosen or size <= MERGE_RATIO * total)
        if len(chosen) >= needed and not fits:
            break
        chosen.append(segment)
        total += size
    if len(chosen) < 2:
        return live
    for segment in chosen:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return [segment for segment in live if segment not in chosen]


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
    for fieldname in sorted(pool.fieldnames):
        if pool.fields.get(fieldname):
            pool.settle(fieldname)  # postings from a merge or Whoosh's own indexing, and tokens
        tokens = pool.take(fieldname)  # its memory is freed once grouped into postings
        found = _token_terms(tokens.postings()) if tokens is not None else _buffered_terms(pool.fields.get(fieldname))
        del tokens
        first = next(found, None)
        if first is None:
            continue
        field = schema[fieldname]
        fieldwriter.start_field(fieldname, field)
        column = lengths.get(fieldname) if lengths is not None else None
        fixed = field.format.fixed_value_size()
        if segments.writes_blocks(fieldwriter):
            terms = chain([first], found)
            segments.write_terms(
                fieldwriter, ((t, d, w, block_values(fixed)) for t, d, w, block_values, _ in terms), column
            )
        else:
            for tbytes, docs, weights, _, each_value in chain([first], found):
                fieldwriter.start_term(tbytes)
                for docnum, weight, value in zip(docs, weights, each_value(0, len(docs)), strict=True):
                    fieldwriter.add(docnum, weight, value, column[docnum] if column else None)
                fieldwriter.finish_term()
        fieldwriter.finish_field()
        del found, first  # before the next field's postings are made


# A term's postings as _write_postings takes them: (term bytes, docnums, weights, block values,
# each value). block_values(the format's fixed value size) returns values(start, end): postings
# start..end-1's values as a block keeps them; each_value(start, end) returns them one by one.
_Values = Callable[[int, int], list[bytes]]
_Term = tuple[bytes, Sequence[int], Sequence[float], Callable[[int | None], _Values], _Values]


def _token_terms(table: TokenPostings) -> Iterator[_Term]:
    for tbytes, first, end in table.terms():
        yield (
            tbytes,
            table.docs[first:end].tolist(),
            table.weights(first, end),
            lambda fixed, first=first: lambda start, stop: table.values(first + start, first + stop),
            lambda start, stop, first=first: table.each_value(first + start, first + stop),
        )


def _buffered_terms(terms: dict[bytes, _TermPostings] | None) -> Iterator[_Term]:
    for tbytes in sorted(terms or ()):
        entry = terms[tbytes]
        yield tbytes, entry[0], entry[1], partial(_block_values, entry), partial(_values, entry)


def _block_values(entry: _TermPostings, fixed: int | None) -> Callable[[int, int], list[bytes]]:
    """Return values(start, end): postings start..end-1's values as the postings writer keeps a block's."""
    _, _, all_values, _ = entry
    # A fixed-size format's block values are written joined together (W3PostingsWriter._mini_values),
    # so one slice of the buffer stands for the whole block, without a bytes object per posting.
    if fixed and len(all_values) == fixed * len(entry[0]):
        return lambda start, end: [bytes(all_values[start * fixed : end * fixed])]
    # add_posting keeps only non-empty values.
    return lambda start, end: [value for value in _values(entry, start, end) if value]
