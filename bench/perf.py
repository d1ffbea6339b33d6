"""Measure Seedsearch's indexing and search speed side by side with reference points, in one run.

    python -m bench.perf [--quick] [--sizes 10000,100000] [--work DIR] [--keep] [--array-cache-mb N]
    python -m bench.perf --sizes 100000 --work DIR --search-only   # search alone, on an earlier run's index

Everything is measured in this one run and reported as ratios, because on a shared machine
absolute figures drift from minute to minute:

1. corpora of 10k and 100k documents from `bench.corpus` (seed 0); `--quick` stops at 10k;
2. the naive Whoosh recipe and SQLite FTS5 (`bench.baselines`) on a fixed sample, the 10k
   corpus (5k with `--quick`), compared by documents per second: the naive recipe needs over
   ten minutes for 100k documents on its own;
3. at each size, Seedsearch's full index (`python -m search index`, a fresh index, default
   settings), a no-op reindex, and a reindex after changing 1% of the files;
4. at each size, the production server (`python -m search serve`, its default workers and
   threads), loaded from a second process at a bounded concurrency by a query mix on
   /api/search (bench/mix.py: fixed for Cranfield, derived from another --source) and by
   /livez, the web stack's floor, in alternating rounds; latency percentiles and requests/s
   for each, the server's CPU time per request and how many cores it kept busy (at a
   concurrency above the core count, a CPU-bound server's latency is mostly waiting for a
   core), then the server's RSS (master + workers). The search
   is measured twice: with the result cache off, so every request runs the query, and with
   the default settings, where repeats of the mix are served from the cache;
5. at each size, before the server, the same mix in this process one query at a time, ten hits
   with snippets: Seedsearch (`search.query.search`, no result cache) beside SQLite FTS5 on the
   same documents (MATCH of the query's words, ORDER BY bm25 LIMIT 10, snippet()), as p50/p99
   and Seedsearch's ratio to FTS5, then how much of the per-process array cache the mix filled
   (`--array-cache-mb` sizes that cache here and in the server's workers).

Prints a table, then one JSON object with every figure as the last line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from bench import baselines
from bench.corpus import DEFAULT_SOURCE, generate, load_sentences
from bench.mix import CRANFIELD_MIX, derive

REPO = Path(__file__).resolve().parent.parent

TRIVIAL_PATH = "/livez"
WARM_CONNECTIONS = 16
WARM_REPEAT = 16
CHANGED_FRACTION = 0.01


# -- small helpers -------------------------------------------------------------------------------


def query_mix(source: Path) -> dict[str, list[str]]:
    """Return the queries to time, by kind: the fixed Cranfield mix for the default source, else one derived from `source`."""
    if source.resolve() == DEFAULT_SOURCE.resolve():
        return CRANFIELD_MIX
    return derive(load_sentences(source)[0])


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- indexing --------------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _baseline(function, corpus: Path, work: Path) -> dict:
    """Run a baseline in this process; add the CPU time it used."""
    folder = work / "baselines"
    cpu = _cpu_seconds()
    result = function(corpus, folder)
    cpu = _cpu_seconds() - cpu
    shutil.rmtree(folder, ignore_errors=True)
    return result | {"cpu_seconds": round(cpu, 2), "docs_per_cpu_s": round(result["docs"] / cpu, 1)}


def _seedsearch_index(corpus: Path, index: Path, env: dict) -> dict:
    """Run the CLI indexer as a user would; return its summary, wall and CPU time, and peak RSS."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "search", "index", "--corpus", str(corpus), "--index", str(index), "--json"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
        # wait4 gives this run's own usage: the CLI plus the worker processes it waited for.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"indexing failed: {stderr.strip()[-2000:]}")
    return {
        "summary": json.loads(stdout.strip().splitlines()[-1]),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # the largest single process, KB on Linux
    }


def _change_files(corpus: Path, fraction: float) -> int:
    """Append a sentence to every 1/fraction-th file (sorted order); return how many changed."""
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    step = max(1, round(1 / fraction))
    changed = 0
    for path in files[::step]:
        with path.open("a", encoding="utf-8") as f:
            f.write("\nAn appended sentence about the perf benchmark's incremental reindex.\n")
        changed += 1
    return changed


def measure_indexing(corpus: Path, index: Path, env: dict) -> dict:
    """Full index, no-op reindex and a 1% change, each through the CLI."""
    shutil.rmtree(index, ignore_errors=True)
    full = _seedsearch_index(corpus, index, env)
    docs = full["summary"]["added"]
    noop = _seedsearch_index(corpus, index, env)
    changed = _change_files(corpus, CHANGED_FRACTION)
    change = _seedsearch_index(corpus, index, env)
    return {
        "docs": docs,
        "full_seconds": full["seconds"],
        "docs_per_s": round(docs / full["seconds"], 1),
        "full_cpu_seconds": full["cpu_seconds"],
        "docs_per_cpu_s": round(docs / full["cpu_seconds"], 1),
        "indexer_peak_rss_mb": full["peak_rss_mb"],
        "noop_seconds": noop["seconds"],
        "noop_fraction_of_full": round(noop["seconds"] / full["seconds"], 4),
        "noop_summary": {k: noop["summary"][k] for k in ("added", "updated", "deleted", "unchanged")},
        "changed_files": changed,
        "change_seconds": change["seconds"],
        "change_fraction_of_full": round(change["seconds"] / full["seconds"], 4),
        "change_summary": {k: change["summary"][k] for k in ("added", "updated", "deleted", "unchanged")},
        "index_bytes": _dir_bytes(index),
    }


# -- the load generator (runs in a second process) -----------------------------------------------------


def _load_worker(port: int, paths: list[str], concurrency: int, fresh: bool = False) -> list[tuple[str, float, int]]:
    """Request every path once, `concurrency` at a time over keep-alive connections (`fresh`: each on a new one)."""
    todo = list(enumerate(paths))
    lock = threading.Lock()
    out: list[tuple[str, float, int]] = []
    headers = {"Connection": "close"} if fresh else {}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not todo:
                    break
                _, path = todo.pop()
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
            if fresh or not status:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                out.append((path, elapsed, status))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _load_process(
    port: int, batches: list[list[str]], concurrency: int, results, warm_concurrency: int, pids: list[int]
) -> None:
    """Run each batch in turn (in this separate process); send back (batch, wall, samples, server CPU-s).

    The first batch, the warm-up, goes `warm_concurrency` at a time, each request on a connection
    of its own (see measure_search). The server CPU is what the processes `pids` used while the
    batch ran.
    """
    for number, batch in enumerate(batches):
        cpu = _process_cpu_seconds(pids)
        started = time.perf_counter()
        if number == 0:
            samples = _load_worker(port, batch, warm_concurrency, fresh=True)
        else:
            samples = _load_worker(port, batch, concurrency)
        wall = time.perf_counter() - started
        results.put((number, wall, samples, _process_cpu_seconds(pids) - cpu))
    results.put(None)


def _process_cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) processes `pids` have used so far; 0 for one gone."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    return ticks / os.sysconf("SC_CLK_TCK")


def _run_load(
    port: int, batches: list[list[str]], concurrency: int, warm_concurrency: int | None = None, pids: list[int] = ()
) -> list[tuple[int, float, list, float]]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    warm = warm_concurrency or concurrency
    process = context.Process(target=_load_process, args=(port, batches, concurrency, results, warm, list(pids)))
    process.start()
    out = []
    while (item := results.get()) is not None:
        out.append(item)
    process.join()
    return out


# -- the server ------------------------------------------------------------------------------------------


class Server:
    """`python -m search serve` on a free loopback port, as `make run` starts it."""

    def __init__(self, index: Path, corpus: Path, env: dict):
        self.port = _free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- open as long as the server runs
        self.process = subprocess.Popen(
            [sys.executable, "-m", "search", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO,
            env={**env, "SEEDSEARCH_INDEX_DIR": str(index), "SEEDSEARCH_CORPUS_DIR": str(corpus)},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start")

    def pids(self) -> list[int]:
        """Return the gunicorn master and its workers."""
        pids = [self.process.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.process.pid:
                    pids.append(int(entry))
        return pids

    def rss_mb(self) -> float:
        """Return the summed RSS of the master and workers, in MB."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                pass
        return round(total / 1024, 1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _search_path(q: str) -> str:
    return "/api/search?q=" + quote(q)


def _summarise(samples: list[tuple[str, float, int]], wall: float, server_cpu: float = 0.0) -> dict:
    """Return latency percentiles and requests/s, and the server's CPU per request and cores kept busy."""
    latencies = [s[1] * 1000 for s in samples]
    return {
        "server_cpu_ms_per_request": round(server_cpu / len(samples) * 1000, 2) if samples else 0.0,
        "server_cores_busy": round(server_cpu / wall, 2) if wall else 0.0,
        "requests": len(samples),
        "errors": sum(1 for s in samples if s[2] != 200),
        "p50_ms": round(_percentile(latencies, 50), 2),
        "p95_ms": round(_percentile(latencies, 95), 2),
        "p99_ms": round(_percentile(latencies, 99), 2),
        "requests_per_s": round(len(samples) / wall, 1) if wall else 0.0,
    }


def measure_search(
    index: Path, corpus: Path, env: dict, rounds: int, repeat: int, concurrency: int, kinds: dict[str, list[str]]
) -> dict:
    """Load the server with the query mix (`kinds`: queries by kind) and the trivial endpoint, cache off and on."""
    mix = [q for queries in kinds.values() for q in queries]
    category = {_search_path(q): name for name, queries in kinds.items() for q in queries}
    out: dict = {"concurrency": concurrency}
    for label, cache_entries in (("uncached", "0"), ("default", None)):
        server_env = dict(env)
        if cache_entries is not None:
            server_env["SEEDSEARCH_RESULT_CACHE"] = cache_entries
        server = Server(index, corpus, server_env)
        try:
            rng = random.Random(0)
            # Warm up, not measured: every worker thread opens its searcher, and every worker
            # runs every query (a query new to a worker reads its terms' postings from disk
            # once). Each query is sent WARM_REPEAT times, sixteen at a time, each on a
            # connection of its own, which the kernel hands to a worker at random: a worker
            # misses a query with odds of 1 in 2**16. (Over sixteen keep-alive connections one
            # worker could accept nearly all of them; the other then read its postings in the
            # measured rounds: searches of 200-350 ms in their first half-second.)
            warm = [TRIVIAL_PATH] * 64 + [_search_path(q) for q in mix] * WARM_REPEAT
            batches = [warm]
            for _ in range(rounds):
                trivial = [TRIVIAL_PATH] * (len(mix) * repeat)
                searches = [_search_path(q) for q in mix] * repeat
                rng.shuffle(searches)
                batches += [trivial, searches]
            ran = _run_load(server.port, batches, concurrency, warm_concurrency=WARM_CONNECTIONS, pids=server.pids())
            trivial_samples, search_samples, trivial_wall, search_wall = [], [], 0.0, 0.0
            trivial_cpu, search_cpu = 0.0, 0.0
            for number, wall, samples, cpu in ran[1:]:
                if number % 2:  # odd batches are the trivial endpoint
                    trivial_samples += samples
                    trivial_wall += wall
                    trivial_cpu += cpu
                else:
                    search_samples += samples
                    search_wall += wall
                    search_cpu += cpu
            trivial_stats = _summarise(trivial_samples, trivial_wall, trivial_cpu)
            search_stats = _summarise(search_samples, search_wall, search_cpu)
            by_kind, p99_by_kind = {}, {}
            for name in kinds:
                picked = [s[1] * 1000 for s in search_samples if category.get(s[0]) == name]
                by_kind[name] = round(_percentile(picked, 50), 1)
                p99_by_kind[name] = round(_percentile(picked, 99), 1)
            out[label] = {
                "trivial": trivial_stats,
                "search": search_stats,
                "search_p50_ms_by_kind": by_kind,
                "search_p99_ms_by_kind": p99_by_kind,
                "p50_ratio": _ratio(search_stats["p50_ms"], trivial_stats["p50_ms"]),
                "p95_ratio": _ratio(search_stats["p95_ms"], trivial_stats["p95_ms"]),
                "p99_ratio": _ratio(search_stats["p99_ms"], trivial_stats["p99_ms"]),
                "server_rss_mb": server.rss_mb(),
                "server_processes": len(server.pids()),
            }
        finally:
            server.stop()
    return out


# -- in-process search, Seedsearch beside SQLite FTS5 ----------------------------------------------------


def fts5_match(q: str) -> str:
    """Return the FTS5 MATCH expression for a query of the mix: its words (all of them), phrases, prefixes.

    Words are quoted so that FTS5 never reads one as an operator; `word*` becomes `"word"*`.
    """
    terms = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', q):
        if phrase:
            terms.append(f'"{phrase}"')
        elif word.endswith("*"):
            terms.append(f'"{word.rstrip("*")}"*')
        else:
            terms.append(f'"{word}"')
    return " ".join(terms)


FTS5_SEARCH = (
    "SELECT path, title, snippet(docs, -1, '<mark>', '</mark>', '…', 32) FROM docs"
    " WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 10"
)


def _timed_rounds(
    engines: dict[str, Callable[[str], None]], rounds: int, kinds: dict[str, list[str]]
) -> dict[str, dict[str, list[float]]]:
    """Time the mix in every engine, interleaved; return milliseconds per engine and kind of query.

    Each engine runs the mix twice unmeasured, then `rounds` times in a shuffled order, each
    query in one engine right after the other (which one goes first alternates): on a shared
    machine both then meet the same load, so their ratio holds when absolute times drift.
    """
    mix = [(name, q) for name, queries in kinds.items() for q in queries]
    for run_query in engines.values():
        for _ in range(2):
            for _, q in mix:
                run_query(q)
    rng = random.Random(0)
    out = {engine: {name: [] for name in kinds} for engine in engines}
    turn = 0
    for _ in range(rounds):
        order = list(mix)
        rng.shuffle(order)
        for name, q in order:
            turn += 1
            names = list(engines) if turn % 2 else list(reversed(engines))
            for engine in names:
                started = time.perf_counter()
                engines[engine](q)
                out[engine][name].append((time.perf_counter() - started) * 1000)
    return out


def _latency_stats(by_kind: dict[str, list[float]]) -> dict:
    every = [ms for samples in by_kind.values() for ms in samples]
    return {
        "queries": len(every),
        "p50_ms": round(_percentile(every, 50), 2),
        "p99_ms": round(_percentile(every, 99), 2),
        "by_kind": {
            name: {"p50_ms": round(_percentile(ms, 50), 2), "p99_ms": round(_percentile(ms, 99), 2)}
            for name, ms in by_kind.items()
        },
    }


def measure_inprocess(
    index: Path,
    corpus: Path,
    work: Path,
    rounds: int,
    kinds: dict[str, list[str]],
    array_cache_mb: int | None = None,
) -> dict:
    """Time the mix in this process, one query at a time, in Seedsearch and in SQLite FTS5.

    Seedsearch: `search.query.search`, the function /api/search calls, with the default
    settings and no result cache: ten hits, each with its snippet. FTS5: the same documents
    (`bench.baselines.sqlite_fts5`), each query's words as a MATCH (all of them, phrases and
    prefixes as such), ORDER BY bm25 LIMIT 10, with snippet() for the ten. The two are timed
    query by query in turn (`_timed_rounds`). The array cache starts empty at each size and
    is sized as the server's (`array_cache_mb`, or the default); what it holds after the mix
    is reported: with a cache larger than the mix needs, that is the mix's working set.
    """
    from search import config, evaluate, query  # the tree under test, as the CLI and the server run it

    settings = config.load({}, environ={})
    megabytes = settings["ARRAY_CACHE_MB"] if array_cache_mb is None else array_cache_mb
    evaluate.set_array_cache(0)  # forget the previous size's arrays
    evaluate.set_array_cache(megabytes)
    searchers = query.Searchers(index)  # no result cache: every query is run

    too_slow: list[str] = []

    def seedsearch(q: str) -> None:
        try:
            query.search(searchers, query.parse_request({"q": q}), settings)
        except query.QueryError:
            # Past SEARCH_TIME_LIMIT (the mix has no invalid query): timed as long as it ran, and
            # counted (the two unmeasured passes included), as the server's error statuses are,
            # rather than ending the benchmark.
            too_slow.append(q)

    folder = work / "inprocess-fts5"
    built = baselines.sqlite_fts5(corpus, folder)
    db = sqlite3.connect(folder / "sqlite_fts5.db")

    def fts5(q: str) -> None:
        db.execute(FTS5_SEARCH, (fts5_match(q),)).fetchall()

    try:
        timed = _timed_rounds({"seedsearch": seedsearch, "sqlite_fts5": fts5}, rounds, kinds)
    finally:
        searchers.close()
        db.close()
        shutil.rmtree(folder, ignore_errors=True)
    seed, fts = timed["seedsearch"], timed["sqlite_fts5"]
    seed_stats, fts_stats = _latency_stats(seed), _latency_stats(fts)
    arrays = evaluate.ARRAYS
    seed_stats["errors"] = len(too_slow)
    seed_stats["error_queries"] = sorted(set(too_slow))
    return {
        "rounds": rounds,
        # ResultCache keeps its byte count private; this is the benchmark reading it, not the service.
        "array_cache": {"limit_mb": megabytes, "kept_mb": round(arrays._bytes / 1e6, 1), "entries": len(arrays)},
        "seedsearch": seed_stats,
        "sqlite_fts5": fts_stats | {"index_bytes": built["index_bytes"]},
        "p50_ratio": _ratio(seed_stats["p50_ms"], fts_stats["p50_ms"]),
        "p99_ratio": _ratio(seed_stats["p99_ms"], fts_stats["p99_ms"]),
        "p50_ratio_by_kind": {
            name: _ratio(seed_stats["by_kind"][name]["p50_ms"], fts_stats["by_kind"][name]["p50_ms"]) for name in kinds
        },
    }


# -- the run ---------------------------------------------------------------------------------------------


def run(args) -> dict:
    work = Path(args.work or tempfile.mkdtemp(prefix="seedsearch-perf-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDSEARCH_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if args.array_cache_mb is not None:
        env["SEEDSEARCH_ARRAY_CACHE_MB"] = str(args.array_cache_mb)  # the server's workers, as a user would set it
    report: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}}
    kinds = report["query_mix"] = query_mix(args.source)
    started = time.perf_counter()
    try:
        corpora = {}
        for size in args.sizes:
            corpora[size] = work / f"corpus-{size}"
            _log(f"generating {size} documents")
            generate(corpora[size], size, source=args.source)
        # A copy of its own, since the 1% change edits the others; the same seed makes it
        # the first `sample` documents of each corpus.
        sample = work / f"sample-{args.sample}"
        generate(sample, args.sample, source=args.source)

        _log(f"baselines on the {args.sample}-document sample")
        naive = [_baseline(baselines.naive_whoosh, sample, work)]
        fts5 = _baseline(baselines.sqlite_fts5, sample, work)
        report["sample"] = {"docs": args.sample, "naive_whoosh": naive, "sqlite_fts5": fts5}

        report["sizes"] = {}
        for size in args.sizes:
            _log(f"indexing {size} documents")
            indexing = measure_indexing(corpora[size], work / f"index-{size}", env)
            _log(f"in-process search at {size} documents, Seedsearch and SQLite FTS5")
            inprocess = measure_inprocess(
                work / f"index-{size}", corpora[size], work, args.inprocess_rounds, kinds, args.array_cache_mb
            )
            _log(f"loading the server at {size} documents")
            search = measure_search(
                work / f"index-{size}", corpora[size], env, args.rounds, args.repeat, args.concurrency, kinds
            )
            report["sizes"][str(size)] = {"indexing": indexing, "inprocess": inprocess, "search": search}

        # The naive recipe again at the end: the machine's load drifts, so ratios use the mean.
        _log("the naive recipe again")
        naive.append(_baseline(baselines.naive_whoosh, sample, work))
        naive_rate = sum(run["docs_per_s"] for run in naive) / len(naive)
        naive_cpu_rate = sum(run["docs_per_cpu_s"] for run in naive) / len(naive)
        report["sample"]["naive_whoosh_mean_docs_per_s"] = round(naive_rate, 1)
        for figures in report["sizes"].values():
            ix = figures["indexing"]
            ix["vs_naive_docs_per_s"] = _ratio(ix["docs_per_s"], naive_rate)
            ix["vs_naive_docs_per_cpu_s"] = _ratio(ix["docs_per_cpu_s"], naive_cpu_rate)
            ix["vs_fts5_docs_per_s"] = _ratio(ix["docs_per_s"], fts5["docs_per_s"])
        if len(args.sizes) > 1:
            small, large = (report["sizes"][str(s)]["search"] for s in (args.sizes[0], args.sizes[-1]))
            report["p50_growth"] = {
                label: _ratio(large[label]["search"]["p50_ms"], small[label]["search"]["p50_ms"])
                for label in ("uncached", "default")
            }
        report["seconds"] = round(time.perf_counter() - started, 1)
        report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return report


def run_search_only(args) -> dict:
    """Measure search alone (in-process beside FTS5, then the server) on corpora and indexes already built.

    `--work DIR` must hold `corpus-N` and `index-N` for each size (kept by `--keep`, or built with
    `bench.corpus` and `python -m search index`), so that two code trees can be compared on one index.
    """
    work = Path(args.work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDSEARCH_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    report: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}}
    kinds = report["query_mix"] = query_mix(args.source)  # the source the corpora were made from
    started = time.perf_counter()
    report["sizes"] = {}
    for size in args.sizes:
        corpus, index = work / f"corpus-{size}", work / f"index-{size}"
        if not (corpus.is_dir() and index.is_dir()):
            raise SystemExit(f"--search-only needs {corpus} and {index}")
        _log(f"in-process search at {size} documents, Seedsearch and SQLite FTS5")
        inprocess = measure_inprocess(index, corpus, work, args.inprocess_rounds, kinds)
        _log(f"loading the server at {size} documents")
        search = measure_search(index, corpus, env, args.rounds, args.repeat, args.concurrency, kinds)
        report["sizes"][str(size)] = {"inprocess": inprocess, "search": search}
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def print_table(report: dict) -> None:
    if report.get("query_mix") not in (None, CRANFIELD_MIX):
        print("\nQuery mix derived from the source (bench/mix.py):")
        for kind, queries in report["query_mix"].items():
            print(f"  {kind:12} {', '.join(queries)}")
    if "sample" in report:
        _print_baselines(report["sample"])
    for size, figures in report["sizes"].items():
        print(f"\n{int(size):,} documents")
        if "indexing" in figures:
            _print_indexing(figures["indexing"])
        _print_search(figures["inprocess"], figures["search"])
    if "p50_growth" in report:
        growth = report["p50_growth"]
        print(
            f"\nsearch p50 growth {report['sizes'] and list(report['sizes'])[0]} -> {list(report['sizes'])[-1]} docs:"
            f" {growth['uncached']}x uncached, {growth['default']}x default"
        )
    print(
        f"\ntotal {report['seconds']} s; load average {report['machine']['load_avg_at_start']} -> "
        f"{report['machine']['load_avg_at_end']} on {report['machine']['cpus']} CPUs"
    )


def _print_baselines(sample: dict) -> None:
    print(f"\nBaselines, indexing the {sample['docs']:,}-document sample (the first documents of each corpus):")
    runs = [("naive Whoosh, first", sample["naive_whoosh"][0]), ("naive Whoosh, last", sample["naive_whoosh"][-1])]
    for label, b in [*runs, ("SQLite FTS5", sample["sqlite_fts5"])]:
        print(
            f"  {label:20} {b['seconds']:7.1f} s {b['docs_per_s']:8.1f} docs/s {b['docs_per_cpu_s']:8.1f} docs/CPU-s"
            f"  index {b['index_bytes'] / 1e6:.1f} MB"
        )


def _print_indexing(ix: dict) -> None:
    print(
        f"  full index        {ix['full_seconds']:8.1f} s  {ix['docs_per_s']:8.1f} docs/s"
        f"  = {ix['vs_naive_docs_per_s']}x naive Whoosh (mean of its runs), {ix['vs_fts5_docs_per_s']}x FTS5"
    )
    print(
        f"  CPU time          {ix['full_cpu_seconds']:8.1f} s  {ix['docs_per_cpu_s']:8.1f} docs/CPU-s"
        f" = {ix['vs_naive_docs_per_cpu_s']}x naive Whoosh (all processes)"
    )
    print(f"  no-op reindex     {ix['noop_seconds']:8.2f} s  = {ix['noop_fraction_of_full']:.2%} of full")
    print(
        f"  1% changed        {ix['change_seconds']:8.2f} s  = {ix['change_fraction_of_full']:.2%} of full"
        f"  ({ix['changed_files']} files)"
    )
    print(f"  index size        {ix['index_bytes'] / 1e6:8.1f} MB   indexer peak RSS {ix['indexer_peak_rss_mb']} MB")


def _print_search(ip: dict, se: dict) -> None:
    sp, fp = ip["seedsearch"], ip["sqlite_fts5"]
    print(f"  in-process, one query at a time, ten hits with snippets ({sp['queries']} queries each):")
    print(f"    {'':14} {'p50 ms':>9} {'p99 ms':>9}")
    print(f"    {'Seedsearch':14} {sp['p50_ms']:9.2f} {sp['p99_ms']:9.2f}   ({sp['errors']} calls past the time limit)")
    print(
        f"    {'SQLite FTS5':14} {fp['p50_ms']:9.2f} {fp['p99_ms']:9.2f}   (FTS5 index {fp['index_bytes'] / 1e6:.1f} MB)"
    )
    print(f"    {'ratio':14} {ip['p50_ratio']:9} {ip['p99_ratio']:9}")
    kinds = ", ".join(f"{k} {v['p50_ms']}/{fp['by_kind'][k]['p50_ms']}" for k, v in sp["by_kind"].items())
    print(f"    p50 ms by kind, Seedsearch/FTS5: {kinds}")
    for label in ("uncached", "default"):
        s = se[label]
        t, q = s["trivial"], s["search"]
        print(f"  server, result cache {'off' if label == 'uncached' else 'on (default)'}:")
        print(f"    {'':14} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'req/s':>8}")
        print(f"    {'/livez':14} {t['p50_ms']:9.2f} {t['p95_ms']:9.2f} {t['p99_ms']:9.2f} {t['requests_per_s']:8.1f}")
        print(
            f"    {'/api/search':14} {q['p50_ms']:9.2f} {q['p95_ms']:9.2f} {q['p99_ms']:9.2f}"
            f" {q['requests_per_s']:8.1f}  ({q['requests']} requests, {q['errors']} errors)"
        )
        print(f"    {'ratio':14} {s['p50_ratio']:9} {s['p95_ratio']:9} {s['p99_ratio']:9}")
        print(
            f"    server CPU per request: /livez {t['server_cpu_ms_per_request']} ms,"
            f" /api/search {q['server_cpu_ms_per_request']} ms; cores kept busy: /livez {t['server_cores_busy']},"
            f" /api/search {q['server_cores_busy']} of {os.cpu_count()}"
        )
        kinds = ", ".join(f"{k} {v}" for k, v in s["search_p50_ms_by_kind"].items())
        print(f"    p50 ms by kind: {kinds}")
        kinds = ", ".join(f"{k} {v}" for k, v in s["search_p99_ms_by_kind"].items())
        print(f"    p99 ms by kind: {kinds}")
        print(f"    server RSS {s['server_rss_mb']} MB ({s['server_processes']} processes)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and, as the last line, the JSON figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.perf", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k documents only, 5k-document baseline sample")
    parser.add_argument("--sizes", help="comma-separated corpus sizes (default 10000,100000)")
    parser.add_argument("--sample", type=int, help="documents for the baselines (default 10000; 5000 with --quick)")
    parser.add_argument("--work", help="working folder, kept (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder")
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="only the search figures, on the corpus-N and index-N an earlier run left in --work",
    )
    # 5 x 4 x the 32 queries: 640 searches, so that the p99 is not one or two samples' luck.
    parser.add_argument("--rounds", type=int, default=5, help="alternating load rounds per server (default 5)")
    parser.add_argument("--repeat", type=int, default=4, help="times the query mix is sent per round (default 4)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent client connections (default 4)")
    parser.add_argument(
        "--inprocess-rounds", type=int, default=5, help="times the mix is timed in-process per engine (default 5)"
    )
    parser.add_argument(
        "--array-cache-mb",
        type=int,
        help="per-process array cache, in-process and in the server (SEEDSEARCH_ARRAY_CACHE_MB; default its default)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"JSONL of sentences for the corpora (default {DEFAULT_SOURCE})",
    )
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.error(f"no corpus source at {args.source}; pass --source path/to/cranfield/corpus.jsonl")
    args.sizes = [int(s) for s in (args.sizes or ("10000" if args.quick else "10000,100000")).split(",")]
    args.sample = args.sample or (5000 if args.quick else 10000)
    if args.search_only and not args.work:
        parser.error("--search-only needs --work DIR with the corpora and indexes")
    report = run_search_only(args) if args.search_only else run(args)
    print_table(report)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
