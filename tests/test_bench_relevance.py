"""bench.relevance on tiny collections: both dataset layouts, the figures, and the JSON last line."""

from __future__ import annotations

import json

import pytest

from bench import relevance

DOCUMENTS = [
    ("d1", "Hovercraft", "A hovercraft rides on a cushion of air over water and land."),
    ("d2", "Sailing", "A sailing boat is driven by the wind over water."),
    ("d3", "Bread", "Bread is baked from flour, water and yeast."),
]
QUERIES = [("q1", "hovercraft over water"), ("q2", "baking bread with yeast")]
JUDGED = [("q1", "d1", 2), ("q2", "d3", 1)]


def _write(root, beir: bool):
    key = "_id" if beir else "id"
    root.mkdir()
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as out:
        for doc_id, title, text in DOCUMENTS:
            out.write(json.dumps({key: doc_id, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as out:
        for query_id, text in QUERIES:
            out.write(json.dumps({key: query_id, "text": text}) + "\n")
    qrels = root / "qrels" / "test.tsv" if beir else root / "qrels.tsv"
    qrels.parent.mkdir(exist_ok=True)
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in JUDGED))
    return root


@pytest.mark.parametrize("beir", [False, True], ids=["shared-eval layout", "BEIR layout"])
def test_one_collection_ends_with_its_figures(tmp_path, capsys, beir):
    root = _write(tmp_path / "tiny", beir)
    assert relevance.main([str(root)]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Each query's one judged document is the only one with its words: first for both engines.
    assert figures["ndcg@10"] == 1.0
    assert figures["mrr@10"] == 1.0
    assert figures["fts5"]["ndcg@10"] == 1.0
    assert (figures["queries"], figures["rejected"], figures["docs"]) == (2, 0, 3)


def test_several_collections_end_with_each_and_the_mean(tmp_path, capsys):
    first, second = _write(tmp_path / "a", False), _write(tmp_path / "b", True)
    assert relevance.main([str(first), str(second)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(report["collections"]) == {"a", "b"}
    assert report["mean"]["ndcg@10"] == 1.0
    assert report["mean"]["fts5"]["ndcg@10"] == 1.0


def test_a_folder_without_judgements_is_refused(tmp_path, capsys):
    root = _write(tmp_path / "tiny", False)
    (root / "qrels.tsv").unlink()
    assert relevance.main([str(root)]) == 1
    assert "has no qrels.tsv" in capsys.readouterr().err


def test_without_datasets_or_the_shared_folder_it_says_what_to_give(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(relevance, "EVAL_DIR", tmp_path / "no-such-folder")
    assert relevance.main([]) == 1
    assert "name the dataset folders" in capsys.readouterr().err


def test_the_harness_indexes_each_text_field_as_its_analyzer_reads_the_document(tmp_path):
    corpus = [{"id": doc_id, "title": title, "text": text} for doc_id, title, text in DOCUMENTS]
    relevance.build_index(corpus, tmp_path / "index")
    fields = [
        relevance.indexer.document_fields(
            relevance.documents.Document(path=i, title=t, text=x, type="text", size=0, mtime_ns=0, sha256="")
        )
        for i, t, x in DOCUMENTS
    ]
    ix = relevance.indexer.open_index_unlocked(tmp_path / "index")
    checked = []
    with ix.reader() as reader:
        for name in reader.indexed_field_names():
            field = ix.schema[name]
            if not field.scorable:  # the text fields: the others hold no analysed words
                continue
            # Whoosh's own analysis of each document's value (several texts: their lines) is the oracle.
            values = ["\n".join(v[name]) if isinstance(v[name], tuple) else v[name] for v in fields]
            expected = {field.to_bytes(term) for value in values for term in field.process_text(value)}
            assert set(reader.lexicon(name)) == expected, name
            checked.append(name)
    assert {"words", "title_en", "body_en"} <= set(checked)
