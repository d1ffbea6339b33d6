"""Search the real server while it reindexes: a full rebuild, then an incremental reindex.

Starts `python -m search serve` (gunicorn, loopback only) on a generated corpus and sends a
bounded stream of searches from several client threads. Meanwhile it runs `python -m search
index --rebuild` in another process, then changes the corpus (edits, deletions, additions) and
runs POST /api/reindex through the server itself. Every search is for a document that exists
before and after, so each must find it. Afterwards every worker must answer from the newest
generation, without a restart.

    python -m bench.soak [--docs 3000] [--requests 5000] [--concurrency 8] [--workers 2] [--work DIR]

Prints one JSON summary; exits 1 if any request failed or came back without its document.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from random import Random

from bench.harness import (
    LiveServer,
    environment,
    expected_state,
    index_state,
    percentile,
    probe,
    run_cli,
    vocabulary,
    write_corpus,
    write_document,
)
from search import indexer


@dataclass
class Sent:
    rid: str
    started: float
    ended: float
    status: int  # 0 when the request itself failed
    problem: str | None  # why the answer is wrong, if it is


def _check(server: LiveServer, rid: str, q: str, want: str | None) -> Sent:
    """Search for `q`; the answer must be a 200 with `want` among the results (or any result)."""
    started = time.monotonic()
    try:
        answer = server.get("/api/search", {"q": q, "rid": rid}, timeout=60)
    except OSError as error:
        return Sent(rid, started, time.monotonic(), 0, f"{type(error).__name__}: {error}")
    ended = time.monotonic()
    if answer.status != 200:
        return Sent(rid, started, ended, answer.status, answer.body[:200].decode("utf-8", "replace"))
    paths = [hit["path"] for hit in answer.json()["results"]]
    if want is not None and want not in paths:
        return Sent(rid, started, ended, 200, f"{q!r}: {want} missing from {paths}")
    if not paths:
        return Sent(rid, started, ended, 200, f"{q!r}: no results")
    return Sent(rid, started, ended, 200, None)


def _overlapping(sent: list[Sent], window: tuple[float, float]) -> list[Sent]:
    return [s for s in sent if s.started < window[1] and s.ended > window[0]]


def run(
    work: Path,
    docs: int = 3000,
    requests: int = 5000,
    concurrency: int = 8,
    workers: int = 2,
    threads: int = 4,
    seed: int = 0,
    log=None,
) -> dict:
    """Run the soak in `work` and return its figures."""
    began = time.monotonic()
    say = (lambda message: log(f"[{time.monotonic() - began:6.1f} s] {message}")) if log else (lambda message: None)
    corpus, index_dir = work / "corpus", work / "index"
    paths = write_corpus(corpus, docs, seed)
    say(f"indexing {docs} documents")
    indexer.reindex(corpus, index_dir)

    rng = Random(seed)
    changes = max(3, docs // 20)
    churn = rng.sample(range(docs), 2 * changes)
    updated, deleted = churn[:changes], churn[changes:]
    added = list(range(docs, docs + changes))
    # Queries whose documents exist before, during and after: every probe of a document
    # that is not deleted (edited ones included), and a few words every document has.
    keep = [n for n in range(docs) if n not in set(deleted)]
    common = vocabulary(seed)[:5]
    pool = [(probe(n), paths[n]) for n in keep] + [(word, None) for word in common]

    sent: list[Sent] = []
    counter = itertools.count()
    reindexing = threading.Event()
    reindexing.set()
    # The stream stops by itself even if a reindex never ends; the cap is far above what a
    # rebuild takes, so that fast searches still overlap the incremental reindex that follows it.
    cap = 100 * requests
    windows: dict[str, tuple[float, float]] = {}
    results: dict = {}
    pickup: list[tuple[str, int, bool]] = []  # (rid, generation seen, new document found)
    generation_after = None

    with LiveServer(corpus, index_dir, work / "server.log", workers=workers, threads=threads) as server:
        booted = server.booted_workers()
        generation_before = server.get("/healthz").json()["generation"]

        def client(number: int) -> None:
            local = Random(f"{seed}-client-{number}")
            while True:
                n = next(counter)
                if n >= cap or (n >= requests and not reindexing.is_set()):
                    return
                q, want = local.choice(pool)
                sent.append(_check(server, f"load-{n}", q, want))

        clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(concurrency)]
        for thread in clients:
            thread.start()
        try:
            # Let the stream settle on every worker before the first reindex starts.
            while len(sent) < min(requests // 10, 200) and any(t.is_alive() for t in clients):
                time.sleep(0.05)

            say("full rebuild in another process (python -m search index --rebuild)")
            started = time.monotonic()
            done = run_cli("index", "--rebuild", "--json", env=environment(corpus, index_dir))
            windows["rebuild"] = (started, time.monotonic())
            results["rebuild"] = (
                json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else done.stderr
            )

            for n in updated:
                write_document(corpus, n, version=1, seed=seed)
            for n in deleted:
                (corpus / paths[n]).unlink()
            for n in added:
                paths[n] = write_document(corpus, n, seed=seed)

            say("incremental reindex through the server (POST /api/reindex)")
            started = time.monotonic()
            answer = server.reindex()
            windows["incremental"] = (started, time.monotonic())
            results["incremental"] = answer.json() if answer.status == 200 else answer.body.decode()

            # Each worker must now answer from the new generation: ask until every one has.
            generation_after = indexer.open_index(index_dir).latest_generation()
            for n in range(400):
                health = server.get("/healthz", {"rid": f"pick-h{n}"}).json()
                found = _check(server, f"pick-s{n}", probe(added[n % len(added)]), paths[added[n % len(added)]])
                pickup.append((f"pick-h{n}", health["generation"], found.problem is None))
                if n % 10 == 9:
                    answered = server.answered_by("pick-h")
                    if {answered.get(rid) for rid, *_ in pickup} >= set(booted):
                        break
        finally:
            reindexing.clear()
            for thread in clients:
                thread.join(120)

        answered = server.answered_by("")
        restarts = server.booted_workers()[len(booted) :]
        server_log = server.log()

    generations = {}
    for rid, generation, found in pickup:
        pid = answered.get(rid)
        generations.setdefault(pid, []).append((generation, found))
    load_by_worker: dict[int, int] = {}
    for s in sent:
        pid = answered.get(s.rid)
        load_by_worker[pid] = load_by_worker.get(pid, 0) + 1
    failed = [s for s in sent if s.status != 200]
    wrong = [s for s in sent if s.status == 200 and s.problem]
    latencies = [1000 * (s.ended - s.started) for s in sent]
    final = index_state(index_dir)
    return {
        "docs": docs,
        "workers": workers,
        "threads_per_worker": threads,
        "concurrency": concurrency,
        "requests": len(sent),
        "failed": len(failed),
        "empty_or_missing": len(wrong),
        "during_rebuild": len(_overlapping(sent, windows["rebuild"])),
        "during_incremental": len(_overlapping(sent, windows["incremental"])),
        "rebuild_seconds": round(windows["rebuild"][1] - windows["rebuild"][0], 2),
        "incremental_seconds": round(windows["incremental"][1] - windows["incremental"][0], 2),
        "rebuild": results["rebuild"],
        "incremental": results["incremental"],
        "latency_ms": {
            "p50": round(percentile(latencies, 0.5), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "max": round(max(latencies, default=0.0), 1),
        },
        "requests_by_worker": {str(pid): count for pid, count in load_by_worker.items()},
        "generation_before": generation_before,
        "generation_after": generation_after,
        "workers_on_new_generation": sorted(
            pid
            for pid, seen in generations.items()
            if pid in booted and all(g == generation_after and found for g, found in seen)
        ),
        "booted_workers": booted,
        "worker_restarts": len(restarts),
        "server_errors_logged": server_log.count("Traceback"),
        "index_matches_corpus": final == expected_state(corpus),
        "examples": [s.problem or f"HTTP {s.status}" for s in (failed + wrong)[:5]],
    }


def ok(summary: dict) -> bool:
    """Return whether a soak summary shows no failure of any kind."""
    return (
        summary["failed"] == 0
        and summary["empty_or_missing"] == 0
        and summary["during_rebuild"] > 0
        and summary["during_incremental"] > 0
        and isinstance(summary["rebuild"], dict)
        and isinstance(summary["incremental"], dict)
        and summary["workers_on_new_generation"] == sorted(summary["booted_workers"])
        and summary["worker_restarts"] == 0
        and summary["server_errors_logged"] == 0
        and summary["index_matches_corpus"]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the soak from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=5000, help="searches to send at least")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the corpus, index and log (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seedsearch-soak-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        summary = run(
            work,
            docs=args.docs,
            requests=args.requests,
            concurrency=args.concurrency,
            workers=args.workers,
            threads=args.threads,
            seed=args.seed,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
    print(json.dumps(summary, indent=2))
    return 0 if ok(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
