"""Kill the indexer with SIGKILL at random moments and check that nothing is lost.

Each round changes the corpus (edits, deletions, additions; every fourth round is a full
--rebuild), starts `python -m search index` in a child process and kills it with SIGKILL,
either at a random moment after it starts indexing or inside a chosen phase of the Whoosh
writer: while adding documents, while deleting, while merging segments, while writing the
new segment, after writing it but before the new table of contents, while worker processes
write segments of their own, between writing the
table of contents and renaming it into place, and while cleaning up old files. After every
kill it checks that

- no lock is left held: ours (flock) and Whoosh's own write lock are both free;
- the index opens and answers searches;
- the index holds exactly the last committed state or exactly the new one, so no document
  committed before is lost and none is half-written;

and every other round it runs the indexer once more, unkilled, and checks that the index then
matches the corpus exactly. The last round always does.

    python -m bench.killloop [--kills 30] [--docs 400] [--seed 0] [--work DIR]

Prints one JSON summary; exits 1 on any failed check.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from random import Random

from bench.harness import (
    REPO,
    environment,
    expected_state,
    index_state,
    lock_holders,
    probe,
    vocabulary,
    write_corpus,
    write_document,
)
from search import config, indexer, query

STARTED = "KILLLOOP-STARTED"
# Where a child kills itself: the writer's steps, in the order a run goes through them.
PHASES = ("add", "delete", "merge", "flush", "assemble", "workers", "toc", "clean")


# --- the child: the real CLI, with a SIGKILL wired into one phase --------------------------------


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_on_call(owner, name: str, nth: int = 1, after: bool = False, when=lambda *a, **k: True) -> None:
    """Make the nth qualifying call of owner.name SIGKILL this process (before or after it runs)."""
    original = getattr(owner, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        if when(*args, **kwargs):
            calls[0] += 1
            if calls[0] == nth and not after:
                _die()
        result = original(*args, **kwargs)
        if after and calls[0] == nth:
            _die()
        return result

    setattr(owner, name, wrapper)


def arm(phase: str) -> None:
    """Wire a SIGKILL into `phase` ("add:3", "merge:1", "toc", ...; "none" for none)."""
    from whoosh import index as whoosh_index
    from whoosh.filedb.filestore import FileStorage
    from whoosh.writing import SegmentWriter

    from search.writing import BufferedSegmentWriter

    name, _, count = phase.partition(":")
    nth = int(count or 1)
    if name == "add":
        _kill_on_call(BufferedSegmentWriter, "add_document", nth)
    elif name == "delete":
        _kill_on_call(SegmentWriter, "delete_document", nth)
    elif name == "merge":  # the merge policy copies each small segment in with add_reader
        _kill_on_call(SegmentWriter, "add_reader", nth)
    elif name == "flush":  # postings half-written to the new segment's files
        _kill_on_call(BufferedSegmentWriter, "_flush_segment", nth)
    elif name == "assemble":  # the new segment complete on disk, no table of contents names it
        _kill_on_call(SegmentWriter, "_finalize_segment", nth, after=True)
    elif name == "workers":  # worker processes writing segments, reported back or not yet
        indexer.PARALLEL_MIN_FILES = indexer.PARALLEL_MIN_FILES_PER_PROC = 1
        parallel = indexer._index_parallel

        def dies_on_first_report(index_dir, jobs, procs, method, language, on_files, *rest):
            return parallel(index_dir, jobs, max(2, procs), method, language, lambda outcomes: _die(), *rest)

        indexer._index_parallel = dies_on_first_report
    elif name == "toc":  # the new table of contents written to its temporary name only
        _kill_on_call(FileStorage, "rename_file", nth, when=lambda self, frm, *a, **k: ".toc." in frm)
    elif name == "clean":  # committed; the previous generation's files not yet deleted
        _kill_on_call(whoosh_index, "clean_files", nth)
    elif name != "none":
        raise ValueError(f"unknown phase {phase!r}")


def child(phase: str, argv: list[str]) -> int:
    """Run the CLI with `phase` armed; say on stderr when indexing starts."""
    from search import cli

    arm(phase)
    reindex = indexer.reindex

    def announced(*args, **kwargs):
        print(STARTED, file=sys.stderr, flush=True)
        return reindex(*args, **kwargs)

    indexer.reindex = announced
    return cli.main(argv)


# --- the parent -----------------------------------------------------------------------------------


class Round:
    def __init__(self, number: int, phase: str, rebuild: bool):
        self.number, self.phase, self.rebuild = number, phase, rebuild
        self.killed = False
        self.seconds = 0.0
        self.state = ""  # "previous" or "new": which committed state the index held after the kill
        self.problems: list[str] = []


def _start(phase: str, rebuild: bool, env: dict) -> subprocess.Popen:
    args = ["index", "--json"] + (["--rebuild"] if rebuild else [])
    return subprocess.Popen(
        [sys.executable, "-m", "bench.killloop", "--child", phase, "--", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_child(phase: str, rebuild: bool, env: dict, delay: float | None) -> tuple[int, float, str]:
    """Run one child; with `delay`, SIGKILL it that long after it starts indexing. Return (code, s, stderr)."""
    process = _start(phase, rebuild, env)
    started = threading.Event()
    lines: list[str] = []

    def read_stderr():
        for line in process.stderr:
            lines.append(line)
            if line.strip() == STARTED:
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    began = None
    if started.wait(120):
        began = time.monotonic()
        if delay is not None:
            try:
                process.wait(delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
    # Not communicate(): it reads stderr too, and closed it under the reader thread ("I/O
    # operation on closed file"). stdout (the JSON summary, unused) is drained so the child never blocks.
    process.stdout.read()
    process.wait(timeout=600)
    reader.join(10)
    process.stdout.close()
    process.stderr.close()
    return process.returncode, time.monotonic() - (began or time.monotonic()), "".join(lines)


def _locks_free(index_dir: Path) -> list[str]:
    problems = []
    if lock_holders(index_dir):
        problems.append(f"writer lock still held by {lock_holders(index_dir)}")
    try:
        with indexer.writer_lock(index_dir):
            pass
    except indexer.IndexBusy:
        problems.append("writer lock busy after the kill")
    lock = indexer.open_index(index_dir).lock("WRITELOCK")
    if lock.acquire(blocking=False):
        lock.release()
    else:
        problems.append("Whoosh's write lock busy after the kill")
    return problems


def stray_files(index_dir: Path) -> list[str]:
    """Return files in the index folder that the committed index does not use."""
    ix = indexer.open_index(index_dir)
    with ix.reader() as reader:
        live = {leaf.segment().segment_id() for leaf, _ in reader.leaf_readers()}
    keep = {indexer.LOCK_NAME, f"{indexer.INDEX_NAME}_WRITELOCK", f"_{indexer.INDEX_NAME}_{ix.latest_generation()}.toc"}
    return sorted(
        name
        for name in os.listdir(index_dir)
        # A segment's files are its id, a dot, then an extension (a column's holds its name).
        if name not in keep and name.split(".", 1)[0] not in live and not name.endswith(".tmp")
    )


def _searchable(index_dir: Path, state: dict[str, str], numbers: dict[str, int], common: str) -> list[str]:
    settings = config.load({}, environ={})
    searchers = query.Searchers(index_dir)
    problems = []
    for path in sorted(state)[:: max(1, len(state) // 5)]:
        found = query.search(searchers, query.SearchRequest(q=probe(numbers[path])), settings)
        if [hit.path for hit in found.hits] != [path]:
            problems.append(f"{probe(numbers[path])} should find {path}, found {[h.path for h in found.hits]}")
    if state and query.search(searchers, query.SearchRequest(q=common), settings).total == 0:
        problems.append(f"common word {common!r} found nothing")
    return problems


def _merge_due(index_dir: Path) -> bool:
    """Return whether the next commit will merge segments (the rule of whoosh.writing.MERGE_SMALL)."""
    from whoosh.writing import fib

    with indexer.open_index(index_dir).reader() as reader:
        sizes = sorted(leaf.doc_count_all() for leaf, _ in reader.leaf_readers())
    total = 0
    for i, size in enumerate(sizes):
        total += size
        if i > 3 and total < fib(i + 5):
            return True
    return False


def _change_corpus(
    corpus: Path, rng: Random, live: dict[int, str], versions: dict[int, int], next_number: int, small: bool
) -> int:
    """Edit, delete and add a few documents (sometimes a burst of additions); return the next number."""
    numbers = sorted(live)
    for number in rng.sample(numbers, 1 if small else min(len(numbers), rng.randint(1, 4))):
        versions[number] = versions.get(number, 0) + 1
        write_document(corpus, number, versions[number])
    if small:
        return next_number
    for number in rng.sample(sorted(live), min(len(live) - 1, rng.randint(0, 3))):
        (corpus / live.pop(number)).unlink()
    for _ in range(rng.choice((1, 2, 3, 30))):
        live[next_number] = write_document(corpus, next_number)
        next_number += 1
    return next_number


def run(
    work: Path, kills: int = 30, docs: int = 400, seed: int = 0, schedule: Sequence[str] | None = None, log=None
) -> dict:
    """Deliver `kills` SIGKILLs in `work`, cycling through `schedule` (phases and "random"); return the figures."""
    say = log or (lambda message: None)
    rng = Random(seed)
    corpus, index_dir = work / "corpus", work / "index"
    env = environment(corpus, index_dir)
    live = write_corpus(corpus, docs)
    versions: dict[int, int] = {}
    next_number = docs
    say(f"indexing {docs} documents")
    indexer.reindex(corpus, index_dir)
    common = vocabulary(0)[0]
    durations = {True: 5.0, False: 1.0}  # seconds a run takes after it starts indexing, refined as we go
    rounds: list[Round] = []
    attempts = 0
    max_files = 0
    # Every phase in turn, with random moments between; a phase a run did not reach
    # (no merge was due, say) is tried again in the next round.
    schedule = list(schedule or [kind for phase in PHASES for kind in (phase, "random")])
    while sum(r.killed for r in rounds) < kills and attempts < 4 * kills:
        attempts += 1
        kind = schedule[0]
        # A rebuild clears the old segments instead of merging them, so merges need updates.
        rebuild = attempts % 4 == 0 and kind != "merge"
        if kind == "merge":
            # Whoosh merges small segments only once there are five of them: commit
            # one-document updates until its policy will merge at the next commit.
            for _ in range(10):
                if _merge_due(index_dir):
                    break
                _change_corpus(corpus, rng, live, versions, next_number, small=True)
                indexer.reindex(corpus, index_dir)
        next_number = _change_corpus(corpus, rng, live, versions, next_number, small=kind == "merge")
        previous, target = index_state(index_dir), expected_state(corpus)
        changed = sum(previous.get(p) != h for p, h in target.items()) if not rebuild else len(target)
        if kind == "random":
            phase, delay = "none", rng.uniform(0, 1.2 * durations[rebuild])
        else:
            nth = rng.randint(1, max(1, changed)) if kind in ("add", "delete") else 1
            phase, delay = (f"{kind}:{nth}" if kind in ("add", "delete", "merge") else kind), None
        code, seconds, stderr = run_child(phase, rebuild, env, delay)
        this = Round(attempts, f"{kind} ({phase})" if kind == "random" else phase, rebuild)
        this.killed = code == -signal.SIGKILL
        if this.killed or kind == "random":
            schedule = schedule[1:] + schedule[:1]
        this.seconds = round(seconds, 3)
        if not this.killed:
            if code != 0:
                this.problems.append(f"indexer exited {code}: {stderr.strip()[-300:]}")
            durations[rebuild] = max(0.2, seconds)
        this.problems += _locks_free(index_dir)
        state = index_state(index_dir)
        if state == previous:
            this.state = "previous"
        elif state == target:
            this.state = "new"
        else:
            lost = sorted(set(previous) - set(state) - (set(previous) - set(target)))
            this.problems.append(f"index is neither the last commit nor the new one; lost {lost[:5]}")
        numbers = {path: number for number, path in live.items()} | {
            p: int(p.rsplit("-", 1)[1].split(".")[0]) for p in state
        }
        this.problems += _searchable(index_dir, state, numbers, common)
        last = sum(r.killed for r in rounds) + this.killed >= kills
        if attempts % 2 == 0 or last:
            # The next run must not be blocked by the kill and must bring the index in line.
            summary = indexer.reindex(corpus, index_dir)
            if index_state(index_dir) != expected_state(corpus):
                this.problems.append(f"the run after the kill did not converge: {summary.line()}")
            if indexer.reindex(corpus, index_dir).unchanged != len(live):
                this.problems.append("a second run after the kill still found changes")
            if stray_files(index_dir):
                this.problems.append(f"files left behind by the kill: {stray_files(index_dir)}")
        max_files = max(max_files, sum(1 for _ in index_dir.iterdir()))
        rounds.append(this)
        say(
            f"round {this.number:3d} {'rebuild' if rebuild else 'update '} {this.phase:<20} "
            f"{'killed' if this.killed else 'finished'} after {seconds:5.2f} s -> {this.state or '?'}"
            + (f"  PROBLEMS: {this.problems}" if this.problems else "")
        )
    killed = [r for r in rounds if r.killed]
    return {
        "docs_at_start": docs,
        "docs_at_end": len(live),
        "rounds": len(rounds),
        "kills": len(killed),
        "kills_by_phase": {
            phase: sum(1 for r in killed if r.phase.split(":")[0].split(" ")[0] == phase)
            for phase in (*PHASES, "random")
        },
        "kills_during_rebuild": sum(1 for r in killed if r.rebuild),
        "after_kill_index_was": {
            "previous_commit": sum(1 for r in killed if r.state == "previous"),
            "new_commit": sum(1 for r in killed if r.state == "new"),
        },
        "rounds_with_problems": sum(1 for r in rounds if r.problems),
        "problems": [f"round {r.number} ({r.phase}): {p}" for r in rounds for p in r.problems][:20],
        "most_files_in_index_dir": max_files,
        "final_index_matches_corpus": index_state(index_dir) == expected_state(corpus),
    }


def ok(summary: dict) -> bool:
    """Return whether a kill-loop summary shows no failed check."""
    return summary["rounds_with_problems"] == 0 and summary["final_index_matches_corpus"]


def main(argv: list[str] | None = None) -> int:
    """Run the kill loop (or, with --child, one indexer to be killed)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[3:])
    parser = argparse.ArgumentParser(prog="python -m bench.killloop", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=30, help="SIGKILLs to deliver")
    parser.add_argument("--docs", type=int, default=400, help="documents to start with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the corpus and index (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seedsearch-kill-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        summary = run(
            work,
            kills=args.kills,
            docs=args.docs,
            seed=args.seed,
            log=lambda message: print(f"[{time.monotonic() - began:6.1f} s] {message}", file=sys.stderr, flush=True),
        )
    print(json.dumps(summary, indent=2))
    return 0 if ok(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
