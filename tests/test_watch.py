"""The watcher: saved, changed, renamed and removed files and folders reach the index on their own."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from bench.harness import LiveServer, environment, expected_state, index_state, start_cli, wait_for
from search import config as settings
from search import indexer
from search.watch import OVERFLOW_LOGGER, Watcher, WatchingFailed
from tests.conftest import write

TIMEOUT = 10.0


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(corpus, "first.txt", "An alpha document about gliders.\n")
    return corpus, tmp_path / "index"


class Running:
    """A watcher running in a thread, with short debounce settings."""

    def __init__(self, corpus: Path, index_dir: Path):
        self.corpus, self.index_dir = corpus, index_dir
        self.summaries: list[tuple[indexer.Summary, bool]] = []
        config = settings.load({}, environ={})
        self.watcher = Watcher(
            corpus,
            index_dir,
            config,
            quiet=0.05,
            max_delay=0.2,
            report=lambda s, full: self.summaries.append((s, full)),
        )
        self.thread = threading.Thread(target=self.watcher.run)

    def __enter__(self) -> Running:
        self.watcher.start()
        self.thread.start()
        assert wait_for(lambda: self.watcher.runs >= 1, TIMEOUT), "the scan on start did not finish"
        return self

    def __exit__(self, *exc) -> None:
        self.watcher.stop()
        self.thread.join(TIMEOUT)
        self.watcher.close()
        assert not self.thread.is_alive()

    def paths(self) -> set[str]:
        return set(index_state(self.index_dir))

    def converges(self) -> bool:
        """Wait until the index holds exactly what the corpus holds."""
        return wait_for(lambda: index_state(self.index_dir) == expected_state(self.corpus), TIMEOUT, every=0.05)


def test_the_scan_on_start_indexes_what_is_there(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        assert running.paths() == {"first.txt"}
        assert running.summaries[0][1] is True  # a full scan


def test_added_changed_and_deleted_files_are_followed(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        write(corpus, "notes/second.md", "# Second\n\nBeta words.\n")
        assert running.converges()
        assert running.paths() == {"first.txt", "notes/second.md"}
        before = index_state(index_dir)["first.txt"]
        (corpus / "first.txt").write_text("An edited alpha document.\n", encoding="utf-8")
        assert wait_for(lambda: index_state(index_dir).get("first.txt") not in (None, before), TIMEOUT)
        (corpus / "first.txt").unlink()
        assert wait_for(lambda: running.paths() == {"notes/second.md"}, TIMEOUT)
        # Only targeted runs after the scan on start.
        assert all(not full for _, full in running.summaries[1:])


def test_renamed_files_and_moved_created_and_removed_folders_are_followed(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        (corpus / "first.txt").rename(corpus / "renamed.txt")
        assert wait_for(lambda: running.paths() == {"renamed.txt"}, TIMEOUT)
        # A folder made elsewhere and moved in at once: its files come with it.
        outside = corpus.parent / "outside"
        write(outside, "deep/inner.txt", "Inner gamma text.\n")
        write(outside, "top.txt", "Top delta text.\n")
        outside.rename(corpus / "moved")
        assert wait_for(lambda: running.paths() == {"renamed.txt", "moved/top.txt", "moved/deep/inner.txt"}, TIMEOUT)
        (corpus / "moved").rename(corpus / "again")
        assert wait_for(lambda: running.paths() == {"renamed.txt", "again/top.txt", "again/deep/inner.txt"}, TIMEOUT)
        shutil.rmtree(corpus / "again")
        assert wait_for(lambda: running.paths() == {"renamed.txt"}, TIMEOUT)
        # A folder moved out of the corpus is a removal.
        write(corpus, "leaving/file.txt", "Epsilon text.\n")
        assert wait_for(lambda: "leaving/file.txt" in running.paths(), TIMEOUT)
        (corpus / "leaving").rename(corpus.parent / "gone")
        assert wait_for(lambda: running.paths() == {"renamed.txt"}, TIMEOUT)


def test_scratch_files_are_ignored(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        runs = running.watcher.runs
        names = (
            "doc.txt.swp",
            ".doc.txt.swx",
            "doc.txt~",
            ".#doc.txt",
            "~$report.docx",
            "big.pdf.part",
            "x.crdownload",
        )
        for name in names:
            write(corpus, name, "scratch\n")
        write(corpus, ".hidden/inside.txt", "hidden\n")
        # Longer than the quiet time and the longest delay: a run would have started by now.
        assert not wait_for(lambda: running.watcher.runs > runs, 0.6)
        # An editor's save: write a scratch file, then rename it over the real one.
        write(corpus, ".first.txt.swp", "Saved through a swap file, zeta.\n")
        os.replace(corpus / ".first.txt.swp", corpus / "first.txt")
        assert wait_for(lambda: "zeta" in _text(index_dir, "first.txt"), TIMEOUT)
        assert running.paths() == {"first.txt"}
    # Neither indexed, nor failed, nor named as skipped: ignored.
    summary = indexer.reindex(corpus, index_dir)
    assert (summary.skipped, summary.failed, summary.unchanged) == (0, 0, 1)


def test_a_burst_of_files_is_batched(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        runs = running.watcher.runs
        for number in range(50):
            write(corpus, f"burst/{number // 10}/doc-{number:02d}.txt", f"Document number {number} of the burst.\n")
        assert running.converges()
        assert len(running.paths()) == 51
        assert running.watcher.runs - runs < 50  # batched, not one run per file


def test_a_restart_converges(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        assert running.converges()
    # Changes while no watcher runs: the scan on the next start picks them up.
    write(corpus, "while-down.txt", "Written while the watcher was down.\n")
    (corpus / "first.txt").unlink()
    with Running(corpus, index_dir) as running:
        assert running.paths() == {"while-down.txt"}
        write(corpus, "after.txt", "After the restart.\n")
        assert running.converges()


def test_an_overflowed_queue_means_a_full_scan(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        runs = running.watcher.runs
        # What watchdog says when the kernel dropped events (there is no other signal).
        logging.getLogger(OVERFLOW_LOGGER).warning("Inotify queue overflowed; filesystem events were lost")
        assert wait_for(lambda: running.watcher.runs > runs, TIMEOUT)
        assert running.summaries[-1][1] is True


def test_another_writer_delays_the_watcher_without_losing_changes(folders):
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        with indexer.writer_lock(index_dir):
            write(corpus, "during-lock.txt", "Saved while another writer held the lock.\n")
            assert not wait_for(lambda: "during-lock.txt" in running.paths(), 0.5)
        assert running.converges()


def test_an_index_inside_the_corpus_is_not_watched(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus, "doc.txt", "Some text.\n")
    with Running(corpus, corpus / "index") as running:
        runs = running.watcher.runs
        write(corpus, "other.txt", "More text.\n")
        assert wait_for(lambda: "other.txt" in running.paths(), TIMEOUT)
        # The commit's own files in corpus/index/ must not set off another run.
        assert not wait_for(lambda: running.watcher.runs > runs + 1, 0.5)


def test_a_targeted_reindex_touches_only_the_paths_named(folders):
    corpus, index_dir = folders
    write(corpus, "a/one.txt", "One.\n")
    write(corpus, "b/two.txt", "Two.\n")
    indexer.reindex(corpus, index_dir)
    write(corpus, "a/three.txt", "Three.\n")
    (corpus / "b/two.txt").unlink()
    summary = indexer.reindex(corpus, index_dir, paths=["a"])
    assert (summary.added, summary.deleted, summary.unchanged) == (1, 0, 1)
    assert set(index_state(index_dir)) == {"first.txt", "a/one.txt", "a/three.txt", "b/two.txt"}
    summary = indexer.reindex(corpus, index_dir, paths=["b/two.txt", "missing/folder", "first.txt"])
    assert (summary.added, summary.deleted, summary.unchanged) == (0, 1, 1)
    assert index_state(index_dir) == expected_state(corpus)


def test_a_targeted_reindex_does_not_follow_links_or_hidden_folders(folders, tmp_path):
    corpus, index_dir = folders
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "Secret text.\n")
    (corpus / "link").symlink_to(outside, target_is_directory=True)
    write(corpus, ".git/config.txt", "Hidden.\n")
    summary = indexer.reindex(corpus, index_dir, paths=["link/secret.txt", "link", ".git/config.txt", "../outside"])
    assert summary.added == 0
    assert set(index_state(index_dir)) == set()


def _text(index_dir: Path, path: str) -> str:
    with indexer.open_searcher(indexer.open_index(index_dir)) as searcher:
        stored = searcher.document(id=indexer.doc_id(path))
    return stored["body"] if stored else ""


def test_the_watch_command_follows_the_folder_and_exits_cleanly_on_sigterm(folders):
    corpus, index_dir = folders
    process = start_cli("watch", "--corpus", str(corpus), "--index", str(index_dir), env=environment(corpus, index_dir))
    try:
        assert wait_for(lambda: "first.txt" in _indexed(index_dir), 60)  # the scan on start
        write(corpus, "later.txt", "Saved while watching.\n")
        assert wait_for(lambda: "later.txt" in _indexed(index_dir), TIMEOUT)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "stopped" in err


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_serve_watch_runs_one_watcher_whatever_the_workers(folders, tmp_path):
    corpus, index_dir = folders
    indexer.reindex(corpus, index_dir)
    with LiveServer(corpus, index_dir, tmp_path / "server.log", workers=3, threads=1, SEEDSEARCH_WATCH="1") as server:
        write(corpus, "served.txt", "A quokka saved while serving.\n")
        assert wait_for(lambda: server.get("/api/search", {"q": "quokka"}).json()["total"] == 1, TIMEOUT)
        watching = [pid for pid in _family(server.process.pid) if _has_inotify(pid)]
        assert watching == [server.process.pid]
        assert len(server.booted_workers()) == 3
    assert server.process.returncode == 0
    assert "watcher stopped" in server.log()


def _family(pid: int) -> list[int]:
    """Return `pid` and all its descendants."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        found.append(parent)
        for task in Path(f"/proc/{parent}/task").iterdir():
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            queue.extend(int(child) for child in children)
    return found


def _has_inotify(pid: int) -> bool:
    found = False
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            found = found or os.readlink(fd) == "anon_inode:inotify"
    return found


def _indexed(index_dir: Path) -> set[str]:
    """Return the indexed paths; none while the watcher has not created the index (opening would)."""
    return set(index_state(index_dir)) if indexer.exists(index_dir) else set()


def test_a_touched_file_is_read_again(folders):
    # An attribute change (touch, chmod: a file made readable) is an event, and the reindex compares
    # the changed times (ctime). Tests run as root, who reads any file: this one stands for chmod.
    corpus, index_dir = folders
    with Running(corpus, index_dir) as running:
        runs = running.watcher.runs
        os.utime(corpus / "first.txt")
        assert wait_for(lambda: running.watcher.runs > runs, TIMEOUT)


@contextlib.contextmanager
def _deep(root: Path, levels: int):
    """Make root/d/d/... `levels` deep (a folder at a time: os.makedirs and rmtree recurse), removed after."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        deeper = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    os.close(fd)
    try:
        yield
    finally:
        subprocess.run(["rm", "-rf", str(root / "d")], check=True)


def test_a_tree_too_deep_to_watch_is_said_in_one_line(folders):
    corpus, index_dir = folders
    watcher = Watcher(corpus, index_dir, settings.load({}, environ={}))
    # watchdog walks the tree a level a call: past Python's recursion limit.
    with _deep(corpus, 1100), pytest.raises(WatchingFailed, match="nested too deep"):
        watcher.start()
    watcher.close()


def _failing(corpus: Path, index_dir: Path) -> tuple[Running, list[BaseException]]:
    """Return a Running watcher whose thread records the WatchingFailed that ends it, and that record."""
    failed: list[BaseException] = []
    running = Running(corpus, index_dir)

    def run() -> None:
        try:
            running.watcher.run()
        except WatchingFailed as failure:
            failed.append(failure)

    running.thread = threading.Thread(target=run)
    return running, failed


def test_a_watcher_whose_events_stop_says_so_and_stops(folders):
    corpus, index_dir = folders
    running, failed = _failing(corpus, index_dir)
    with running, _deep(corpus, 1100):  # watchdog's reader thread ends on it
        assert wait_for(lambda: failed, TIMEOUT), "the watcher went on, hearing nothing"
    assert "nested too deep" in str(failed[0])


def test_a_corpus_folder_swapped_under_its_name_is_said_and_stops(folders, tmp_path):
    # `mv corpus old; mv new corpus`: the watches follow the old folder; the new one would go unheard.
    corpus, index_dir = folders
    running, failed = _failing(corpus, index_dir)
    with running:
        fresh = tmp_path / "fresh"
        shutil.copytree(corpus, fresh)
        corpus.rename(tmp_path / "old")
        fresh.rename(corpus)
        assert wait_for(lambda: failed, TIMEOUT), "the watcher went on, deaf to the folder now there"
    assert "moved, replaced or removed" in str(failed[0])
