"""Time hostile queries on an index with a large vocabulary: each must be answered within the limit.

Builds (or reuses) an index of generated documents plus one document of random words, so that
wildcards and fuzzy words have a large vocabulary to walk, then sends every query below to
/api/search (in process, through the Flask app) and reports the status and time of each.

    python -m bench.hostile [--docs 2000] [--words 60000] [--per-page 100] [--work DIR]

Prints one JSON object; exits 1 if any answer is a 5xx or takes longer than the time limit
plus a margin for what is not on its clock (parsing, snippets, rendering).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from random import Random

from bench.harness import write_corpus
from search import create_app, indexer

MARGIN = 2.0  # seconds allowed past SEARCH_TIME_LIMIT

QUERIES = {
    "prefix": "a*",
    "suffix": "*a",
    "infix": "*a*",
    "16 infix patterns": " ".join(f"*{c}*" for c in "abcdefghijklmnop"),
    "20 infix patterns": " ".join(f"*{c}*" for c in "abcdefghijklmnopqrst"),
    "35 prefixes": " ".join(f"{a}{b}*" for a in "abcdefg" for b in "aeiou"),
    "40 fuzzy words": " ".join(f"w{n:02d}ord~2" for n in range(40)),
    "16 fuzzy words": " ".join(f"w{n:02d}ord~2" for n in range(16)),
    "55 unknown words": " ".join("".join(Random(n).choice("qxzjvkw") for _ in range(8)) for n in range(55)),
    "200 ORs": " OR ".join(["ka", "lo", "mi", "ra", "ne"] * 40)[:500],
    "phrase of repeats": '"' + " ".join(["kalo", "mira", "nesu"] * 40)[:490] + '"',
    "deep nesting": "(" * 240 + "kalo" + ")" * 240,
    "unbalanced": '"kalo (mira',
    "control characters": "kalo\x00\x01\x1f mira",
    "long fuzzy word": "x" * 498 + "~2",
    "long word": "pressure" * 62,
    "huge edit distance": "kalo~99999999999999999999",
    "unknown field": "nosuchfield:kalo",
    "100 KB": "kalo " * 20_000,
}


def _random_words(count: int, seed: int = 1) -> str:
    rng = Random(seed)
    words = {"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10))) for _ in range(count)}
    return "Vocabulary\n" + " ".join(sorted(words)) + "\n"


def run(work: Path, docs: int = 2000, words: int = 60_000, per_page: int = 100, time_limit: float = 5.0) -> dict:
    """Build or reuse the index in `work`, send every query and return the figures."""
    corpus, index_dir = work / "corpus", work / "index"
    if not indexer.exists(index_dir):
        write_corpus(corpus, docs)
        (corpus / "vocabulary.txt").write_text(_random_words(words), encoding="utf-8")
        indexer.reindex(corpus, index_dir)
    app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "SEARCH_TIME_LIMIT": time_limit})
    client = app.test_client()
    client.get("/api/search?q=warm")
    answers = {}
    for name, q in QUERIES.items():
        started = time.perf_counter()
        response = client.get("/api/search", query_string={"q": q, "per_page": per_page})
        seconds = time.perf_counter() - started
        body = response.get_json()
        answers[name] = {
            "status": response.status_code,
            "ms": round(1000 * seconds),
            "answer": body.get("total") if response.status_code == 200 else body["error"]["message"],
        }
    return {
        "docs": docs,
        "vocabulary_words": words,
        "time_limit_s": time_limit,
        "slowest_ms": max(a["ms"] for a in answers.values()),
        "server_errors": sum(a["status"] >= 500 for a in answers.values()),
        "answers": answers,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the hostile-query timing from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--words", type=int, default=60_000, help="random words in the vocabulary document")
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=5.0)
    parser.add_argument("--work", type=Path, help="folder for the corpus and index; reused if it holds one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="seedsearch-hostile-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        summary = run(work, args.docs, args.words, args.per_page, args.time_limit)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    bad = summary["server_errors"] or summary["slowest_ms"] > 1000 * (args.time_limit + MARGIN)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
