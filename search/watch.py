"""Keep the index in step with the corpus folder: filesystem events, batched into targeted reindexes.

inotify on Linux (watchdog picks the platform's own mechanism elsewhere), so an idle watcher
sleeps in the kernel. Events are collected until the folder has been quiet for `quiet` seconds
(or `max_delay` after the first one), then the paths they name are reindexed in one run of the
incremental indexer, under its single-writer lock. A full incremental scan runs on start and
after the kernel's event queue overflowed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from search import documents, indexer
from search.analysis import detect_language
from search.config import max_file_bytes

# watchdog 7 (inotify) watches a new folder's subfolders when it sees the folder created, then
# sees their own creation events and watches them again: it warns, reuses the same watch, and
# nothing is lost. Not a problem a user can act on, so not printed.
WATCHDOG_REWATCH = r"Callback with id .* already exists for watch"
warnings.filterwarnings("ignore", message=WATCHDOG_REWATCH, category=RuntimeWarning)

log = logging.getLogger(__name__)

# Not opened/closed-without-writing (the indexer's own reads). Attribute changes are: a file made
# readable (chmod) or touched, a folder opened to the watcher.
EVENTS = [
    FileAttribEvent,
    DirAttribEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
OVERFLOW_MESSAGE = "Inotify queue overflowed"
BUSY_RETRY = 0.5  # seconds before trying again when another writer holds the lock
# Seconds between two looks, while idle, at whether events still come: watchdog's thread that reads
# them ends on an error of its own (a folder tree nested ~1,000 deep overflows its walk).
ALIVE_CHECK = 2.0
ERROR_RETRY = 5.0  # seconds before a full scan after a reindex failed
CLOSE_WAIT = 10.0  # seconds close() waits for watchdog's threads to stop

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

Report = Callable[[indexer.Summary, bool], None]


class WatchingFailed(OSError):
    """The watcher cannot follow the folder (its events stopped, or could not start); the message says why."""


class Watcher:
    """Watch `corpus_dir` and reindex what changes into `index_dir`."""

    def __init__(
        self,
        corpus_dir: str | Path,
        index_dir: str | Path,
        config: dict,
        *,
        quiet: float = 0.4,
        max_delay: float = 1.0,
        report: Report | None = None,
    ):
        self.corpus_dir = Path(corpus_dir)
        self.index_dir = Path(index_dir)
        self.config = config
        self.quiet, self.max_delay = quiet, max_delay
        self.report = report or (lambda summary, full: None)
        self._root = os.path.abspath(self.corpus_dir)
        self._index_root = os.path.abspath(self.index_dir)
        self._changed = threading.Condition()
        self._pending: set[str] = set()
        self._full = True  # the scan on start, due at once
        self._first: float | None = float("-inf")  # when the batch being gathered began
        self._last = float("-inf")
        self._not_before = 0.0
        self._stopping = False
        self._observer = None
        self._overflow = _OverflowSignal(self.rescan)
        self._failure: BaseException | None = None  # what ended the thread reading events
        self._root_identity: tuple[int, int] | None = None  # the watched folder's device and inode
        self._excepthook = None  # threading's, while ours is in place (start() to close())
        self.runs = 0  # reindex runs finished, for tests and the bench

    def start(self) -> None:
        """Start receiving events (the scan on start runs in run())."""
        indexer.check_folders(self.corpus_dir, self.index_dir)
        # Load the language model now, not in the first save's reindex, which would pay for it.
        detect_language("Load the language model before the first change.", "en")
        logging.getLogger(OVERFLOW_LOGGER).addHandler(self._overflow)
        self._excepthook, threading.excepthook = threading.excepthook, self._thread_failed
        self._observer = Observer()
        self._root_identity = _identity(self._root)
        # The watches are in place when start() returns: nothing saved after it is missed.
        try:
            self._observer.schedule(_Events(self), self._root, recursive=True, event_filter=EVENTS)
            self._observer.start()
        except RecursionError:  # watchdog walks the tree to watch every folder, a level a call
            self.close()
            raise WatchingFailed(f"cannot watch {self._root}: its folders are nested too deep to follow") from None

    def _thread_failed(self, args) -> None:
        """Note an error that ended one of watchdog's threads, so run() stops rather than miss changes."""
        # The observer, its emitters and the inotify reader each run in a thread of watchdog's own.
        if self._observer is not None and type(args.thread).__module__.startswith("watchdog."):
            with self._changed:
                self._failure = args.exc_value
                self._changed.notify_all()
        elif self._excepthook is not None:
            self._excepthook(args)

    @property
    def stopping(self) -> bool:
        """Whether stop() has been called."""
        return self._stopping

    def stop(self) -> None:
        """Ask run() to return once the reindex under way (if any) is committed."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def close(self) -> None:
        """Stop receiving events."""
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self._overflow)
        if self._observer is not None:
            # Stopped aside, for at most CLOSE_WAIT: watchdog's stop() waits for its reader thread,
            # which can be busy for long (walking a tree nested hundreds deep, a folder at a time).
            # Its threads are daemons: the process may end without them.
            stopping = threading.Thread(target=_stop_observer, args=(self._observer,), daemon=True)
            stopping.start()
            stopping.join(CLOSE_WAIT)
            self._observer = None
        if self._excepthook is not None:
            threading.excepthook, self._excepthook = self._excepthook, None

    def rescan(self) -> None:
        """Schedule a full incremental scan (events were lost)."""
        with self._changed:
            if not self._full:
                log.warning("events were lost: rescanning %s", self.corpus_dir)
            self._full = True
            self._note_change()

    def changed(self, abspath: str, is_directory: bool = False) -> None:
        """Note that something at `abspath` was created, changed, moved or removed."""
        relative = self._relative(abspath, is_directory)
        if relative is None:
            return
        with self._changed:
            self._pending.add(relative)
            self._note_change()

    def run(self) -> None:
        """Reindex batches of changes until stop() is called."""
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            full, paths = batch
            try:
                summary = indexer.reindex(
                    self.corpus_dir,
                    self.index_dir,
                    max_bytes=max_file_bytes(self.config),
                    default_language=self.config["DEFAULT_LANGUAGE"],
                    procs=self.config["INDEX_PROCS"],
                    paths=None if full else paths,
                )
            except indexer.IndexBusy:
                self._retry(full, paths, BUSY_RETRY)  # the CLI or the API is writing: ours comes next
                continue
            except OSError as problem:  # the corpus or index folder gone or unreadable, a full disk
                log.error("reindexing failed: %s; a full scan follows in %s s", problem, ERROR_RETRY)
                self._retry(True, paths, ERROR_RETRY)
                continue
            except Exception:
                log.exception("reindexing %s failed; a full scan follows in %s s", self.corpus_dir, ERROR_RETRY)
                self._retry(True, paths, ERROR_RETRY)
                continue
            self.report(summary, full)
            self.runs += 1

    def _next_batch(self) -> tuple[bool, set[str]] | None:
        """Wait for a batch that is due; return (full scan?, paths), or None when stopping.

        Raises WatchingFailed when the events stopped coming: a watcher that hears nothing must
        not look as if it were following the folder.
        """
        with self._changed:
            while not self._stopping:
                self._check_receiving()
                now = time.monotonic()
                if self._first is not None:
                    due = max(min(self._last + self.quiet, self._first + self.max_delay), self._not_before)
                    if now >= due:
                        batch = (self._full, self._pending)
                        self._full, self._pending, self._first = False, set(), None
                        return batch
                    self._changed.wait(due - now)
                else:
                    self._changed.wait(ALIVE_CHECK)  # idle: asleep but for a look now and then
            return None

    def _check_receiving(self) -> None:
        """Raise WatchingFailed if watchdog's threads have stopped reading events; the caller holds self._changed."""
        observer, failure = self._observer, self._failure
        if failure is None and observer is not None:  # started and not closed (tests may drive run() alone)
            if _identity(self._root) != self._root_identity:
                # The watches follow the folder (its inode), wherever it went: a folder swapped in
                # under its name (`mv corpus old; mv new corpus`) would never be heard.
                failure = RuntimeError(
                    "the folder was moved, replaced or removed; start again to follow the one there now"
                )
            elif observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters):
                return
            else:
                failure = RuntimeError("the thread reading its events ended")
        if failure is None:
            return
        cause = "its folders are nested too deep to follow" if isinstance(failure, RecursionError) else str(failure)
        raise WatchingFailed(f"stopped following {self._root}: {cause}")

    def _retry(self, full: bool, paths: set[str], delay: float) -> None:
        with self._changed:
            self._full = self._full or full
            self._pending |= paths
            self._note_change()
            self._not_before = time.monotonic() + delay

    def _note_change(self) -> None:
        """Record the time of a change; the caller holds self._changed."""
        now = time.monotonic()
        if self._first is None:
            self._first = now
        self._last = now
        self._changed.notify_all()

    def _relative(self, abspath: str, is_directory: bool) -> str | None:
        """Return the corpus path of `abspath`, or None for what is never indexed."""
        abspath = os.path.abspath(abspath)
        if abspath == self._index_root or abspath.startswith(self._index_root + os.sep):
            return None  # an index inside the corpus: its own commits are not changes
        relative = os.path.relpath(abspath, self._root)
        if relative == os.curdir:
            return ""
        if relative.startswith(os.pardir):
            return None
        parts = relative.split(os.sep)
        # Hidden files and folders, and scratch files (a folder may have a scratch-like name).
        if any(part.startswith(".") for part in parts) or (not is_directory and documents.is_scratch(parts[-1])):
            return None
        return "/".join(parts)


def _identity(path: str) -> tuple[int, int] | None:
    """Return the device and inode of the folder at `path`, or None if there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _stop_observer(observer) -> None:
    observer.stop()
    if observer.ident is not None:  # started (start() may have failed before)
        observer.join()


class _Events(FileSystemEventHandler):
    """Hand the paths each event names to the watcher."""

    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.watcher.changed(os.fsdecode(event.src_path), event.is_directory)
        if event.dest_path:
            self.watcher.changed(os.fsdecode(event.dest_path), event.is_directory)


class _OverflowSignal(logging.Handler):
    """Turn watchdog's "queue overflowed" warning into a full scan: it has no other way to say so."""

    def __init__(self, rescan: Callable[[], None]):
        super().__init__(logging.WARNING)
        self.rescan = rescan

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(OVERFLOW_MESSAGE):
            self.rescan()


def run_until_signalled(watcher: Watcher) -> None:
    """Run `watcher` in this thread until SIGINT or SIGTERM; a second signal stops at once."""
    previous = {}

    def stop(signum, frame):
        if watcher.stopping:
            raise KeyboardInterrupt  # a second Ctrl-C: a killed reindex is safe, the next run completes it
        watcher.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, stop)
    watcher.start()
    try:
        watcher.run()
    finally:
        watcher.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_beside(command: Sequence[str], watcher: Watcher) -> int:
    """Run the web server `command` as a child with `watcher` beside it; return the server's exit code.

    The watcher runs here, once, whatever the number of web workers; SIGINT, SIGTERM and SIGHUP
    are passed on to the server, and the watcher stops when the server exits.
    """
    # Before any thread starts (preexec_fn and threads do not mix).
    server = subprocess.Popen(command, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def forward(signum, frame):
        server.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    thread = None
    failed: list[WatchingFailed] = []

    def watching() -> None:
        try:
            watcher.run()
        except WatchingFailed as failure:  # no server runs unwatched: it stops too, and says why
            failed.append(failure)
            server.terminate()

    try:
        watcher.start()
        thread = threading.Thread(target=watching, name="seedsearch-watch", daemon=True)
        thread.start()
        code = server.wait()
        if failed:
            raise failed[0]
        return code
    except BaseException:
        server.terminate()
        server.wait()
        raise
    finally:
        watcher.stop()
        if thread is not None:
            thread.join(timeout=30)
        watcher.close()
        print("watcher stopped", file=sys.stderr)


def _die_with_parent() -> None:
    """Have the kernel stop the server (SIGTERM) if this process is killed, so no server runs unwatched."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
