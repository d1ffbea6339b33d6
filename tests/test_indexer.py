"""Incremental indexing: add, change, delete, unchanged, rebuild, one writer."""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import threading
import weakref

import pytest
from conftest import write

from search import indexer, query, writing
from search.config import load


def search(index_dir, q, **kwargs):
    request = query.SearchRequest(q=q, **kwargs)
    return query.search(query.Searchers(index_dir), request, load({}, environ={}))


def test_first_run_adds_everything(corpus, tmp_path):
    summary = indexer.reindex(corpus, tmp_path / "ix")
    assert summary.added == 5
    assert (summary.updated, summary.deleted, summary.unchanged, summary.failed) == (0, 0, 0, 0)


def test_second_run_changes_nothing(corpus, index_dir):
    summary = indexer.reindex(corpus, index_dir)
    assert (summary.added, summary.updated, summary.deleted, summary.unchanged) == (0, 0, 0, 5)


def test_add_change_delete(corpus, index_dir):
    write(corpus, "new/fresh.md", "# Fresh\n\nA brand new zeppelin document.\n")
    (corpus / "notes/moving.md").write_text("# Moving abroad\n\nNow about submarines.\n", encoding="utf-8")
    (corpus / "hostile.txt").unlink()
    summary = indexer.reindex(corpus, index_dir)
    assert (summary.added, summary.updated, summary.deleted, summary.unchanged) == (1, 1, 1, 3)
    assert [hit.path for hit in search(index_dir, "zeppelin").hits] == ["new/fresh.md"]
    assert [hit.path for hit in search(index_dir, "submarines").hits] == ["notes/moving.md"]
    assert search(index_dir, "visas").total == 0
    assert search(index_dir, "beware").total == 0


def test_a_no_op_run_reads_no_file(corpus, index_dir, monkeypatch):
    def no_reading(src):
        raise AssertionError(f"read {src.path} although its size and mtime are unchanged")

    monkeypatch.setattr(indexer.documents, "read_source", no_reading)
    assert indexer.reindex(corpus, index_dir).unchanged == 5


def _same_size_and_mtime(path, text: str) -> None:
    """Write `text` over `path` (the same length) and give it its old mtime back, to the nanosecond."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("parallel", [False, True])
def test_a_change_that_keeps_size_and_mtime_is_found(corpus, index_dir, parallel, monkeypatch):
    # cp -p, rsync -a and tar put back the old mtime; the change time (ctime) they cannot.
    if parallel:
        monkeypatch.setattr(indexer, "PARALLEL_MIN_FILES", 1)
        monkeypatch.setattr(indexer, "PARALLEL_MIN_FILES_PER_PROC", 1)
    moving = corpus / "notes/moving.md"
    old = moving.read_text(encoding="utf-8")
    _same_size_and_mtime(moving, old.replace("visas", "zebra"))
    summary = indexer.reindex(corpus, index_dir, procs=2)
    assert (summary.updated, summary.unchanged) == (1, 4)
    assert search(index_dir, "zebra").total == 1 and search(index_dir, "visas").total == 0
    # Replaced by another file of that size and mtime (mv over it), as in a tar's two versions.
    other = corpus / "other.md"
    other.write_text(old, encoding="utf-8")
    os.utime(other, ns=(moving.stat().st_atime_ns, moving.stat().st_mtime_ns))
    os.replace(other, moving)
    summary = indexer.reindex(corpus, index_dir, procs=2)
    assert (summary.updated, summary.deleted) == (1, 0)
    assert search(index_dir, "visas").total == 1 and search(index_dir, "zebra").total == 0


def test_a_touched_file_is_read_once_then_left_alone(corpus, index_dir, monkeypatch):
    moving = corpus / "notes/moving.md"
    before = search(index_dir, "visas").hits[0].modified
    os.utime(moving, ns=(moving.stat().st_atime_ns, moving.stat().st_mtime_ns + 10**9))
    summary = indexer.reindex(corpus, index_dir)
    assert (summary.added, summary.updated, summary.unchanged) == (0, 0, 5)  # the same content
    assert search(index_dir, "visas").hits[0].modified != before  # the file's new time is shown

    def no_reading(src):
        raise AssertionError(f"read {src.path} again")

    monkeypatch.setattr(indexer.documents, "read_source", no_reading)
    assert indexer.reindex(corpus, index_dir).unchanged == 5


def test_an_index_made_before_the_change_time_was_kept(corpus, tmp_path, monkeypatch):
    from search import analysis

    build = analysis.build_schema

    def without_ctime():
        schema = build()
        schema.remove("ctime_ns")
        return schema

    monkeypatch.setattr(indexer, "build_schema", without_ctime)
    index_dir = tmp_path / "old-index"
    indexer.reindex(corpus, index_dir)
    monkeypatch.setattr(indexer, "build_schema", build)
    assert indexer.fields_missing(index_dir) == ["ctime_ns"]
    (corpus / "notes/moving.md").write_text("# Moving abroad\n\nNow about submarines.\n", encoding="utf-8")
    summary = indexer.reindex(corpus, index_dir)  # size and mtime as before; no column to write
    assert (summary.updated, summary.unchanged) == (1, 4)
    assert search(index_dir, "submarines").total == 1
    indexer.reindex(corpus, index_dir, rebuild=True)
    assert indexer.fields_missing(index_dir) == []


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_cycle_collector_as_it_was_and_its_cycles_collectable(corpus, index_dir, enabled):
    class Node:
        pass

    def cycle() -> weakref.ref:
        node = Node()
        node.self = node
        return weakref.ref(node)

    before = cycle()  # garbage from before the run, not yet collected
    try:
        if not enabled:
            gc.disable()
        indexer.reindex(corpus, index_dir)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    gc.collect()
    assert before() is None


def test_the_cycle_collector_is_back_on_when_the_comparison_fails(corpus, index_dir, monkeypatch):
    def failing(*args, **kwargs):
        raise OSError("the corpus went away")

    monkeypatch.setattr(indexer.documents, "scan", failing)
    with pytest.raises(OSError):
        indexer.reindex(corpus, index_dir)
    assert gc.isenabled()


def test_touched_but_identical_file_is_unchanged(corpus, index_dir):
    path = corpus / "notes/moving.md"
    path.write_bytes(path.read_bytes())  # new mtime, same content hash
    summary = indexer.reindex(corpus, index_dir)
    assert (summary.updated, summary.unchanged) == (0, 5)


@pytest.mark.parametrize("held", [1, indexer.EXTRACTED_CHARS])
def test_a_batch_adds_its_files_in_order_each_in_its_own_language(tmp_path, monkeypatch, held):
    # A batch's files are extracted, then their languages detected, then added (_index_batch);
    # with `held` at 1 character, each file is added as soon as it is extracted.
    monkeypatch.setattr(indexer, "EXTRACTED_CHARS", held)
    root = tmp_path / "corpus"
    write(root, "a.txt", "The engineers measured the pressure on the wing at several speeds and angles.\n")
    write(root, "b.txt", "Президент России подписал указ о сотрудничестве с соседями страны и партнёрами.\n")
    write(root, "c.txt", bytes(range(256)) * 64)
    write(root, "d.txt", "Les chercheurs étudient les écoulements hypersoniques autour des véhicules spatiaux.\n")
    write(root, "e.txt", "Die Forscher untersuchen die Strömungen um Flugzeuge bei hohen Geschwindigkeiten.\n")
    summary = indexer.reindex(root, tmp_path / "ix", procs=1)
    assert (summary.added, summary.failed) == (4, 1)
    with indexer.open_index(tmp_path / "ix").searcher() as searcher:
        stored = [searcher.stored_fields(docnum) for docnum in range(searcher.doc_count_all())]
    assert [(doc["path"], doc["lang"]) for doc in stored] == [
        ("a.txt", "en"),
        ("b.txt", "ru"),
        ("d.txt", "fr"),
        ("e.txt", "de"),
    ]
    assert [hit.path for hit in search(tmp_path / "ix", "véhicule").hits] == ["d.txt"]
    assert [hit.path for hit in search(tmp_path / "ix", "россии").hits] == ["b.txt"]
    # Unchanged (touched, same content), changed and failing files in one batch.
    (root / "a.txt").write_bytes((root / "a.txt").read_bytes())
    (root / "e.txt").write_text("Die Forscher messen den Druck auf den Flügeln bei hohen Geschwindigkeiten.\n")
    summary = indexer.reindex(root, tmp_path / "ix", procs=1)
    assert (summary.added, summary.updated, summary.unchanged, summary.failed) == (0, 1, 3, 1)
    assert [hit.path for hit in search(tmp_path / "ix", "flügel").hits] == ["e.txt"]


def test_rebuild_reindexes_everything(corpus, index_dir):
    summary = indexer.reindex(corpus, index_dir, rebuild=True)
    assert summary.added == 5
    assert search(index_dir, "relocating").total >= 1


def test_a_rebuild_counts_the_documents_it_drops(corpus, index_dir):
    (corpus / "notes" / "moving.md").unlink()
    summary = indexer.reindex(corpus, index_dir, rebuild=True)
    assert (summary.added, summary.deleted) == (4, 1)
    assert search(index_dir, "visas").total == 0
    # A file that no longer reads keeps its last good version in a plain reindex; a rebuild drops it.
    write(corpus, "hostile.txt", bytes(range(256)) * 64)
    assert indexer.reindex(corpus, index_dir).deleted == 0 and search(index_dir, "beware").total == 1
    summary = indexer.reindex(corpus, index_dir, rebuild=True)
    assert (summary.added, summary.deleted, summary.failed) == (3, 1, 1)
    assert search(index_dir, "beware").total == 0


def test_failures_are_reported_and_skipped(corpus, tmp_path):
    write(corpus, "empty.txt", b"")
    write(corpus, "junk.txt", bytes(range(256)) * 64)
    write(corpus, "fake.pdf", b"this is not a pdf at all")
    write(corpus, "image.png", b"\x89PNG\r\n")
    summary = indexer.reindex(corpus, tmp_path / "ix")
    reasons = {failure["path"]: failure["reason"] for failure in summary.failures}
    assert set(reasons) == {"empty.txt", "junk.txt", "fake.pdf"}
    assert summary.failed == 3 and summary.skipped == 1 and summary.added == 5
    json.dumps(summary.as_dict())


def test_a_file_that_starts_failing_keeps_its_last_good_version(corpus, index_dir):
    (corpus / "notes/moving.md").write_bytes(random.Random(0).randbytes(4096))
    summary = indexer.reindex(corpus, index_dir)
    assert summary.failed == 1 and summary.deleted == 0
    assert search(index_dir, "visas").total == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"  \n\t\n", "no text found"), (b"<!-- -->\n", "no text found")],
)
@pytest.mark.parametrize("parallel", [False, True])
def test_a_file_emptied_of_text_leaves_the_index(corpus, index_dir, content, reason, parallel, monkeypatch):
    if parallel:  # the same through worker processes
        monkeypatch.setattr(indexer, "PARALLEL_MIN_FILES", 1)
        monkeypatch.setattr(indexer, "PARALLEL_MIN_FILES_PER_PROC", 1)
    assert search(index_dir, "visas").total == 1
    # Same name, no text left: not a read error to wait out, but what the file now says.
    (corpus / "notes/moving.md").write_bytes(content)
    summary = indexer.reindex(corpus, index_dir, procs=2)
    assert summary.failures == [{"path": "notes/moving.md", "reason": reason}]
    assert summary.deleted == 1
    assert search(index_dir, "visas").total == 0
    assert indexer.reindex(corpus, index_dir, procs=2).deleted == 0  # and it stays out


def test_a_file_grown_past_the_size_limit_leaves_the_index(corpus, index_dir):
    assert search(index_dir, "visas").total == 1
    with open(corpus / "notes/moving.md", "a") as grown:
        grown.write("more words " * 300)
    summary = indexer.reindex(corpus, index_dir, max_bytes=3000)  # the other files are smaller
    assert summary.failures == [{"path": "notes/moving.md", "reason": "larger than the 2.93 KB limit"}]
    assert summary.deleted == 1 and search(index_dir, "visas").total == 0


def test_a_path_that_became_a_symlink_leaves_the_index(corpus, index_dir, tmp_path):
    # A file replaced by a link, and a folder replaced by a link to another folder: no document
    # is read through a link, and those indexed before leave rather than stay as they were.
    assert search(index_dir, "visas").total == 1
    (corpus / "notes/moving.md").unlink()
    (corpus / "notes/moving.md").symlink_to(corpus / "hostile.txt")
    summary = indexer.reindex(corpus, index_dir)
    assert summary.deleted == 1 and search(index_dir, "visas").total == 0
    assert [skip["path"] for skip in summary.skipped_files] == ["notes/moving.md"]
    assert "ru/novosti.txt" in _indexed_paths(index_dir)
    shutil.rmtree(corpus / "ru")
    (tmp_path / "elsewhere").mkdir()
    (corpus / "ru").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    summary = indexer.reindex(corpus, index_dir)
    assert summary.deleted == 1 and not any(path.startswith("ru/") for path in _indexed_paths(index_dir))


def _indexed_paths(index_dir) -> list[str]:
    with indexer.open_searcher(indexer.open_index(index_dir)) as searcher:
        return [stored["path"] for stored in searcher.all_stored_fields()]


def test_an_index_kept_inside_the_corpus_is_not_read_as_documents(corpus):
    inside = corpus / "search-index"
    assert indexer.reindex(corpus, inside).added == 5
    summary = indexer.reindex(corpus, inside)
    assert (summary.unchanged, summary.skipped, summary.failed) == (5, 0, 0), summary.as_dict()


def test_only_one_writer(corpus, index_dir):
    with indexer.writer_lock(index_dir), pytest.raises(indexer.IndexBusy):
        indexer.reindex(corpus, index_dir)
    assert indexer.reindex(corpus, index_dir).unchanged == 5


def test_concurrent_reindexes_never_both_write(corpus, index_dir):
    write(corpus, "more.txt", "Another document about gliders.\n")
    outcomes = []

    def run():
        try:
            outcomes.append(indexer.reindex(corpus, index_dir).added)
        except indexer.IndexBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o for o in outcomes if o != "busy") == 1
    assert search(index_dir, "gliders").total == 1


def test_missing_corpus_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        indexer.reindex(tmp_path / "nope", tmp_path / "ix")


def test_readers_keep_the_old_generation_until_commit(corpus, index_dir):
    searchers = query.Searchers(index_dir)
    before = searchers.get()
    write(corpus, "late.txt", "A late arrival about hovercraft.\n")
    indexer.reindex(corpus, index_dir, rebuild=True)
    assert before.doc_count() == 5  # the old searcher still answers from its generation
    assert searchers.get().doc_count() == 6


def test_an_unreadable_folder_keeps_its_documents(corpus, index_dir, monkeypatch):
    from search import documents

    real_scan = documents.scan

    def scan_with_unreadable_notes(root, max_bytes, **options):
        result = real_scan(root, max_bytes, **options)
        result.files = [src for src in result.files if not src.path.startswith("notes/")]
        result.failures.append(documents.Failure("notes", "permission denied"))
        return result

    monkeypatch.setattr(documents, "scan", scan_with_unreadable_notes)
    summary = indexer.reindex(corpus, index_dir)
    assert summary.deleted == 0 and summary.failed == 1
    assert search(index_dir, "visas").total == 1


def test_the_read_path_never_creates_an_index(tmp_path):
    # A server started before the first indexer answers "no index" and writes nothing;
    # once the indexer has committed, the same Searchers find the index without a restart.
    index_dir = tmp_path / "ix"
    searchers = query.Searchers(index_dir)
    with pytest.raises(indexer.IndexMissing, match="python -m search index"):
        searchers.get()
    assert not index_dir.exists()
    with indexer.writer_lock(index_dir):  # the first indexer has taken the lock, not yet created the index
        with pytest.raises(indexer.IndexMissing):
            searchers.get()
        assert [p.name for p in index_dir.iterdir()] == [indexer.LOCK_NAME]
        indexer.open_index_unlocked(index_dir)
    assert searchers.get().doc_count() == 0


def _stored(index_dir) -> list[dict]:
    ix = indexer.open_index(index_dir)
    with ix.searcher() as searcher:
        return sorted(searcher.documents(), key=lambda doc: doc["path"])


@pytest.fixture
def parallel(monkeypatch):
    """Make every run with procs > 1 use worker processes, however few files it has."""
    monkeypatch.setattr(indexer, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(indexer, "PARALLEL_MIN_FILES_PER_PROC", 1)


def _many(corpus, count=40):
    for n in range(count):
        write(corpus, f"many/{n // 10}/doc{n}.md", f"# Note {n}\n\nGliders number {n} and {'wing ' * (n % 5)}lift.\n")


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_parallel_indexing_gives_the_same_documents_as_serial(corpus, tmp_path, parallel, monkeypatch, method):
    _many(corpus)
    monkeypatch.setattr(indexer, "_start_method", lambda: method)
    serial = indexer.reindex(corpus, tmp_path / "serial", procs=1)
    parallel_run = indexer.reindex(corpus, tmp_path / "parallel", procs=3)
    assert parallel_run.as_dict() | {"seconds": 0} == serial.as_dict() | {"seconds": 0}
    assert _stored(tmp_path / "parallel") == _stored(tmp_path / "serial")
    for q in ("gliders", "relocating", '"angle of attack"', "россия"):
        assert [h.path for h in search(tmp_path / "parallel", q).hits] == [
            h.path for h in search(tmp_path / "serial", q).hits
        ]


def test_parallel_incremental_run_adds_changes_and_deletes(corpus, index_dir, parallel):
    _many(corpus)
    assert indexer.reindex(corpus, index_dir, procs=2).added == 40
    (corpus / "many/0/doc3.md").write_text("# Note 3\n\nNow about zeppelins.\n", encoding="utf-8")
    (corpus / "many/1/doc12.md").unlink()
    write(corpus, "junk.txt", bytes(range(256)) * 64)
    summary = indexer.reindex(corpus, index_dir, procs=2)
    assert (summary.added, summary.updated, summary.deleted, summary.failed) == (0, 1, 1, 1)
    assert summary.failures == [{"path": "junk.txt", "reason": "looks like binary data"}]
    assert [hit.path for hit in search(index_dir, "zeppelins").hits] == ["many/0/doc3.md"]
    assert search(index_dir, '"gliders number 12"').total == 0
    assert indexer.reindex(corpus, index_dir, procs=2).unchanged == 45 - 1


def test_a_failing_worker_commits_nothing(corpus, index_dir, parallel, monkeypatch):
    _many(corpus)
    real = indexer.document_fields

    def broken(doc, default_language="en", lang=None):
        if doc.path.endswith("doc7.md"):
            raise RuntimeError("simulated crash")
        return real(doc, default_language, lang)

    monkeypatch.setattr(indexer, "_start_method", lambda: "fork")  # the child sees the patch
    monkeypatch.setattr(indexer, "document_fields", broken)
    # One line, as the one-process path says it (an OSError: the CLI prints it and exits 1).
    with pytest.raises(indexer.IndexingFailed, match="^an indexing worker failed: simulated crash$"):
        indexer.reindex(corpus, index_dir, procs=2)
    assert search(index_dir, "gliders").total == 0  # the last commit is what readers see
    monkeypatch.setattr(indexer, "document_fields", real)
    assert indexer.reindex(corpus, index_dir, procs=2).added == 40
    assert search(index_dir, "gliders").total == 40


def test_small_runs_stay_in_process(corpus, tmp_path, monkeypatch):
    def no_workers(*args, **kwargs):
        raise AssertionError("worker processes for a handful of files")

    monkeypatch.setattr(indexer, "_index_parallel", no_workers)
    assert indexer.reindex(corpus, tmp_path / "ix", procs=4).added == 5


def _segments(index_dir) -> dict[str, tuple[int, int]]:
    """Return each segment's id and (documents, live documents) in the index's newest generation."""
    ix = indexer.open_index(index_dir)
    try:
        return {seg.segment_id(): (seg.doc_count_all(), seg.doc_count()) for seg in ix._segments()}  # noqa: SLF001
    finally:
        ix.close()


def _indexed(tmp_path, monkeypatch, small: int, files: dict[str, str]):
    """Index `files` in one commit with segments under `small` documents counted as small; return the folders."""
    monkeypatch.setattr(writing, "SMALL_SEGMENT_DOCS", small)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "ix"
    for relpath, text in files.items():
        write(corpus, relpath, text)
    indexer.reindex(corpus, index_dir, procs=1)
    return corpus, index_dir


def test_a_commit_merges_only_the_small_segments(tmp_path, monkeypatch):
    files = {f"big/d{i:02d}.txt": f"document {i} about airships" for i in range(30)}
    corpus, index_dir = _indexed(tmp_path, monkeypatch, 10, files)
    (big,) = _segments(index_dir)  # one large segment: 30 documents
    ids = set()
    for round_ in range(3):  # small reindexes: a small segment each; two small ones are merged by the next
        write(corpus, f"small/r{round_}.txt", f"round {round_} about zeppelins")
        indexer.reindex(corpus, index_dir, procs=1)
        found = _segments(index_dir)
        assert big in found and found[big] == (30, 30)  # the large one is never rewritten
        ids |= set(found) - {big}
        assert len(found) <= 3
    assert len(found) == 2  # the third commit merged the first two small segments into its own
    assert len(ids) == 3  # each commit wrote a new small segment
    assert search(index_dir, "zeppelins").total == 3 and search(index_dir, "airships").total == 30


def _sizes(index_dir) -> list[int]:
    return sorted(documents for documents, _ in _segments(index_dir).values())


def _add(corpus, index_dir, names: list[str]) -> None:
    """Write the files `names` and reindex: one commit, one new segment."""
    for name in names:
        write(corpus, name, f"{name} about balloons")
    indexer.reindex(corpus, index_dir, procs=1)


def test_a_commit_merges_the_smallest_segments_within_its_budget(tmp_path, monkeypatch):
    # Two segments just under the small bound (a full index's last ones) are left as they are
    # by a commit of one file, which merges only what fits in its budget, the smallest first.
    monkeypatch.setattr(writing, "MERGE_BUDGET_DOCS", 4)
    corpus, index_dir = _indexed(tmp_path, monkeypatch, 10, {f"a/{i}.txt": f"first {i}" for i in range(3)})
    _add(corpus, index_dir, [f"b/{i}.txt" for i in range(3)])
    assert _sizes(index_dir) == [3, 3]
    _add(corpus, index_dir, ["c.txt"])
    assert _sizes(index_dir) == [1, 3, 3]  # 3 + 3 is over the budget: nothing merged
    _add(corpus, index_dir, ["d.txt"])
    assert _sizes(index_dir) == [3, 5]  # 1 + 3 fit: merged with the new document
    assert search(index_dir, "balloons").total == 5 and search(index_dir, "first").total == 3


def test_a_commit_of_one_file_does_not_rewrite_a_larger_small_segment(tmp_path, monkeypatch):
    # A watched folder: 20 files indexed, then saves one by one. Each save's segment merges
    # with the other saves' (like sizes), not with the 20 until they hold a quarter as many.
    corpus, index_dir = _indexed(tmp_path, monkeypatch, 100, {f"a/{i}.txt": f"first {i}" for i in range(20)})
    (first,) = _segments(index_dir)
    for round_ in range(4):
        _add(corpus, index_dir, [f"save{round_}.txt"])
        found = _segments(index_dir)
        assert found[first] == (20, 20)  # not rewritten
        assert len(found) <= 3
    assert _sizes(index_dir) == [1, 3, 20]
    for round_ in range(4, 6):  # 1 + 3 + the next one's 1: 5, a quarter of 20
        _add(corpus, index_dir, [f"save{round_}.txt"])
    assert _sizes(index_dir) == [26]
    assert search(index_dir, "balloons").total == 6 and search(index_dir, "first").total == 20


def test_small_segments_stay_few_when_no_merge_fits_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(writing, "MERGE_BUDGET_DOCS", 0)
    monkeypatch.setattr(writing, "MAX_SMALL_SEGMENTS", 3)
    corpus, index_dir = _indexed(tmp_path, monkeypatch, 10, {"first.txt": "the first"})
    for round_ in range(8):
        _add(corpus, index_dir, [f"r{round_}.txt"])
        assert len(_segments(index_dir)) <= 3
    assert search(index_dir, "balloons").total == 8


def test_a_segment_whose_documents_are_all_deleted_is_dropped(tmp_path, monkeypatch):
    files = {f"gone/d{i}.txt": f"document {i} about gliders" for i in range(5)}
    corpus, index_dir = _indexed(tmp_path, monkeypatch, 3, files)
    for i in range(5):
        (corpus / f"gone/d{i}.txt").unlink()
    write(corpus, "kept.txt", "a kite")
    indexer.reindex(corpus, index_dir, procs=1)  # deletes the five: their segment is now empty
    write(corpus, "more.txt", "another kite")
    indexer.reindex(corpus, index_dir, procs=1)
    assert all(live > 0 for _, live in _segments(index_dir).values())
    assert search(index_dir, "gliders").total == 0 and search(index_dir, "kite").total == 2


def test_a_searcher_opened_before_a_commit_reads_its_documents_after_it(corpus, index_dir):
    # A rebuild deletes every file of the generation a searcher holds; Whoosh would open its
    # stored fields and field lengths only when first read, and find them gone.
    before = indexer.open_searcher(indexer.open_index(index_dir))
    indexer.reindex(corpus, index_dir, rebuild=True)
    folder = before.reader().leaf_readers()[0][0]._segment.segment_id()
    assert not list(index_dir.glob(f"{folder}.*")), "the rebuild kept the old generation's files"
    assert not before.up_to_date()
    stored = before.document(id=indexer.doc_id("notes/moving.md"))
    assert stored is not None and "visas" in stored["body"].lower()
    reader = before.reader()
    assert all(reader.doc_field_length(docnum, "words") for docnum in reader.all_doc_ids())
    count = before.doc_count()
    before.close()
    with indexer.open_searcher(indexer.open_index(index_dir)) as after:
        assert after.up_to_date() and after.doc_count() == count


def test_an_index_of_an_older_version_is_removed_when_the_new_one_is_built(tmp_path):
    root, index_dir = tmp_path / "corpus", tmp_path / "ix"
    write(root, "a.txt", "Boundary layers on flat plates.\n")
    index_dir.mkdir()
    older = [
        "_seedsearch_v1_3.toc",
        "seedsearch_v1_abcdefgh12345678.seg",
        "seedsearch_v1_abcdefgh12345678._body_en_len.col",
        "seedsearch_v1_WRITELOCK",
    ]
    for name in older:
        (index_dir / name).write_bytes(b"old")
    (index_dir / "notes.txt").write_text("not ours")
    indexer.reindex(root, index_dir)
    assert not any((index_dir / name).exists() for name in older)
    assert (index_dir / "notes.txt").exists()
    assert any(path.name.startswith(f"_{indexer.INDEX_NAME}_") for path in index_dir.iterdir())
