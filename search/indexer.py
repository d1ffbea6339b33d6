"""Build and incrementally update the index; one writer at a time; the summary."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import hashlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import compress
from pathlib import Path
from queue import Empty

from whoosh import index as whoosh_index
from whoosh.index import TOC, clean_files
from whoosh.searching import Searcher
from whoosh.writing import CLEAR

from search import documents, segments
from search.analysis import FOLDER_SEPARATOR, SCHEMA_VERSION, body_field, build_schema, detect_language, title_field
from search.writing import BufferedSegmentWriter, merge_small

log = logging.getLogger(__name__)
LOCK_NAME = ".seedsearch-writer.lock"
INDEX_NAME = f"seedsearch_v{SCHEMA_VERSION}"
# The files of an index of any schema version: its TOCs, segment files and Whoosh's lock file.
OLDER_VERSION = re.compile(r"_?seedsearch_v(\d+)_\w+(?:\.\w+)*")
# Postings a process buffers before it writes them as a segment. A search pays per segment, and
# Whoosh's merges are slow, so a full index is written in few large ones: at 100k documents 256
# gives 6 segments instead of 12 at 128 (the mix 9% quicker on average), for a largest indexing
# process of ~650 MB instead of ~430 (bench/RESULTS.md).
WRITER_LIMIT_MB = 256
PARALLEL_MIN_FILES = 1000  # fewer files to read than this are indexed in this process
PARALLEL_MIN_FILES_PER_PROC = 500
MAX_AUTO_PROCS = 8
BATCH_FILES = 64  # files per job handed to a worker
EXTRACTED_CHARS = 4 * 1024 * 1024  # text of a batch's files held before they are added (_index_batch)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Read only by the indexer, under the writer lock: a searcher leaves their files closed.
BOOKKEEPING_COLUMNS = ("path", "mtime_ns", "size", "hash", "ctime_ns")
OPEN_ATTEMPTS = 20  # tries to open the newest generation while commits keep replacing it

ADDED, UPDATED, FAILED = "added", "updated", "failed"
# The same content under a changed mtime or ctime (touched, copied back): counted unchanged, but
# indexed again, so that its bookkeeping matches the file and the next run does not hash it again.
REFRESHED = "refreshed"
NO_TEXT = "no text"  # read, but holds no text: failed, and its previous document leaves the index
Job = tuple[documents.SourceFile, str | None]  # a file to read, and its indexed hash if known
Outcome = tuple[str, str, str | None]  # path, what happened, failure reason


class IndexBusy(RuntimeError):
    """Another process is writing the index."""


class IndexingFailed(OSError):
    """An indexing worker process failed (a full disk) or died (killed, out of memory); the index is as it was."""


class IndexUnreadable(PermissionError):
    """The index folder cannot be read (its permissions)."""


class IndexMissing(FileNotFoundError):
    """There is no index to read yet: only the indexer creates one."""

    def __init__(self, index_dir: str | Path):
        super().__init__(f"there is no index in {index_dir} yet; run 'python -m search index' to build it")


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
    skipped_files: list[dict] = field(default_factory=list)  # files of a type no extractor reads

    def line(self) -> str:
        """Return the one-line human summary."""
        return (
            f"added {self.added}, updated {self.updated}, deleted {self.deleted}, "
            f"unchanged {self.unchanged}, skipped {self.skipped}, failed {self.failed} in {self.seconds:.2f} s"
        )

    def as_dict(self) -> dict:
        """Return the summary as the JSON object the CLI and API print."""
        return asdict(self)


def doc_id(path: str) -> str:
    """Return the stable id of the document at corpus-relative `path`."""
    return hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def exists(index_dir: str | Path) -> bool:
    """Return whether `index_dir` holds a Seedsearch index (a generation's table of contents).

    Not Whoosh's exists_in(), which opens the newest generation: a commit that replaces it meanwhile
    deletes its table of contents, and exists_in() raised FileNotFoundError. Whoosh writes a table
    of contents under a temporary name and renames it into place, so one that is listed is whole.
    """
    folder = Path(index_dir)
    if not folder.is_dir():
        return False
    if not os.access(folder, os.R_OK | os.X_OK):  # glob() would list nothing: "no index yet" would be wrong
        raise IndexUnreadable(f"cannot read the index folder {folder}: permission denied")
    return any(folder.glob(f"_{INDEX_NAME}_*.toc"))


def fields_missing(index_dir: str | Path) -> list[str]:
    """Return the fields the current schema has and the index's stored one lacks (made by an earlier Seedsearch)."""
    if not exists(index_dir):
        return []
    stored = open_index(index_dir).schema.names()
    return sorted(set(build_schema().names()) - set(stored))


def open_index(index_dir: str | Path):
    """Open the existing index in `index_dir` for reading, or raise IndexMissing; never create one."""
    attempts = OPEN_ATTEMPTS
    while True:
        try:
            if not exists(index_dir):
                raise IndexMissing(index_dir)
            return whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
        except IndexMissing:
            raise
        except FileNotFoundError:  # a commit replaced the generation being read: read the newer one
            attempts -= 1
            if attempts == 0:
                raise


def open_searcher(ix, bookkeeping: bool = False, **kwargs):
    """Return a searcher on the newest generation of `ix` with every file it will read open.

    A commit deletes the files of the segments it replaced; files already open stay readable,
    so the searcher opens them all (segments.open_columns) and, when a commit landed while it
    was opening (it may have read a deleted file's absence), opens the newer generation instead.
    The indexer's BOOKKEEPING_COLUMNS are left closed unless `bookkeeping` (a tool reading them
    while an indexer may commit): searches never read them, and each is a file descriptor.
    """
    skip = () if bookkeeping else BOOKKEEPING_COLUMNS
    attempts = OPEN_ATTEMPTS
    while True:
        attempts -= 1
        try:
            searcher = Searcher(segments.open_reader(ix), fromindex=ix, **kwargs)
            try:
                segments.open_columns(searcher.reader(), skip=skip)
                segments.read_terms_by_pread(searcher.reader())
            except BaseException:
                searcher.close()
                raise
        except FileNotFoundError:  # a commit deleted a file of the generation being opened
            if attempts == 0:
                raise
            continue
        # Still the newest: no later commit exists, so none has deleted a file of this one.
        # On the last try, commits outpace the opening: the newest opened is taken.
        if searcher.up_to_date() or attempts == 0:
            return searcher
        searcher.close()


def check_folders(corpus_dir: str | Path | None = None, index_dir: str | Path | None = None) -> None:
    """Raise OSError saying what is wrong unless `corpus_dir` is a folder and `index_dir` is one or absent."""
    if corpus_dir is not None and not Path(corpus_dir).is_dir():
        problem = "is a file, not a folder" if Path(corpus_dir).exists() else "does not exist"
        raise FileNotFoundError(f"corpus folder {corpus_dir} {problem}")
    if index_dir is not None and Path(index_dir).exists() and not Path(index_dir).is_dir():
        raise NotADirectoryError(f"the index location {index_dir} is a file, not a folder")


@contextlib.contextmanager
def writer_lock(index_dir: str | Path) -> Iterator[None]:
    """Hold the single-writer lock for `index_dir` or raise IndexBusy."""
    index_dir = Path(index_dir)
    check_folders(index_dir=index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    # flock is released by the kernel when the holder dies, so a killed indexer
    # never leaves a stale lock behind.
    try:
        fd = os.open(index_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        raise PermissionError(f"cannot write the index folder {index_dir}: permission denied") from None
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


def document_fields(doc: documents.Document, default_language: str = "en", lang: str | None = None) -> dict:
    """Return the index fields for `doc`, in `lang` (detected when not given)."""
    if lang is None:
        lang = detect_language(doc.title + "\n" + doc.text, default_language)
    parts = doc.path.split("/")[:-1]
    folders = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return {
        "id": doc_id(doc.path),
        "path": doc.path,
        "folder": FOLDER_SEPARATOR.join(folders),
        "type": doc.type,
        "lang": lang,
        "modified": datetime.fromtimestamp(doc.mtime_ns / 1e9, tz=UTC).replace(tzinfo=None),
        "mtime_ns": doc.mtime_ns,
        "ctime_ns": doc.ctime_ns,
        "size": doc.size,
        "hash": doc.sha256.encode("ascii"),
        "title": doc.title,
        "body": doc.text,
        "words": (doc.title, doc.text),  # the texts of the two fields below: tokenised once
        title_field(lang): doc.title,
        body_field(lang): doc.text,
    }


def _indexed_files(ix) -> dict[str, tuple[int, int, bytes, int | None]]:
    """Return path -> (mtime_ns, size, hash as ASCII bytes, ctime_ns) of every live document, read from columns.

    ctime_ns is None in an index made before it was kept (until a rebuild adds the column).
    """
    found: dict[str, tuple[int, int, bytes, int | None]] = {}
    with ix.reader() as reader:
        # Segment by segment and column by column: one sequential read each instead
        # of a seek per document and field, which dominates a no-op reindex.
        for segment, _ in reader.leaf_readers():
            if segment.doc_count() == 0:
                continue
            paths, *known = [
                segments.translated_column_values(segment, name)
                if name in segment.schema
                else [None] * segment.doc_count_all()
                for name in BOOKKEEPING_COLUMNS
            ]
            rows = zip(paths, zip(*known, strict=True), strict=True)
            if segment.has_deletions():  # (Whoosh's all_doc_ids() asks document by document)
                rows = compress(rows, segments.live_documents(segment).tolist())
            found.update(rows)
    return found


def _plan(scan: documents.Scan, indexed: dict[str, tuple[int, int, bytes, int | None]], summary: Summary) -> list[Job]:
    """Return the files to read: new ones, and known ones whose size, mtime or ctime changed (with their hash)."""
    jobs = []
    for src in scan.files:
        known = indexed.get(src.path)
        if (
            known is not None
            and known[0] == src.mtime_ns
            and known[1] == src.size
            and (known[3] is None or known[3] == src.ctime_ns)
        ):
            summary.unchanged += 1
        else:
            jobs.append((src, None if known is None else known[2].decode("ascii")))
    return jobs


def _index_batch(writer, batch: list[Job], default_language: str) -> list[Outcome]:
    """Read, extract and add a batch of files to `writer`, in order; return what happened to each."""
    outcomes: list[Outcome] = []
    extracted: list[tuple[str, documents.Document, str]] = []  # (path, document, outcome)
    held = 0  # characters of text in `extracted`

    def add_extracted() -> None:
        # The languages of several documents one after another, then the documents: the detector
        # walks its tables byte by byte, and between two extractions and tokenisations those
        # were out of the CPU's caches (0.2 ms a document instead of 0.07).
        langs = [detect_language(doc.title + "\n" + doc.text, default_language) for _, doc, _ in extracted]
        for (path, doc, outcome), lang in zip(extracted, langs, strict=True):
            fields = document_fields(doc, default_language, lang)
            if not keeps_ctime:
                del fields["ctime_ns"]  # an index made before the column: a rebuild adds it
            writer.add_document(**fields)
            outcomes.append((path, outcome, None))
        extracted.clear()

    keeps_ctime = "ctime_ns" in writer.schema
    for src, known_hash in batch:
        try:
            data = documents.read_source(src)
            same = known_hash is not None and documents.content_hash(data) == known_hash
            doc = documents.extract(src, data)
        except documents.NoText as error:
            outcomes.append((src.path, NO_TEXT, str(error)))
            continue
        except documents.ExtractionError as error:
            outcomes.append((src.path, FAILED, str(error)))
            continue
        extracted.append((src.path, doc, REFRESHED if same else UPDATED if known_hash is not None else ADDED))
        held += len(doc.text)
        if held >= EXTRACTED_CHARS:  # large files: not too much text held at once
            add_extracted()
            held = 0
    add_extracted()
    return outcomes


def _worker_count(procs: int, jobs: int) -> int:
    """Return how many processes to index `jobs` files with (1: in this process)."""
    if procs <= 0:
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        procs = min(len(usable), MAX_AUTO_PROCS)
    if jobs < PARALLEL_MIN_FILES:
        return 1
    return max(1, min(procs, jobs // PARALLEL_MIN_FILES_PER_PROC))


def _die_with_parent(parent: int | None) -> None:
    """End this worker when the indexer that started it dies.

    A killed indexer must not leave workers behind, waiting for batches that never come and
    holding segment files nobody will commit. A forked worker's parent is the indexer
    (`parent`): the kernel SIGKILLs it when its parent dies (Linux). A forkserver's child's
    parent is the fork server (`parent` None), which outlives the indexer while any of its
    children lives (each holds the server's lifeline): such a worker watches the indexer's
    sentinel instead, which becomes ready when the indexer ends.
    """
    if parent is None:
        indexer = multiprocessing.parent_process()
        if indexer is not None:
            threading.Thread(target=_exit_when_ready, args=(indexer.sentinel,), daemon=True).start()
        return
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _exit_when_ready(sentinel) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _worker(
    index_dir: str, jobs, results, default_language: str, limitmb: int, parent: int | None, rebuild: bool
) -> None:
    """Index the job batches from `jobs` into new segments; report outcomes and segments on `results`."""
    _die_with_parent(parent)
    try:
        ix = whoosh_index.open_dir(index_dir, indexname=INDEX_NAME, schema=build_schema() if rebuild else None)
        # No Whoosh lock: the parent holds it, and commits the segments written here.
        writer = BufferedSegmentWriter(ix, limitmb=limitmb, _lk=False)
        while (batch := jobs.get()) is not None:
            results.put(("files", _index_batch(writer, batch, default_language)))
        results.put(("segments", writer.finish()))
    except BaseException as problem:
        # What failed, in a line, as the one-process path would say it; the traceback for the log.
        results.put(("error", (str(problem) or type(problem).__name__, traceback.format_exc())))


def _start_method() -> str:
    """Return how to start worker processes from this process."""
    # fork shares the loaded language model and costs nothing; a process with threads
    # (a web worker) starts them from a fresh interpreter instead, since a child forked
    # while another thread holds a lock can deadlock. macOS frameworks do not survive fork.
    single = threading.active_count() == 1
    return "fork" if single and sys.platform.startswith("linux") else "forkserver"


def _index_parallel(
    index_dir, jobs: list[Job], procs: int, method: str, default_language: str, on_files, rebuild: bool = False
) -> list:
    """Index `jobs` in `procs` worker processes; return the segments they wrote, not yet committed.

    For a rebuild they write with the current schema (build_schema), as the parent then commits.
    """
    if method == "fork":
        detect_language("Load the language model once, before the workers fork.", "en")
    context = multiprocessing.get_context(method)
    parent = os.getpid() if method == "fork" else None
    queue, results = context.Queue(), context.Queue()
    for start in range(0, len(jobs), BATCH_FILES):
        queue.put(jobs[start : start + BATCH_FILES])
    workers = [
        context.Process(
            target=_worker,
            args=(str(index_dir), queue, results, default_language, WRITER_LIMIT_MB, parent, rebuild),
            daemon=True,
        )
        for _ in range(procs)
    ]
    for worker in workers:
        queue.put(None)
        worker.start()
    segments, running, errors = [], procs, []
    try:
        while running:
            try:
                kind, payload = results.get(timeout=1.0)
            except Empty:
                if not any(worker.is_alive() for worker in workers):
                    raise IndexingFailed("an indexing worker process died (killed, or out of memory?)") from None
                continue
            if kind == "files":
                on_files(payload)
            elif kind == "segments":
                segments.extend(payload)
                running -= 1
            else:
                errors.append(payload)
                running -= 1
        if errors:
            message, details = errors[0]
            log.debug("an indexing worker failed:\n%s", details)
            raise IndexingFailed(f"an indexing worker failed: {message}")
    finally:
        if running:
            # Unread batches must not keep this process from exiting.
            queue.cancel_join_thread()
            for worker in workers:
                worker.kill()
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        queue.close()
        results.close()
    return segments


def reindex(
    corpus_dir: str | Path,
    index_dir: str | Path,
    *,
    rebuild: bool = False,
    max_bytes: int = 20 * 1024 * 1024,
    default_language: str = "en",
    progress: bool = False,
    procs: int = 0,
    paths: Collection[str] | None = None,
) -> Summary:
    """Bring the index in line with the corpus and return what changed.

    Files whose size and mtime match the index are not read. The others are read,
    hashed and (when new or changed) extracted and analysed, in `procs` worker
    processes when there are many (0: one per CPU), each writing its own segments;
    this process alone holds the lock and commits them all at once. With `paths`
    (corpus-relative files or folders, as a watcher reports them), only those and
    what is under them are compared with the index.
    """
    started = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    check_folders(corpus_dir)
    if paths is not None:
        paths = {path.strip("/") for path in paths}
        if "" in paths:
            paths = None  # the corpus folder itself: all of it
        elif rebuild:
            raise ValueError("a rebuild covers the whole corpus, not chosen paths")
    with writer_lock(index_dir):
        # A rebuild writes and commits with the current schema: an index made by an earlier
        # Seedsearch of the same SCHEMA_VERSION (with fewer fields) gets every field it now has.
        ix = open_index_unlocked(index_dir, current_schema=rebuild)
        _remove_leftovers(ix)
        # Comparing the corpus with the index makes a few objects per file, none in a cycle.
        with _gc_paused():
            leave_out = _inside(Path(index_dir), corpus_dir)  # an index kept in the corpus is not a document
            if paths is None:
                scan = documents.scan(corpus_dir, max_bytes, leave_out=leave_out)
            else:
                scan = documents.scan(corpus_dir, max_bytes, only=paths, leave_out=leave_out)
            skipped_files = [{"path": skip.path, "reason": skip.reason} for skip in scan.skipped]
            summary = Summary(skipped=len(skipped_files), skipped_files=skipped_files)
            # A rebuild reads every file again, but still counts the documents it drops.
            previous = _indexed_files(ix)
            indexed = {} if rebuild else previous
            if paths is not None:
                indexed = {path: known for path, known in indexed.items() if _under(path, paths)}
            failed_paths = set()
            for failure in scan.failures:
                if failure.keeps_previous:
                    failed_paths.add(failure.path)
                summary.failures.append({"path": failure.path, "reason": failure.reason})
            jobs = _plan(scan, indexed, summary)
            workers = _worker_count(procs, len(jobs))
            method = _start_method()  # before the progress bar starts its monitor thread
            present = {src.path for src in scan.files} | failed_paths
            # A folder that could not be read keeps its documents: they may still exist.
            unreadable = tuple(path + "/" for path in failed_paths)
            gone = sorted(
                path for path in (previous if rebuild else indexed).keys() - present if not path.startswith(unreadable)
            )
        replaced: list[str] = []
        emptied: list[str] = []  # indexed files now read with no text in them
        written: set[str] = set()  # files a rebuild indexed (each is ADDED there)
        from tqdm import tqdm  # here, not at the top: a web worker that only searches never needs it

        bar = tqdm(total=len(jobs), unit="file", disable=not progress, file=sys.stderr, leave=False)

        def count(outcomes: list[Outcome]) -> None:
            for path, outcome, reason in outcomes:
                if outcome == FAILED:
                    failed_paths.add(path)
                    summary.failures.append({"path": path, "reason": reason})
                elif outcome == NO_TEXT:
                    summary.failures.append({"path": path, "reason": reason})
                    if path in indexed:
                        emptied.append(path)
                elif outcome == REFRESHED:
                    summary.unchanged += 1
                    replaced.append(path)
                elif outcome == ADDED:
                    summary.added += 1
                    written.add(path)
                else:
                    summary.updated += 1
                    replaced.append(path)
            bar.update(len(outcomes))

        writer = None
        try:
            segments = []
            if workers > 1:
                segments = _index_parallel(index_dir, jobs, workers, method, default_language, count, rebuild)
            elif jobs:
                writer = BufferedSegmentWriter(ix, limitmb=WRITER_LIMIT_MB)
                for start in range(0, len(jobs), BATCH_FILES):
                    count(_index_batch(writer, jobs[start : start + BATCH_FILES], default_language))
            if writer is None and (segments or gone or replaced or emptied or rebuild):
                writer = BufferedSegmentWriter(ix, limitmb=WRITER_LIMIT_MB)
            if writer is not None:
                # Old versions of changed files, files that are gone, and files emptied of text.
                # A file that now fails to read keeps its last good version (it is in `present`).
                for path in replaced + gone + emptied:
                    writer.delete_by_term("id", doc_id(path))
                # A rebuild's CLEAR drops every old version, a failing file's last good one too.
                summary.deleted = len(previous.keys() - written) if rebuild else len(gone) + len(emptied)
                # CLEAR drops the old segments in the same atomic commit, so readers see
                # the old index until the new one is complete.
                writer.commit(mergetype=CLEAR if rebuild else merge_small, extra_segments=segments)
                writer = None
        finally:
            bar.close()
            if writer is not None:
                writer.cancel()
    summary.failed = len(summary.failures)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _inside(folder: Path, corpus_dir: Path) -> str | None:
    """Return `folder`'s corpus-relative path if it is inside the corpus, else None."""
    try:
        return folder.resolve().relative_to(corpus_dir.resolve()).as_posix()
    except ValueError:
        return None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector for the block; leave what it made in the oldest generation, unscanned.

    Comparing 100k files with the index keeps a few hundred thousand objects alive (the scan, the
    index's bookkeeping), none in a cycle. Each batch of them set off a collection that walked the
    objects still alive, and turning the collector back on would scan them all at once: ~90 ms,
    an eighth of a no-op reindex of 100k files. gc.freeze() then gc.unfreeze() moves every tracked
    object to the oldest generation without a scan; a later full collection still frees any cycle.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _under(path: str, tops: set[str]) -> bool:
    """Return whether corpus path `path` is one of `tops` or inside one of them."""
    parts = path.split("/")
    return any("/".join(parts[:i]) in tops for i in range(1, len(parts) + 1))


def _remove_leftovers(ix) -> None:
    """Delete the files a killed writer left: older generations, unfinished segments, a temporary TOC."""
    # Whoosh cleans up only after its next commit, which a run with no changes never makes,
    # and never matches the temporary name a TOC has until it is renamed into place.
    for stale in Path(ix.storage.folder).glob(f"_{INDEX_NAME}_*.toc.*"):
        stale.unlink(missing_ok=True)
    committed = TOC.read(ix.storage, INDEX_NAME)
    clean_files(ix.storage, INDEX_NAME, committed.generation, committed.segments)


def open_index_unlocked(index_dir: str | Path, current_schema: bool = False):
    """Open or create the index; the caller holds the writer lock.

    An existing index keeps the schema stored with it, unless `current_schema`: then its writers
    use build_schema()'s, and their commit stores it (only for a rebuild, which drops every
    segment written with the old one).
    """
    if exists(index_dir):
        schema = build_schema() if current_schema else None
        return whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME, schema=schema)
    _remove_older_versions(Path(index_dir))
    return whoosh_index.create_in(str(index_dir), build_schema(), indexname=INDEX_NAME)


def _remove_older_versions(index_dir: Path) -> None:
    """Delete an index an older Seedsearch wrote (another schema version) before a new one replaces it."""
    for path in index_dir.glob("*seedsearch_v*"):
        version = OLDER_VERSION.fullmatch(path.name)
        if version is not None and int(version.group(1)) != SCHEMA_VERSION and path.is_file():
            path.unlink(missing_ok=True)
