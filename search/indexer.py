"""Build and incrementally update the index; one writer at a time; the summary."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm
from whoosh import index as whoosh_index
from whoosh.index import TOC, clean_files
from whoosh.writing import CLEAR

from search import documents
from search.analysis import SCHEMA_VERSION, body_field, build_schema, detect_language, title_field

LOCK_NAME = ".seedsearch-writer.lock"
INDEX_NAME = f"seedsearch_v{SCHEMA_VERSION}"
WRITER_LIMIT_MB = 256


class IndexBusy(RuntimeError):
    """Another process is writing the index."""


@dataclass
class Summary:
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def line(self) -> str:
        """Return the one-line human summary."""
        return (
            f"added {self.added}, updated {self.updated}, deleted {self.deleted}, "
            f"unchanged {self.unchanged}, failed {self.failed} in {self.seconds:.2f} s"
        )

    def as_dict(self) -> dict:
        """Return the summary as the JSON object the CLI and API print."""
        return asdict(self)


def doc_id(path: str) -> str:
    """Return the stable id of the document at corpus-relative `path`."""
    return hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def exists(index_dir: str | Path) -> bool:
    """Return whether `index_dir` holds a Seedsearch index."""
    return Path(index_dir).is_dir() and whoosh_index.exists_in(str(index_dir), indexname=INDEX_NAME)


def open_index(index_dir: str | Path):
    """Open the index in `index_dir`, creating an empty one if there is none."""
    if exists(index_dir):
        return whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
    with writer_lock(index_dir):
        return open_index_unlocked(index_dir)


@contextlib.contextmanager
def writer_lock(index_dir: str | Path) -> Iterator[None]:
    """Hold the single-writer lock for `index_dir` or raise IndexBusy."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    # flock is released by the kernel when the holder dies, so a killed indexer
    # never leaves a stale lock behind.
    fd = os.open(index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"another reindex is running on {index_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def document_fields(doc: documents.Document, default_language: str = "en") -> dict:
    """Return the index fields for `doc`."""
    lang = detect_language(doc.title + "\n" + doc.text, default_language)
    parts = doc.path.split("/")[:-1]
    folders = ["/".join(parts[: i + 1]).replace(",", " ") for i in range(len(parts))]
    return {
        "id": doc_id(doc.path),
        "path": doc.path,
        "folder": ",".join(folders),
        "type": doc.type,
        "lang": lang,
        "modified": datetime.fromtimestamp(doc.mtime_ns / 1e9, tz=UTC).replace(tzinfo=None),
        "mtime_ns": doc.mtime_ns,
        "size": doc.size,
        "hash": doc.sha256,
        "title": doc.title,
        "body": doc.text,
        "words": doc.title + "\n" + doc.text,
        title_field(lang): doc.title,
        body_field(lang): doc.text,
    }


def _indexed_files(ix) -> dict[str, tuple[int, int, str]]:
    """Return path -> (mtime_ns, size, hash) of every live document, read from columns."""
    with ix.reader() as reader:
        if reader.doc_count() == 0:
            return {}
        # Column readers give these per document without loading stored bodies.
        paths = reader.column_reader("path")
        mtimes = reader.column_reader("mtime_ns")
        sizes = reader.column_reader("size")
        hashes = reader.column_reader("hash")
        return {paths[docnum]: (mtimes[docnum], sizes[docnum], hashes[docnum]) for docnum in reader.all_doc_ids()}


def reindex(
    corpus_dir: str | Path,
    index_dir: str | Path,
    *,
    rebuild: bool = False,
    max_bytes: int = 20 * 1024 * 1024,
    default_language: str = "en",
    progress: bool = False,
) -> Summary:
    """Bring the index in line with the corpus and return what changed."""
    started = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus_dir} does not exist")
    with writer_lock(index_dir):
        ix = open_index_unlocked(index_dir)
        _remove_leftovers(ix)
        scan = documents.scan(corpus_dir, max_bytes)
        summary = Summary(skipped=len(scan.skipped))
        indexed = {} if rebuild else _indexed_files(ix)
        failed_paths = set()
        for failure in scan.failures:
            failed_paths.add(failure.path)
            summary.failures.append({"path": failure.path, "reason": failure.reason})
        writer = None
        bar = tqdm(total=len(scan.files), unit="file", disable=not progress, file=sys.stderr, leave=False)
        try:
            for src in scan.files:
                bar.update(1)
                known = indexed.get(src.path)
                if known is not None and known[:2] == (src.mtime_ns, src.size):
                    summary.unchanged += 1
                    continue
                try:
                    data = documents.read_source(src)
                    digest = documents.content_hash(data)
                    if known is not None and known[2] == digest:
                        summary.unchanged += 1
                        continue
                    doc = documents.extract(src, data)
                except documents.ExtractionError as error:
                    failed_paths.add(src.path)
                    summary.failures.append({"path": src.path, "reason": str(error)})
                    continue
                if writer is None:
                    writer = ix.writer(limitmb=WRITER_LIMIT_MB)
                writer.update_document(**document_fields(doc, default_language))
                if known is None:
                    summary.added += 1
                else:
                    summary.updated += 1
            present = {src.path for src in scan.files} | failed_paths
            # A folder that could not be read keeps its documents: they may still exist.
            unreadable = tuple(path + "/" for path in failed_paths)
            for path in indexed.keys() - present:
                if path.startswith(unreadable):
                    continue
                if writer is None:
                    writer = ix.writer(limitmb=WRITER_LIMIT_MB)
                writer.delete_by_term("id", doc_id(path))
                summary.deleted += 1
            if rebuild:
                writer = writer or ix.writer(limitmb=WRITER_LIMIT_MB)
                # CLEAR drops the old segments in the same atomic commit, so
                # readers see the old index until the new one is complete.
                writer.commit(mergetype=CLEAR)
            elif writer is not None:
                writer.commit()
            writer = None
        finally:
            bar.close()
            if writer is not None:
                writer.cancel()
    summary.failed = len(summary.failures)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _remove_leftovers(ix) -> None:
    """Delete the files a killed writer left: older generations, unfinished segments, a temporary TOC."""
    # Whoosh cleans up only after its next commit, which a run with no changes never makes,
    # and never matches the temporary name a TOC has until it is renamed into place.
    for stale in Path(ix.storage.folder).glob(f"_{INDEX_NAME}_*.toc.*"):
        stale.unlink(missing_ok=True)
    committed = TOC.read(ix.storage, INDEX_NAME)
    clean_files(ix.storage, INDEX_NAME, committed.generation, committed.segments)


def open_index_unlocked(index_dir: str | Path):
    """Open or create the index; the caller holds the writer lock."""
    if exists(index_dir):
        return whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
    return whoosh_index.create_in(str(index_dir), build_schema(), indexname=INDEX_NAME)
