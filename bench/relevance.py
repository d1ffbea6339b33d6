"""Relevance benchmark: nDCG@10, Recall@100, MRR@10 and MAP on a BEIR-style dataset.

    python -m bench.relevance DATASET_DIR [--k 10]

DATASET_DIR holds corpus.jsonl ({"id","title","text"}), queries.jsonl ({"id","text"})
and qrels.tsv (query-id, corpus-id, score; with a header). The corpus is indexed
with the product's own schema, analyzers and document fields into a temporary
index; every query runs through the product's own search function (any-word
match, BM25F ranking). nDCG uses the graded scores as linear gains, as trec_eval does.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from search import config, documents, indexer, query

DEPTH = 1000  # documents retrieved per query, for MAP and recall


def load_dataset(root: Path) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """Return the corpus, the queries and the qrels of a dataset folder."""
    with open(root / "corpus.jsonl", encoding="utf-8") as lines:
        corpus = [json.loads(line) for line in lines if line.strip()]
    with open(root / "queries.jsonl", encoding="utf-8") as lines:
        queries = {str(q["id"]): q["text"] for q in map(json.loads, filter(str.strip, lines))}
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels.tsv", encoding="utf-8") as rows:
        reader = csv.reader(rows, delimiter="\t")
        next(reader)
        for qid, docid, score in reader:
            qrels.setdefault(qid, {})[docid] = int(float(score))
    return corpus, queries, qrels


def build_index(corpus: list[dict], index_dir: Path) -> None:
    """Index the corpus with the product's schema and document fields."""
    ix = indexer.open_index(index_dir)
    with ix.writer(limitmb=256) as writer:
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


def rank(searchers: query.Searchers, text: str, settings: dict) -> list[str]:
    """Return the dataset ids of the top documents for a natural-language query."""
    request = query.SearchRequest(q=text, per_page=DEPTH, match="any", highlight=False)
    result = query.search(searchers, request, settings)
    return [hit.path for hit in result.hits]


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


def evaluate(dataset: Path, k: int = 10) -> dict:
    """Index the dataset, run its judged queries and return the mean metrics."""
    corpus, queries, qrels = load_dataset(dataset)
    settings = config.load({"MAX_PER_PAGE": DEPTH, "MAX_RESULTS_WINDOW": DEPTH, "MAX_QUERY_CHARS": 10_000}, environ={})
    with tempfile.TemporaryDirectory(prefix="seedsearch-relevance-") as tmp:
        started = time.perf_counter()
        build_index(corpus, Path(tmp))
        indexed = time.perf_counter() - started
        searchers = query.Searchers(tmp)
        totals = {f"ndcg@{k}": 0.0, "recall@100": 0.0, f"mrr@{k}": 0.0, "map": 0.0}
        judged = [qid for qid in queries if qid in qrels]
        failed = 0
        started = time.perf_counter()
        for qid in judged:
            try:
                ranked = rank(searchers, queries[qid], settings)
            except query.QueryError as problem:
                failed += 1
                print(f"query {qid} rejected: {problem}", file=sys.stderr)
                ranked = []
            totals[f"ndcg@{k}"] += ndcg(ranked, qrels[qid], k)
            totals["recall@100"] += recall(ranked, qrels[qid], 100)
            totals[f"mrr@{k}"] += mrr(ranked, qrels[qid], k)
            totals["map"] += average_precision(ranked, qrels[qid])
        searched = time.perf_counter() - started
    n = max(1, len(judged))
    figures = {name: round(value / n, 4) for name, value in totals.items()}
    figures.update(queries=len(judged), docs=len(corpus), rejected=failed)
    figures.update(index_seconds=round(indexed, 2), search_seconds=round(searched, 2))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures, the last line as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.relevance", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="folder with corpus.jsonl, queries.jsonl, qrels.tsv")
    parser.add_argument("--k", type=int, default=10, help="cut-off for nDCG and MRR (default 10)")
    args = parser.parse_args(argv)
    if not (args.dataset / "corpus.jsonl").is_file():
        print(f"error: {args.dataset} has no corpus.jsonl", file=sys.stderr)
        return 1
    figures = evaluate(args.dataset, args.k)
    print(f"dataset      {args.dataset}")
    print(f"documents    {figures['docs']}  queries {figures['queries']}  rejected {figures['rejected']}")
    for name in (f"ndcg@{args.k}", "recall@100", f"mrr@{args.k}", "map"):
        print(f"{name:<12} {figures[name]:.4f}")
    print(f"time         index {figures['index_seconds']} s, search {figures['search_seconds']} s")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
