"""The command line (thin): python -m search index|search|serve|watch|keys."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from search import config as settings
from search import indexer, keys, watch
from search.errors import QueryError

if TYPE_CHECKING:
    from search.snippets import Snippet

EXIT_OK, EXIT_FATAL, EXIT_USAGE = 0, 1, 2
MAX_PORT = 65535
# C0 and C1 controls: in a file name or a document they could forge output lines or drive the terminal.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Return `text` with control characters shown as escapes (a newline as \\n)."""
    return CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m search", description="Seedsearch: full-text search for a folder of documents."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="index the corpus (incrementally)")
    index.add_argument("--corpus", help="folder of documents (default: $SEEDSEARCH_CORPUS_DIR or seeds/)")
    index.add_argument("--index", help="index folder (default: $SEEDSEARCH_INDEX_DIR or index/)")
    index.add_argument("--rebuild", action="store_true", help="reindex every file from scratch")
    index.add_argument("--json", action="store_true", help="print the summary as JSON")

    find = commands.add_parser("search", help="search the index")
    find.add_argument("query")
    find.add_argument("--limit", type=int, default=10, help="results to show (default 10)")
    find.add_argument("--index", help="index folder (default: $SEEDSEARCH_INDEX_DIR or index/)")
    find.add_argument("--json", action="store_true", help="print the API's JSON")

    serve = commands.add_parser(
        "serve",
        help="run the production web server (gunicorn)",
        description="Serve the web page and the JSON API with gunicorn. The index must exist (run `index` first).",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help=f"TCP port to listen on, 1-{MAX_PORT} (default 8000)")
    serve.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    serve.add_argument(
        "--threads", type=int, default=4, help="threads per worker, each serving one request (default 4)"
    )
    serve.add_argument(
        "--watch",
        action="store_true",
        help="reindex saved, changed and deleted files as they happen ($SEEDSEARCH_WATCH)",
    )

    watching = commands.add_parser("watch", help="keep the index in step with the corpus folder until Ctrl-C")
    watching.add_argument("--corpus", help="folder of documents (default: $SEEDSEARCH_CORPUS_DIR or seeds/)")
    watching.add_argument("--index", help="index folder (default: $SEEDSEARCH_INDEX_DIR or index/)")

    key = commands.add_parser("keys", help="create, list and revoke API keys ($SEEDSEARCH_KEYS_FILE)")
    actions = key.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (once, as the last line)")
    create.add_argument("name")
    create.add_argument("--folders", help="comma-separated folders the key may see (default: all)")
    create.add_argument("--admin", action="store_true", help="the key may also reindex, upload and delete")
    actions.add_parser("list", help="list the keys (never the keys themselves)")
    revoke = actions.add_parser("revoke", help="revoke a key; it stops working at once")
    revoke.add_argument("name")
    return parser


def _usage_problem(args) -> str | None:
    """Return what is wrong with the arguments argparse accepted, or None."""
    # An empty folder or address is no default: `--index ""` was the index/ the server reads.
    for name in ("corpus", "index", "host"):
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            return f"--{name} is empty; leave it out to use the default"
    if args.command == "search" and args.limit < 1:
        return "--limit must be 1 or more"
    if args.command == "serve":
        if ":" in args.host and not _is_ipv6(args.host.strip("[]")):
            return f"--host takes an address without a port ({args.host!r}); give the port with --port"
        if not 1 <= args.port <= MAX_PORT:
            return f"--port must be between 1 and {MAX_PORT}, not {args.port}"
        for name in ("workers", "threads"):
            if getattr(args, name) < 1:
                return f"--{name} must be 1 or more, not {getattr(args, name)}"
    if args.command == "keys" and args.action == "create" and args.folders is not None:
        try:
            folders = keys.normalise_folders(args.folders.split(","))
        except keys.KeysError as problem:
            return str(problem)
        if not folders:  # --folders "$TEAM" with $TEAM unset must not hand out a key that sees everything
            return "--folders names no folder; leave it out for a key that sees every folder"
    return None


def _index(args, config: dict) -> int:
    corpus = args.corpus or config["CORPUS_DIR"]
    index_dir = args.index or config["INDEX_DIR"]
    summary = indexer.reindex(
        corpus,
        index_dir,
        rebuild=args.rebuild,
        max_bytes=settings.max_file_bytes(config),
        default_language=config["DEFAULT_LANGUAGE"],
        progress=sys.stderr.isatty() and not args.json,
        procs=config["INDEX_PROCS"],
    )
    for skip in summary.skipped_files:
        print(f"skipped: {_printable(skip['path'])}: {skip['reason']}", file=sys.stderr)
    for failure in summary.failures:
        print(f"failed: {_printable(failure['path'])}: {failure['reason']}", file=sys.stderr)
    # For a person at a terminal (building the schema to compare costs a no-op reindex ~30 ms).
    if sys.stderr.isatty() and (missing := indexer.fields_missing(index_dir)):
        print(
            f"note: this index was made by an earlier Seedsearch and lacks {len(missing)} field"
            f"{'' if len(missing) == 1 else 's'} ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''});"
            " 'python -m search index --rebuild' adds them",
            file=sys.stderr,
        )
    # With --json, stdout holds the JSON object alone, for a program to read.
    print(summary.line(), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    return EXIT_OK


def _search(args, config: dict) -> int:
    # Imported here: `index`, run after every change, need not load the query and snippet code.
    from search import query, serialize

    if args.index:
        config["INDEX_DIR"] = args.index
    if not 1 <= args.limit <= config["MAX_PER_PAGE"]:
        raise QueryError(f"--limit must be between 1 and {config['MAX_PER_PAGE']}")
    request = query.SearchRequest(q=args.query, per_page=args.limit)
    try:
        result = query.search(query.Searchers(config["INDEX_DIR"]), request, config)
    except QueryError as problem:
        if args.json:  # the API's error too, as /api/search answers it
            print(json.dumps(serialize.error_json("bad_query", str(problem)), ensure_ascii=False))
        raise
    if args.json:
        print(json.dumps(serialize.result_json(result), ensure_ascii=False))
        return EXIT_OK
    print(
        f"{result.total} result{'' if result.total == 1 else 's'} in {result.took_ms:.0f} ms"
        + (f" (relaxed: {result.relaxed})" if result.relaxed else "")
    )
    if result.suggestion:
        print(f"did you mean: {_printable(result.suggestion)}")
    for number, hit in enumerate(result.hits, 1):
        print(f"\n{number}. {_printable(hit.title)}  [{_printable(hit.path)}]  score {hit.score}")
        print("   " + _printable(" ".join(_bracketed(hit.snippet).split())))
    return EXIT_OK


def _bracketed(snippet: Snippet) -> str:
    """Return a snippet's text for the terminal, its matches in [brackets]."""
    parts, cursor = [], 0
    for start, end in snippet.marks:
        parts += [snippet.text[cursor:start], "[", snippet.text[start:end], "]"]
        cursor = end
    parts.append(snippet.text[cursor:])
    return "".join(parts)


def _keys(args, config: dict) -> int:
    store = keys.KeyStore(config["KEYS_FILE"])
    if args.action == "create":
        key, token = store.create(args.name, (args.folders or "").split(","), admin=args.admin)
        for folder in key.folders:
            if not (Path(config["CORPUS_DIR"]) / folder).is_dir():
                print(f"note: {folder!r} is not a folder of {config['CORPUS_DIR']} (yet)", file=sys.stderr)
        print(f"created key {key.name!r}: {_described(key)}")
        print("copy it now; it is not stored and will not be shown again:")
        print(token)
    elif args.action == "list":
        for key in store.entries():
            print(f"{key.name}\t{_described(key)}\tcreated {key.created}")
    else:
        left = store.revoke(args.name)
        print(f"revoked key {args.name!r}")
        if left == 0:
            print("warning: no keys left, so the service is open to anyone who can reach it", file=sys.stderr)
    return EXIT_OK


def _described(key: keys.Key) -> str:
    reach = "folders " + ", ".join(_printable(folder) for folder in key.folders) if key.folders else "all folders"
    return f"{'admin' if key.admin else 'search'}, {reach}"


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _bind_address(host: str, port: int) -> str:
    """Return gunicorn's --bind for `host` and `port` (an IPv6 address in brackets)."""
    host = host.strip("[]")
    return f"[{host}]:{port}" if _is_ipv6(host) else f"{host}:{port}"


def _port_taken(host: str, port: int) -> str | None:
    """Return why `host`:`port` cannot be listened on (in use, no such address), or None if it can."""
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as problem:
        return f"cannot listen on {host}: {problem.strerror}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(address)
        except OSError as problem:
            if problem.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use (another server?); choose another with --port"
            return f"cannot listen on {host} port {port}: {problem.strerror}"
    return None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _serve(args, config: dict) -> int:
    # Said in one line here: gunicorn retries a taken port for 5 s, logging each try, then exits.
    problem = _port_taken(args.host, args.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_FATAL
    if not _loopback(args.host) and not keys.KeyStore(config["KEYS_FILE"]).configured():
        print(
            f"warning: serving on {args.host} with no API key: anyone who can reach port {args.port} reads every "
            "document. Create one with 'python -m search keys create NAME'.",
            file=sys.stderr,
        )
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", _bind_address(args.host, args.port),
        "--workers", str(args.workers),
        "--worker-class", "gthread",
        "--threads", str(args.threads),
        # A reindex over HTTP runs in its request; gthread workers keep heartbeating meanwhile.
        "--timeout", "120",
        # A pasted paragraph (10,000 characters; Cyrillic or CJK are 6-9 bytes each once
        # percent-encoded) is far past gunicorn's 8190-byte cap. 0 lifts the cap; the C parser
        # (gunicorn-h1c, required here so it cannot silently fall back to the unbounded Python
        # one) still bounds a request line at 1 MB, and the app refuses what is over MAX_QUERY_CHARS.
        "--limit-request-line", "0",
        "--http-parser", "fast",
        # gunicorn 27's control socket is one path per user: two servers would share (and the
        # first to stop would delete) it, and nothing here uses it.
        "--no-control-socket",
        "--access-logfile", "-",
        # What the command line cannot set: how long a new connection may hold a thread (idle ones
        # queued every request behind them).
        "--config", "python:search.server_config",
        "search:create_app()",
    ]  # fmt: skip
    # glibc gives each thread a heap of its own; the worker threads' freed numpy temporaries then
    # stay spread over four heaps. One per process held a 100k-document worker ~20 MB lower, at no
    # measured cost (bench/RESULTS.md). A value already set is kept.
    os.environ.setdefault("MALLOC_ARENA_MAX", "1")
    if args.watch or config["WATCH"]:
        indexer.check_folders(config["CORPUS_DIR"], config["INDEX_DIR"])  # not retried every few seconds
        watcher = watch.Watcher(config["CORPUS_DIR"], config["INDEX_DIR"], config, report=_report)
        return watch.serve_beside(command, watcher)
    os.execv(sys.executable, command)
    return EXIT_OK  # not reached


def _watch(args, config: dict) -> int:
    corpus = args.corpus or config["CORPUS_DIR"]
    index_dir = args.index or config["INDEX_DIR"]
    indexer.check_folders(corpus, index_dir)  # before "watching ...", which would not be true
    print(f"watching {_printable(str(corpus))} (Ctrl-C to stop)", file=sys.stderr)
    watch.run_until_signalled(watch.Watcher(corpus, index_dir, config, report=_report))
    print("stopped", file=sys.stderr)
    return EXIT_OK


def _report(summary: indexer.Summary, full: bool) -> None:
    """Print what a watcher's reindex changed (nothing for a run that found no change)."""
    for failure in summary.failures:
        print(f"failed: {_printable(failure['path'])}: {failure['reason']}", file=sys.stderr)
    if full or summary.added or summary.updated or summary.deleted:
        print(("scan: " if full else "") + summary.line(), file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args = _parser().parse_args(argv)
    problem = _usage_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = settings.load()
        handler = {"index": _index, "search": _search, "serve": _serve, "watch": _watch, "keys": _keys}[args.command]
        code = handler(args, config)
        sys.stdout.flush()  # here, so that a closed pipe is caught below and not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`… | head`): what it wanted, it has. Point stdout at
        # /dev/null so the interpreter's last flush cannot complain, and end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except QueryError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except indexer.IndexBusy as busy:
        print(f"error: {busy}", file=sys.stderr)
        return EXIT_FATAL
    except (OSError, ValueError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FATAL
