"""Reference indexers to compare Seedsearch's indexing speed and index size against.

Both index every file under a folder made by `bench.corpus`, and both time the whole job,
reading the files included:

- `naive_whoosh`: the recipe from Whoosh's quickstart, with nothing tuned;
- `sqlite_fts5`: SQLite's built-in full-text index, a fast C baseline from the standard library.

    python -m bench.baselines CORPUS_DIR [--work DIR] [--only naive_whoosh|sqlite_fts5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def _files(corpus_dir: Path) -> list[Path]:
    # Sorted so both baselines see the same documents in the same order on every run.
    return sorted(p for p in corpus_dir.rglob("*") if p.is_file())


def _read(corpus_dir: Path, files: list[Path]) -> Iterator[tuple[str, str, str]]:
    """Yield (relative path, title, text) for each file, read the naive way."""
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        # Naive: the first line is the title; for HTML that is the doctype and markup, script
        # and style text are indexed as they are. Both baselines do the same, so they compare.
        title = text.split("\n", 1)[0].strip() or path.name
        yield path.relative_to(corpus_dir).as_posix(), title, text


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _result(docs: int, seconds: float, index_bytes: int) -> dict:
    return {
        "docs": docs,
        "seconds": round(seconds, 3),
        "docs_per_s": round(docs / seconds, 1) if seconds else 0.0,
        "index_bytes": index_bytes,
    }


def naive_whoosh(corpus_dir: Path, work_dir: Path) -> dict:
    """Index the corpus with Whoosh's quickstart recipe and return its timing and size."""
    from whoosh.analysis import StemmingAnalyzer
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.index import create_in

    corpus_dir, index_dir = Path(corpus_dir), Path(work_dir) / "naive_whoosh"
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    started = time.perf_counter()
    files = _files(corpus_dir)
    schema = Schema(
        title=TEXT(stored=True),
        path=ID(stored=True, unique=True),
        content=TEXT(analyzer=StemmingAnalyzer()),
    )
    ix = create_in(str(index_dir), schema)
    # Default writer settings on purpose (one process, limitmb=128): this is the untuned baseline.
    writer = ix.writer()
    for rel, title, text in _read(corpus_dir, files):
        writer.add_document(title=title, path=rel, content=text)
    writer.commit()
    seconds = time.perf_counter() - started
    ix.close()
    return _result(len(files), seconds, _dir_bytes(index_dir))


def sqlite_fts5(corpus_dir: Path, work_dir: Path) -> dict:
    """Index the corpus into an SQLite FTS5 table and return its timing and size."""
    corpus_dir, db_path = Path(corpus_dir), Path(work_dir) / "sqlite_fts5.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db_path, db_path.with_name(db_path.name + "-journal")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    files = _files(corpus_dir)
    db = sqlite3.connect(db_path)
    try:
        db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5("
            "path UNINDEXED, title, body, tokenize='porter unicode61 remove_diacritics 2')"
        )
        with db:  # one transaction for every insert
            db.executemany(
                "INSERT INTO docs (path, title, body) VALUES (?, ?, ?)",
                _read(corpus_dir, files),
            )
        with db:
            # Merge the b-tree segments into one, as Whoosh's commit merges its segments.
            db.execute("INSERT INTO docs (docs) VALUES ('optimize')")
    finally:
        db.close()
    seconds = time.perf_counter() - started
    return _result(len(files), seconds, db_path.stat().st_size)


BASELINES: dict[str, Callable[[Path, Path], dict]] = {
    "naive_whoosh": naive_whoosh,
    "sqlite_fts5": sqlite_fts5,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line: time each baseline and print one JSON line per baseline."""
    parser = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__.split("\n")[0])
    parser.add_argument("corpus_dir", type=Path, metavar="CORPUS_DIR")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="where to build the indexes (default: a temp dir)",
    )
    parser.add_argument(
        "--only",
        choices=sorted(BASELINES),
        action="append",
        help="run just this baseline",
    )
    args = parser.parse_args(argv)
    if not args.corpus_dir.is_dir():
        parser.error(f"{args.corpus_dir} is not a directory")
    with tempfile.TemporaryDirectory(prefix="seedsearch-baselines-") as tmp:
        work = args.work or Path(tmp)
        for name in args.only or BASELINES:
            print(
                json.dumps({"baseline": name, **BASELINES[name](args.corpus_dir, work)}),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
