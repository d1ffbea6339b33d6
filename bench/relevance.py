"""Relevance benchmark: the product's default search beside plain SQLite FTS5 BM25.

    python -m bench.relevance                      # every collection in ../shared/eval/
    python -m bench.relevance DATASET_DIR [...]    # the named collections only
    python -m bench.relevance --match any DATASET_DIR

Each DATASET_DIR holds corpus.jsonl ({"id","title","text"}), queries.jsonl ({"id","text"})
and qrels.tsv (query-id, corpus-id, score; with a header). The corpus is indexed with the
product's own schema, analyzers and document fields into a temporary index, and every query
runs through the function the API calls, with the API's defaults (the default match mode,
the default query length limit), only with a deeper page for Recall@100 and MAP.

Beside it, in the same run, the same corpus goes into an SQLite FTS5 table (porter
tokenizer, title weighted 2) and each query is asked as any of its words, ranked by FTS5's
`bm25()`: plain BM25, the baseline a search service must beat. nDCG uses the graded scores as
linear gains, as trec_eval does. The last line printed is one JSON object: with one collection,
its figures (`ndcg@10`, ...); with several, {"collections": {...}, "mean": {...}}.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from search import config, contract, documents, indexer, query
from search.writing import BufferedSegmentWriter

DEPTH = 1000  # documents retrieved per query, for MAP and recall
EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")
FTS_WORD = re.compile(r"\w+")


def load_dataset(root: Path) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """Return the corpus, the queries and the qrels of a dataset folder.

    The ids may be `id` (../shared/eval) or `_id` (BEIR as downloaded), and the judgements
    `qrels.tsv` or BEIR's `qrels/test.tsv`.
    """
    with open(root / "corpus.jsonl", encoding="utf-8") as lines:
        corpus = [_with_id(json.loads(line)) for line in lines if line.strip()]
    with open(root / "queries.jsonl", encoding="utf-8") as lines:
        queries = {q["id"]: q["text"] for q in map(_with_id, map(json.loads, filter(str.strip, lines)))}
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_file(root), encoding="utf-8") as rows:
        reader = csv.reader(rows, delimiter="\t")
        next(reader)
        for qid, docid, score in reader:
            qrels.setdefault(str(qid), {})[str(docid)] = int(float(score))
    return corpus, queries, qrels


def qrels_file(root: Path) -> Path:
    """Return a dataset's judgements: qrels.tsv, or BEIR's qrels/test.tsv."""
    return root / "qrels.tsv" if (root / "qrels.tsv").is_file() else root / "qrels" / "test.tsv"


def _with_id(record: dict) -> dict:
    return record | {"id": str(record["id"] if "id" in record else record["_id"])}


def build_index(corpus: list[dict], index_dir: Path) -> None:
    """Index the corpus with the product's schema and document fields."""
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    with indexer.writer_lock(index_dir):
        _add(indexer.open_index_unlocked(index_dir), corpus)


def _add(ix, corpus: list[dict]) -> None:
    # The indexer's own writer: document_fields' values are what it takes (a field of several texts
    # is a tuple, which Whoosh's SegmentWriter would read as tokens already split).
    with BufferedSegmentWriter(ix, limitmb=256) as writer:
        for record in corpus:
            text = record.get("text") or ""
            title = record.get("title") or ""
            if not (title.strip() or text.strip()):
                continue  # the product never indexes an empty document either
            doc = documents.Document(
                path=str(record["id"]), title=title, text=text, type="text",
                size=len(text.encode()), mtime_ns=0, sha256="",
            )  # fmt: skip
            writer.add_document(**indexer.document_fields(doc))


def seedsearch_ranker(corpus: list[dict], work: Path, match: str | None) -> Callable[[str], list[str]]:
    """Index the corpus and return a function ranking dataset ids as /api/search would."""
    build_index(corpus, work)
    settings = config.load({"MAX_PER_PAGE": DEPTH, "MAX_RESULTS_WINDOW": DEPTH}, environ={})
    searchers = query.Searchers(work)

    def rank(text: str) -> list[str]:
        args = {"q": text, "per_page": str(DEPTH)}
        if match:
            args["match"] = match
        request = query.parse_request(args)
        result = query.search(searchers, replace_highlight(request), settings)
        return [hit.path for hit in result.hits]

    return rank


def replace_highlight(request: query.SearchRequest) -> query.SearchRequest:
    """Return the request without snippets: the ranking is the same, and 1,000 snippets are slow."""
    from dataclasses import replace

    return replace(request, highlight=False)


def fts5_ranker(corpus: list[dict], work: Path) -> Callable[[str], list[str]]:
    """Index the corpus into SQLite FTS5 and return a function ranking ids by plain BM25 over any word."""
    db = sqlite3.connect(work / "fts5.db")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, text, tokenize='porter unicode61')")
    with db:
        db.executemany(
            "INSERT INTO docs (id, title, text) VALUES (?, ?, ?)",
            ((str(r["id"]), r.get("title") or "", r.get("text") or "") for r in corpus),
        )

    def rank(text: str) -> list[str]:
        words = FTS_WORD.findall(text.lower())  # repeated words count again, as FTS5 weighs them
        if not words:
            return []
        match = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
        rows = db.execute(
            "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 0.0, 2.0, 1.0) LIMIT ?", (match, DEPTH)
        )
        return [row[0] for row in rows]

    return rank


def ndcg(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Return nDCG@k with linear gains."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Return the share of relevant documents in the top k."""
    wanted = {doc for doc, score in relevant.items() if score > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Return the reciprocal rank of the first relevant document in the top k."""
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def average_precision(ranked: list[str], relevant: dict[str, int]) -> float:
    """Return average precision over the whole ranking (binary relevance)."""
    wanted = {doc for doc, score in relevant.items() if score > 0}
    hits, total = 0, 0.0
    for i, doc in enumerate(ranked):
        if doc in wanted:
            hits += 1
            total += hits / (i + 1)
    return total / len(wanted) if wanted else 0.0


def score(rank: Callable[[str], list[str]], queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict:
    """Run every judged query through `rank` and return the mean metrics."""
    totals = dict.fromkeys(METRICS, 0.0)
    judged = [qid for qid in queries if qid in qrels]
    rejected = 0
    started = time.perf_counter()
    for qid in judged:
        try:
            ranked = rank(queries[qid])
        except query.QueryError as problem:
            rejected += 1
            print(f"query {qid} rejected: {problem}", file=sys.stderr)
            ranked = []
        totals["ndcg@10"] += ndcg(ranked, qrels[qid], 10)
        totals["recall@100"] += recall(ranked, qrels[qid], 100)
        totals["mrr@10"] += mrr(ranked, qrels[qid], 10)
        totals["map"] += average_precision(ranked, qrels[qid])
    n = max(1, len(judged))
    figures = {name: round(value / n, 4) for name, value in totals.items()}
    figures.update(queries=len(judged), rejected=rejected, search_seconds=round(time.perf_counter() - started, 2))
    return figures


def evaluate(dataset: Path, match: str | None = None) -> dict:
    """Index one dataset both ways, run its judged queries and return both sets of figures."""
    corpus, queries, qrels = load_dataset(dataset)
    with tempfile.TemporaryDirectory(prefix="seedsearch-relevance-") as tmp:
        started = time.perf_counter()
        ours = seedsearch_ranker(corpus, Path(tmp) / "index", match)
        indexed = time.perf_counter() - started
        figures = score(ours, queries, qrels)
        figures.update(docs=len(corpus), index_seconds=round(indexed, 2))
        figures["fts5"] = score(fts5_ranker(corpus, Path(tmp)), queries, qrels)
    return figures


def _row(name: str, ours: dict, fts: dict) -> str:
    cells = [f"{ours[m]:.4f} {fts[m]:.4f} {ours[m] - fts[m]:+.4f}" for m in ("ndcg@10", "recall@100", "mrr@10")]
    return f"{name:<11} " + "   ".join(cells)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures, the last line as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.relevance", description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path, nargs="*", help=f"dataset folders (default: every one in {EVAL_DIR})")
    parser.add_argument("--match", choices=contract.MATCHES, help="match mode (default: the API's default)")
    args = parser.parse_args(argv)
    if not args.datasets and not EVAL_DIR.is_dir():
        print(f"error: no datasets given and no {EVAL_DIR}: name the dataset folders", file=sys.stderr)
        return 1
    datasets = args.datasets or sorted(p for p in EVAL_DIR.iterdir() if (p / "corpus.jsonl").is_file())
    for dataset in datasets:
        missing = [p.name for p in (dataset / "corpus.jsonl", dataset / "queries.jsonl") if not p.is_file()]
        if not qrels_file(dataset).is_file():
            missing.append("qrels.tsv")
        if missing:
            print(f"error: {dataset} has no {' or '.join(missing)}", file=sys.stderr)
            return 1
    results = {}
    print("collection  nDCG@10 seedsearch fts5 diff   R@100 seedsearch fts5 diff    MRR@10 seedsearch fts5 diff")
    for dataset in datasets:
        figures = results[dataset.name] = evaluate(dataset, args.match)
        line = _row(dataset.name, figures, figures["fts5"])
        print(f"{line}   ({figures['docs']} docs, {figures['queries']} queries, {figures['rejected']} rejected)")
    mean = {m: round(sum(f[m] for f in results.values()) / len(results), 4) for m in METRICS}
    mean["fts5"] = {m: round(sum(f["fts5"][m] for f in results.values()) / len(results), 4) for m in METRICS}
    if len(results) > 1:
        print(_row("mean", mean, mean["fts5"]))
        print(json.dumps({"collections": results, "mean": mean}))
    else:
        print(json.dumps(next(iter(results.values()))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
