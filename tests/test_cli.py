"""The command line: summaries, JSON, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from search import cli, indexer
from search.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "search", *args], capture_output=True, text=True, cwd=ROOT, env=environ, timeout=60
    )


def test_index_prints_summary_and_json(corpus, tmp_path):
    done = run("index", "--corpus", str(corpus), "--index", str(tmp_path / "ix"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # stdout holds the JSON object and nothing else
    assert set(summary) == {
        "added", "updated", "deleted", "unchanged", "skipped", "failed", "seconds", "failures", "skipped_files"
    }  # fmt: skip
    assert summary["added"] == 5
    assert done.stderr.startswith("added 5, updated 0, deleted 0, unchanged 0, skipped 0, failed 0 in ")


def test_index_human_summary_on_stdout(corpus, tmp_path):
    done = run("index", "--corpus", str(corpus), "--index", str(tmp_path / "ix"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("added 5, updated 0, deleted 0, unchanged 0, skipped 0, failed 0 in ")


def test_index_names_skipped_files(corpus, tmp_path):
    (corpus / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (corpus / "Makefile").write_text("all:")
    (corpus / "draft.txt~").write_text("an editor's backup")
    done = run("index", "--corpus", str(corpus), "--index", str(tmp_path / "ix"), "--json")
    summary = json.loads(done.stdout)
    assert summary["skipped"] == 2
    assert summary["skipped_files"] == [
        {"path": "Makefile", "reason": "unsupported file type: no extension"},
        {"path": "photo.png", "reason": "unsupported file type: .png"},
    ]
    assert "skipped: photo.png: unsupported file type: .png" in done.stderr.splitlines()
    assert "draft.txt~" not in done.stderr


def test_index_failures_are_reported_not_fatal(corpus, tmp_path):
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    done = run("index", "--corpus", str(corpus), "--index", str(tmp_path / "ix"), "--json")
    assert done.returncode == 0
    summary = json.loads(done.stdout)
    assert summary["failed"] == 1 and summary["failures"][0]["path"] == "broken.pdf"
    assert "broken.pdf" in done.stderr


def test_missing_corpus_is_fatal_with_one_line(tmp_path):
    done = run("index", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr


def test_a_file_where_a_folder_should_be_is_said_plainly(tmp_path, corpus):
    (tmp_path / "a-file").write_text("x")
    done = run("index", "--corpus", str(tmp_path / "a-file"), "--index", str(tmp_path / "ix"))
    assert done.returncode == 1 and done.stderr.strip().endswith("is a file, not a folder")
    done = run("index", "--corpus", str(corpus), "--index", str(tmp_path / "a-file"))
    assert done.returncode == 1 and done.stderr.strip().endswith("is a file, not a folder")
    # The watcher says so at once, not at every retry of a reindex that cannot work.
    done = run("watch", "--corpus", str(corpus), "--index", str(tmp_path / "a-file"))
    assert (
        done.returncode == 1
        and done.stderr.strip() == f"error: the index location {tmp_path / 'a-file'} is a file, not a folder"
    )


def test_bad_arguments_exit_2(tmp_path):
    assert run("index", "--bogus").returncode == 2
    assert run("search").returncode == 2
    assert run("search", "x", "--limit", "many").returncode == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["index", "--index", ""],
        ["index", "--corpus", " "],
        ["watch", "--index", ""],
        ["search", "x", "--index", ""],
        ["serve", "--host", ""],
    ],
)
def test_an_empty_folder_or_address_is_refused_not_the_default(argv, capsys):
    # `--index ""` used to be index/, the one the server reads: indexing another corpus into it emptied it.
    assert main(argv) == 2
    assert "is empty; leave it out to use the default" in capsys.readouterr().err


def test_busy_index_exits_1(corpus, index_dir, capsys):
    with indexer.writer_lock(index_dir):
        code = main(["index", "--corpus", str(corpus), "--index", str(index_dir)])
    assert code == 1 and "another reindex is running" in capsys.readouterr().err


def test_search_text_and_json(index_dir):
    env = {"SEEDSEARCH_INDEX_DIR": str(index_dir)}
    done = run("search", "relocate", env=env)
    assert done.returncode == 0 and "[relocating]" in done.stdout
    body = json.loads(run("search", "putin", "--json", env=env).stdout)
    assert body["total"] == 1 and "<mark>Putin</mark>" in body["results"][0]["snippet"]


def test_search_bad_query_exits_2(index_dir, capsys):
    os.environ["SEEDSEARCH_INDEX_DIR"] = str(index_dir)
    try:
        assert main(["search", "*"]) == 2
    finally:
        del os.environ["SEEDSEARCH_INDEX_DIR"]
    assert "wildcard" in capsys.readouterr().err


def test_search_without_index_exits_1_and_creates_nothing(tmp_path, capsys):
    assert main(["search", "x", "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run 'python -m search index' to build it" in err
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "error: --port must be between 1 and 65535, not 99999"),
        (["--port", "0"], "error: --port must be between 1 and 65535, not 0"),
        (["--workers", "0"], "error: --workers must be 1 or more, not 0"),
        (["--threads", "0"], "error: --threads must be 1 or more, not 0"),
        (["--threads", "-3"], "error: --threads must be 1 or more, not -3"),
        (
            ["--host", "0.0.0.0:9238"],
            "error: --host takes an address without a port ('0.0.0.0:9238'); give the port with --port",
        ),
    ],
)
def test_serve_checks_its_arguments(args, message):
    done = run("serve", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == message + "\n"


def test_serve_says_in_one_line_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run("serve", "--port", str(port), env={"SEEDSEARCH_INDEX_DIR": str(tmp_path)})
    assert done.returncode == 1
    assert done.stderr == f"error: port {port} on 127.0.0.1 is in use (another server?); choose another with --port\n"


def test_serve_binds_an_ipv6_address_in_brackets():
    assert cli._bind_address("::", 8000) == "[::]:8000"
    assert cli._bind_address("[::1]", 8000) == "[::1]:8000"
    assert cli._bind_address("127.0.0.1", 8000) == "127.0.0.1:8000"


def test_serve_help_describes_every_option():
    done = run("serve", "--help")
    assert done.returncode == 0
    options = done.stdout.split("options:")[1]
    for option in ("--host HOST", "--port PORT", "--workers WORKERS", "--threads THREADS"):
        line = next(line for line in options.splitlines() if line.strip().startswith(option))
        assert len(line.strip()) > len(option) + 10, line  # the option and a description


@pytest.mark.parametrize("json_flag", [["--json"], []])
def test_search_into_a_closed_pipe_ends_quietly(index_dir, json_flag):
    # `search … | head -c 10`: the reader goes away before the output is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "search", "search", "relocate OR russia", *json_flag],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "SEEDSEARCH_INDEX_DIR": str(index_dir)},
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_search_counts_one_result_in_the_singular(index_dir):
    done = run("search", "putin", env={"SEEDSEARCH_INDEX_DIR": str(index_dir)})
    assert done.returncode == 0 and done.stdout.startswith("1 result in ")
    done = run("search", "relocate OR russia OR beware", env={"SEEDSEARCH_INDEX_DIR": str(index_dir)})
    assert done.stdout.startswith("3 results in ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_FILE_MB", "abc"),
        ("MAX_FILE_MB", "-1"),
        ("MAX_FILE_MB", "0"),  # every file too big: the index would drop every document
        ("MAX_FILE_MB", "1e-9"),
        ("MAX_FILE_MB", "inf"),
        ("MAX_FILE_MB", "nan"),
        ("SEARCH_TIME_LIMIT", "nan"),  # a limit that never fires
        ("SEARCH_TIME_LIMIT", "0"),
        ("DEFAULT_LANGUAGE", "xx"),
    ],
)
def test_bad_environment_value_is_fatal(name, value, capsys, monkeypatch, corpus, index_dir):
    monkeypatch.setenv(f"SEEDSEARCH_{name}", value)
    before = indexer._indexed_files(indexer.open_index(index_dir))
    code = main(["index", "--corpus", str(corpus), "--index", str(index_dir)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: SEEDSEARCH_{name}=") and len(err.splitlines()) == 1
    assert indexer._indexed_files(indexer.open_index(index_dir)) == before  # nothing dropped


def test_file_names_cannot_forge_lines_or_drive_the_terminal(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty\nfailed: passwords.txt: permission denied\nx.txt").write_bytes(b"")
    text = "Terminal escapes \x1b]0;pwned\x07 in the text." + " Plain words follow." * 20
    (corpus / "title\x1b[2J\x1b[31mred.txt").write_text(text + "\n")
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "ix")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "failed: empty\\nfailed: passwords.txt" in err
    monkeypatch.setenv("SEEDSEARCH_INDEX_DIR", str(tmp_path / "ix"))
    assert main(["search", "terminal"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "title\\x1b[2J\\x1b[31mred.txt" in out


def test_search_shows_matches_in_brackets_and_the_text_as_written(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text('The <b>rover</b> & "lander" &amp; relocating slowly.\n', encoding="utf-8")
    indexer.reindex(corpus, tmp_path / "ix")
    done = run("search", "relocate", env={"SEEDSEARCH_INDEX_DIR": str(tmp_path / "ix")})
    assert done.returncode == 0
    assert 'The <b>rover</b> & "lander" &amp; [relocating] slowly.' in done.stdout


def test_index_says_when_the_index_lacks_fields_a_rebuild_adds(tmp_path, monkeypatch, capsys):
    """An index made by an earlier Seedsearch (fewer fields) is named at a terminal, until --rebuild."""
    from whoosh import index as whoosh_index

    from search.analysis import PairsField, build_schema

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Heat in the flow of the plate.", encoding="utf-8")
    schema = build_schema()
    for name in [name for name, field in schema.items() if isinstance(field, PairsField)]:
        schema.remove(name)
    (tmp_path / "ix").mkdir()
    whoosh_index.create_in(str(tmp_path / "ix"), schema, indexname=indexer.INDEX_NAME)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "ix")]
    assert main(args) == 0
    assert "lacks 13 fields (pairs_da, pairs_de, pairs_en, ...)" in capsys.readouterr().err
    assert main([*args, "--rebuild"]) == 0
    assert "lacks" not in capsys.readouterr().err
    assert indexer.fields_missing(tmp_path / "ix") == []


@pytest.mark.parametrize("name", ["SEEDSEARCH_MAX_PER_PAGE", "SEEDSEARCH_MAX_RESULTS_WINDOW"])
def test_a_page_bound_below_the_default_page_is_refused_at_start(tmp_path, name):
    # Every search without a per_page asks for ten results: a smaller bound would refuse them all.
    done = run("search", "wing", "--index", str(tmp_path / "ix"), env={name: "5"})
    assert done.returncode == 1 and done.stderr.strip() == f"error: {name}=5 is below the default page size of 10"


def test_search_json_errors_are_the_apis(index_dir):
    done = run("search", "*", "--json", "--index", str(index_dir))
    assert done.returncode == 2 and json.loads(done.stdout)["error"]["code"] == "bad_query"
    done = run("search", "wing", "--limit", "150", "--index", str(index_dir))
    assert done.returncode == 2 and done.stderr.strip() == "error: --limit must be between 1 and 100"


def test_an_unreadable_index_folder_is_said_as_such_not_as_missing(index_dir, capsys, monkeypatch):
    # Tests run as root, who reads any folder: os.access stands for a folder at mode 000.
    monkeypatch.setattr(indexer.os, "access", lambda path, mode: Path(path) != index_dir)
    assert main(["search", "putin", "--index", str(index_dir)]) == 1
    assert capsys.readouterr().err == f"error: cannot read the index folder {index_dir}: permission denied\n"
