"""Shared pieces of the reliability tools: a corpus with probe words, the real server, index state.

`bench.soak` (searching through reindexing) and `bench.killloop` (SIGKILL at random moments) use
these, and so do their short versions in the test suite. Every document carries a probe word of
its own (`probe00042x`), so a search for it says exactly whether that document is findable.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from random import Random
from urllib.parse import urlencode

from search import documents, indexer

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token-7f3a"
FUNCTION_WORDS = ("the", "of", "and", "to", "in", "is", "that", "for", "with", "as", "on", "by", "this", "are", "be", "from", "at", "or", "an", "which", "it")  # fmt: skip
SYLLABLES = ("ka", "lo", "mi", "ra", "ne", "su", "to", "va", "ze", "pi", "dor", "vel", "tan", "sim", "ber", "gor", "lin", "mar", "pes", "tor", "ul", "an", "es", "im")  # fmt: skip
# The access log names the worker (pid) that answered each request, for the per-worker checks.
ACCESS_LOG_FORMAT = "%(p)s %(s)s %(m)s %(U)s?%(q)s"


def probe(number: int) -> str:
    """Return the probe word that only document `number` contains."""
    return f"probe{number:05d}x"


@functools.cache
def vocabulary(seed: int = 0, size: int = 1500) -> tuple[str, ...]:
    """Return the corpus vocabulary for `seed`, most frequent word first."""
    rng = Random(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
    return tuple(words)


def document_text(number: int, version: int = 0, seed: int = 0) -> tuple[str, str]:
    """Return (title, body) of document `number`; another `version` is the same document edited."""
    rng = Random(f"{seed}-{number}-{version}")
    words_by_rank = vocabulary(seed)
    # Zipf-like: a few words are everywhere, most are rare, as in real text.
    weights = [1 / (rank + 1) for rank in range(len(words_by_rank))]
    words = rng.choices(words_by_rank, weights, k=rng.randint(40, 400))
    for i in range(0, len(words), 3):
        words[i] = rng.choice(FUNCTION_WORDS)
    words.insert(rng.randrange(len(words)), probe(number))
    sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
    title = " ".join(rng.choices(words_by_rank[:200], k=rng.randint(2, 6))).capitalize()
    return title, " ".join(sentences) + (f" Edition {version}." if version else "")


def write_document(root: Path, number: int, version: int = 0, seed: int = 0) -> str:
    """Write document `number` as text, Markdown or HTML and return its corpus path."""
    title, body = document_text(number, version, seed)
    folder = f"part-{number // 100:03d}"
    kind = number % 3
    if kind == 0:
        path, data = f"{folder}/doc-{number:05d}.txt", f"{title}\n\n{body}\n"
    elif kind == 1:
        path, data = f"{folder}/doc-{number:05d}.md", f"# {title}\n\n{body}\n"
    else:
        path, data = (
            f"{folder}/doc-{number:05d}.html",
            f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>\n",
        )
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(data, encoding="utf-8")
    return path


def write_corpus(root: Path, docs: int, seed: int = 0) -> dict[int, str]:
    """Write documents 0..docs-1 under `root` and return number -> corpus path."""
    return {number: write_document(root, number, seed=seed) for number in range(docs)}


def expected_state(root: Path) -> dict[str, str]:
    """Return corpus path -> content hash of every file the indexer should hold."""
    found = documents.scan(root, 20 * 1024 * 1024)
    return {src.path: documents.content_hash(documents.read_source(src)) for src in found.files}


def index_state(index_dir: Path) -> dict[str, str]:
    """Return corpus path -> content hash of every live document in the committed index."""
    with indexer.open_searcher(indexer.open_index(index_dir), bookkeeping=True) as searcher:
        reader = searcher.reader()
        if reader.doc_count() == 0:
            return {}
        paths, hashes = reader.column_reader("path"), reader.column_reader("hash")
        # The hash column holds the hex digest as ASCII bytes.
        return {paths[docnum]: hashes[docnum].decode("ascii") for docnum in reader.all_doc_ids()}


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(corpus: Path, index_dir: Path, **extra: str) -> dict[str, str]:
    """Return the environment for a Seedsearch process on `corpus` and `index_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDSEARCH_")}
    env.update(
        SEEDSEARCH_CORPUS_DIR=str(corpus),
        SEEDSEARCH_INDEX_DIR=str(index_dir),
        SEEDSEARCH_ADMIN_TOKEN=TOKEN,
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m search ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "search", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """Start `python -m search ARGS` and return the running process (text pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "search", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, seconds: float):
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    def json(self):
        """Return the body parsed as JSON."""
        return json.loads(self.body)


class LiveServer:
    """`python -m search serve` (gunicorn) on a loopback port, for as long as the `with` lasts."""

    def __init__(
        self,
        corpus: Path,
        index_dir: Path,
        log_path: Path,
        workers: int = 2,
        threads: int = 4,
        log_format: str | None = ACCESS_LOG_FORMAT,
        **env: str,
    ):
        """Prepare the server; `log_format` None keeps the product's own access log format."""
        self.port = free_port()
        self.workers = workers
        self.log_path = log_path
        if log_format:
            env["GUNICORN_CMD_ARGS"] = f"--access-logformat '{log_format}'"
        self.env = environment(corpus, index_dir, **env)
        self.command = [
            sys.executable, "-m", "search", "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(workers), "--threads", str(threads),
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LiveServer:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if len(self.booted_workers()) >= self.workers:
                with contextlib.suppress(OSError):
                    if self.get("/healthz").status == 200:
                        return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not come up:\n{self.log()}")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop gunicorn gracefully, or kill its master after 30 s (its workers then exit)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        """Return everything gunicorn and the app have written so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def booted_workers(self) -> list[int]:
        """Return the pids of the workers gunicorn has booted, in order."""
        return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.log())]

    def answered_by(self, marker: str) -> dict[str, int]:
        """Return rid -> worker pid for the logged requests whose query string has rid=<marker>..."""
        found = {}
        for line in self.log().splitlines():
            match = re.match(r"<?(\d+)>? \d{3} \w+ \S*?[?&]rid=(" + re.escape(marker) + r"[\w-]*)", line)
            if match:
                found[match.group(2)] = int(match.group(1))
        return found

    def request(
        self, method: str, path: str, params: dict | None = None, headers: dict | None = None, timeout: float = 60
    ) -> Response:
        """Send one request on a new connection and return the response."""
        url = path + ("?" + urlencode(params) if params else "")
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, url, headers=headers or {})
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        return Response(answer.status, dict(answer.getheaders()), body, time.perf_counter() - started)

    def get(self, path: str, params: dict | None = None, **kwargs) -> Response:
        """GET `path` with query `params`."""
        return self.request("GET", path, params, **kwargs)

    def reindex(self) -> Response:
        """POST /api/reindex with the admin token."""
        return self.request("POST", "/api/reindex", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)

    def raw(self, request_line: bytes, headers: bytes = b"", timeout: float = 30) -> tuple[int, bytes]:
        """Send bytes as they are (no client-side normalising) and return (status, body)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body


def lock_holders(index_dir: Path) -> list[int]:
    """Return the pids holding the writer lock of `index_dir` (Linux /proc/locks), without touching it."""
    try:
        inode = (Path(index_dir) / indexer.LOCK_NAME).stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    holders = []
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters have "->")
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        if int(fields[5].rsplit(":", 1)[1]) == inode:
            holders.append(int(fields[4]))
    return holders


def wait_for(condition, timeout: float, every: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def percentile(values: list[float], share: float) -> float:
    """Return the `share` percentile (0..1) of `values`, or 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
