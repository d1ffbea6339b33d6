"""Crash safety: SIGKILL the indexer in every phase of a run (bench.killloop, small).

After each kill: no lock is left held, the index opens and answers, it holds exactly the last
commit or exactly the new one, and the next run brings it in line with the corpus. The full
loop (30 kills at random moments and in every phase) is marked slow.
"""

from __future__ import annotations

import json
import signal

import pytest

from bench import harness, killloop
from search import indexer


def test_sigkill_in_every_phase_loses_nothing(tmp_path):
    summary = killloop.run(tmp_path, kills=len(killloop.PHASES) + 1, docs=30, schedule=(*killloop.PHASES, "random"))
    print(json.dumps(summary))  # the figures, with pytest -s
    assert killloop.ok(summary), json.dumps(summary, indent=2)
    assert all(summary["kills_by_phase"][phase] >= 1 for phase in killloop.PHASES), summary["kills_by_phase"]


@pytest.mark.slow
def test_thirty_kills_at_random_moments(tmp_path):
    summary = killloop.run(tmp_path, kills=30, docs=400)
    print(json.dumps(summary))
    assert killloop.ok(summary), json.dumps(summary, indent=2)


@pytest.mark.parametrize("phase", ["clean", "toc"])
def test_the_next_run_removes_what_a_killed_writer_left(tmp_path, phase):
    # Killed after its new table of contents is in place ("clean"), the writer leaves the old
    # generation's files, and a next run with nothing to commit never triggers Whoosh's cleanup;
    # killed before renaming it ("toc"), it leaves a temporary file no cleanup ever matched.
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    harness.write_corpus(corpus, 10)
    indexer.reindex(corpus, index_dir)
    harness.write_document(corpus, 3, version=1)
    code, _, _ = killloop.run_child(phase, False, harness.environment(corpus, index_dir), None)
    assert code == -signal.SIGKILL and killloop.stray_files(index_dir)
    indexer.reindex(corpus, index_dir)
    assert killloop.stray_files(index_dir) == []
    assert harness.index_state(index_dir) == harness.expected_state(corpus)
