"""The live folder against a running server: how soon a saved file is searchable, a burst, an idle watcher.

Starts `python -m search serve --watch` (gunicorn, loopback only) on a generated corpus in a
temporary folder, then:

- latency: saves files one at a time (new files and edits of existing ones, each with a word of
  its own) and times each from the moment the write is closed to the first /api/search that finds
  it (polled every 20 ms); target p95 <= 2 s;
- burst: writes `--burst` files as fast as it can and times until /api/search counts them all;
  target <= 30 s;
- idle: the watcher's CPU time (utime + stime from /proc/<pid>/stat) over `--idle` quiet seconds;
  target about none;
- restart: SIGKILLs the server, changes the folder while it is down, starts it again and times
  until the index matches the folder.

    python -m bench.watch [--docs 500] [--saves 40] [--burst 500] [--idle 10] [--work DIR]

Prints a table, then one JSON line; exits 1 when a target is missed. Every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import LiveServer, expected_state, index_state, percentile, wait_for, write_corpus
from search import indexer

LATENCY_TARGET_P95 = 2.0
BURST_TARGET = 30.0
IDLE_TARGET = 0.01  # CPU seconds per second: 1% of one core
FIND_TIMEOUT = 30.0
BURST_TIMEOUT = 120.0
CONVERGE_TIMEOUT = 120.0


def _found(server: LiveServer, word: str) -> int:
    """Return how many documents hold `word` itself (not a close spelling the search relaxed to)."""
    answer = server.get("/api/search", {"q": word, "per_page": 1}, timeout=30)
    if answer.status != 200:
        return -1
    body = answer.json()
    return 0 if body.get("relaxed") else body["total"]


def _save(path: Path, text: str) -> float:
    """Write `path` as an editor would (the whole file, closed); return when it was closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return time.monotonic()


def latency(server: LiveServer, corpus: Path, saves: int) -> dict:
    """Save `saves` files one after another; time each until a search finds its word."""
    times, lost = [], 0
    existing = sorted(p for p in corpus.rglob("*.txt"))
    for number in range(saves):
        word = f"saved{number:04d}q"
        if number % 2 == 0 or not existing:
            saved = _save(corpus / "live" / f"note-{number:04d}.txt", f"A note saved live, {word}.\n")
        else:  # an edit of a file the index already holds
            target = existing[number % len(existing)]
            saved = _save(target, target.read_text(encoding="utf-8") + f"\nEdited live: {word}.\n")
        if wait_for(lambda w=word: _found(server, w) == 1, FIND_TIMEOUT, every=0.02):
            times.append(time.monotonic() - saved)
        else:
            lost += 1
        time.sleep(0.2)  # the next save comes after a pause, as a person's would
    return {
        "saves": saves,
        "not_found": lost,
        "p50_s": round(percentile(times, 0.50), 3),
        "p95_s": round(percentile(times, 0.95), 3),
        "max_s": round(max(times, default=0.0), 3),
    }


def burst(server: LiveServer, corpus: Path, files: int) -> dict:
    """Write `files` files at once; time until a search counts every one of them."""
    started = time.monotonic()
    for number in range(files):
        _save(corpus / "burst" / f"{number // 100:02d}" / f"b-{number:04d}.txt", f"Burst file {number}, burstword.\n")
    written = time.monotonic() - started
    found = wait_for(lambda: _found(server, "burstword") == files, BURST_TIMEOUT, every=0.1)
    return {
        "files": files,
        "write_s": round(written, 3),
        "all_searchable_s": round(time.monotonic() - started, 3) if found else None,
        "found": _found(server, "burstword"),
    }


def _cpu_seconds(pid: int) -> float:
    # Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks, counted after the ")"
    # that ends the command name, which may itself hold spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle(pid: int, seconds: float) -> dict:
    """Return the CPU the watcher process used over `seconds` with nothing changing."""
    before, started = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used, elapsed = _cpu_seconds(pid) - before, time.monotonic() - started
    return {"seconds": round(elapsed, 1), "cpu_s": round(used, 3), "cpu_share": round(used / elapsed, 4)}


def restart(server: LiveServer, corpus: Path, index_dir: Path, log_path: Path) -> dict:
    """SIGKILL the server, change the folder while it is down, restart, time until the index matches."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)
    # gunicorn follows its parent down (SIGTERM on the parent's death) and frees the port.
    gone = wait_for(lambda: not _listening(server.port), 30, every=0.1)
    txt = sorted(corpus.rglob("*.txt"))
    for path in txt[:10]:
        path.unlink()
    for path in txt[10:20]:
        path.write_text(path.read_text(encoding="utf-8") + "\nEdited while the server was down.\n", encoding="utf-8")
    for number in range(20):
        _save(corpus / "while-down" / f"d-{number:02d}.txt", f"Written while the server was down, {number}.\n")
    started = time.monotonic()
    with LiveServer(corpus, index_dir, log_path, SEEDSEARCH_WATCH="1") as again:
        up = time.monotonic() - started
        want = expected_state(corpus)
        converged = wait_for(lambda: index_state(index_dir) == want, CONVERGE_TIMEOUT, every=0.2)
        took = time.monotonic() - started
        tracebacks = again.log().count("Traceback")
    return {
        "old_server_gone": gone,
        "server_up_s": round(up, 2),
        "converged_s": round(took, 2) if converged else None,
        "tracebacks": tracebacks,
    }


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(work: Path, docs: int, saves: int, files: int, idle_seconds: float) -> dict:
    """Run every measurement on a fresh corpus in `work`; return the figures."""
    corpus, index_dir = work / "corpus", work / "index"
    write_corpus(corpus, docs)
    indexer.reindex(corpus, index_dir)
    with LiveServer(corpus, index_dir, work / "server.log", SEEDSEARCH_WATCH="1") as server:
        wait_for(lambda: "scan: " in server.log(), 30)  # the watcher's scan on start
        result = {"docs": docs, "workers": server.workers}
        result["latency"] = latency(server, corpus, saves)
        result["burst"] = burst(server, corpus, files)
        time.sleep(2.0)  # let the last batch settle before measuring quiet
        result["idle"] = idle(server.process.pid, idle_seconds)
        result["tracebacks"] = server.log().count("Traceback")
        result["restart"] = restart(server, corpus, index_dir, work / "server-restarted.log")
    return result


def ok(result: dict) -> bool:
    """Return whether every target was met."""
    return (
        result["latency"]["not_found"] == 0
        and result["latency"]["p95_s"] <= LATENCY_TARGET_P95
        and result["burst"]["all_searchable_s"] is not None
        and result["burst"]["all_searchable_s"] <= BURST_TARGET
        and result["idle"]["cpu_share"] <= IDLE_TARGET
        and result["restart"]["old_server_gone"]
        and result["restart"]["converged_s"] is not None
        and result["tracebacks"] == result["restart"]["tracebacks"] == 0
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench.watch", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=500, help="documents in the corpus before it starts")
    parser.add_argument("--saves", type=int, default=40, help="files saved one at a time for the latency")
    parser.add_argument("--burst", type=int, default=500, help="files written at once")
    parser.add_argument("--idle", type=float, default=10.0, help="quiet seconds over which CPU is measured")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args(argv)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        result = run(args.work, args.docs, args.saves, args.burst, args.idle)
    else:
        with tempfile.TemporaryDirectory(prefix="seedsearch-watch-") as work:
            result = run(Path(work), args.docs, args.saves, args.burst, args.idle)
    lat, bur, idl, rst = result["latency"], result["burst"], result["idle"], result["restart"]
    print(
        f"{'saved file searchable':32} p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s, max {lat['max_s']:.2f} s"
        f" over {lat['saves']} saves ({lat['not_found']} not found)   target p95 <= {LATENCY_TARGET_P95:g} s"
    )
    print(
        f"{'burst of files all searchable':32} {bur['files']} files in {bur['all_searchable_s']} s"
        f" (written in {bur['write_s']} s)   target <= {BURST_TARGET:g} s"
    )
    print(
        f"{'idle watcher CPU':32} {idl['cpu_s']} s over {idl['seconds']} s ({idl['cpu_share']:.2%} of a core)"
        f"   target about none (<= {IDLE_TARGET:.0%})"
    )
    print(f"{'killed, changed, restarted':32} index matches the folder {rst['converged_s']} s after the restart"
          f" (server up in {rst['server_up_s']} s)")  # fmt: skip
    print(json.dumps(result))
    return 0 if ok(result) else 1


if __name__ == "__main__":
    sys.exit(main())
