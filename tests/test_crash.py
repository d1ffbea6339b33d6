"""Crash safety: SIGKILL the indexer in every phase of a run (bench.killloop, small).

After each kill: no lock is left held, the index opens and answers, it holds exactly the last
commit or exactly the new one, and the next run brings it in line with the corpus. The full
loop (30 kills at random moments and in every phase) is marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

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


# Run as a script (a forkserver's children import the main module again, so it is a file): an
# indexer whose workers come from a fork server, SIGKILLed by itself at its first results, once
# it has printed the pids of its children and grandchildren (the fork server and the workers).
KILLED_MID_RUN = """
import os, signal, sys
from search import indexer

def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if entry.isdigit() and int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except OSError:
            pass
    return found

def dying(index_dir, jobs, procs, method, default_language, on_files, rebuild=False):
    def first(outcomes):
        kin = children(os.getpid())
        print(" ".join(map(str, kin + [grand for kid in kin for grand in children(kid)])), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(index_dir, jobs, procs, method, default_language, first, rebuild)

if __name__ == "__main__":
    indexer.PARALLEL_MIN_FILES = indexer.PARALLEL_MIN_FILES_PER_PROC = indexer.BATCH_FILES = 1
    indexer._start_method = lambda: "forkserver"
    real, indexer._index_parallel = indexer._index_parallel, dying
    indexer.reindex(sys.argv[1], sys.argv[2], procs=2)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_killed_indexer_leaves_no_forkserver_workers_behind(tmp_path):
    # Each of a fork server's children holds the server's lifeline, so it outlived the indexer,
    # and the workers, waiting for batches from a dead parent, outlived it in turn (~150 MB each).
    # Enough outcomes (long names) to fill the pipe to the dead indexer: a worker then blocks at
    # exit, flushing them, even when it was handed every batch before the kill.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(600):
        (corpus / f"{'long-name-' * 20}{number}.txt").write_text(f"Note {number} on gliders.\n", encoding="utf-8")
    script = tmp_path / "killed.py"
    script.write_text(KILLED_MID_RUN, encoding="utf-8")
    env = harness.environment(corpus, tmp_path / "index")
    # Into files, not pipes: the workers inherit them, and a pipe stays open while they live.
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        run = subprocess.run(
            [sys.executable, str(script), str(corpus), str(tmp_path / "index")],
            env=env, stdout=out, stderr=err, timeout=120,
        )  # fmt: skip
    assert run.returncode == -signal.SIGKILL, (tmp_path / "err").read_text()
    kin = [int(pid) for pid in (tmp_path / "out").read_text().split()]
    assert len(kin) >= 3, run.stdout  # the fork server and two workers at least (and the resource tracker)
    try:
        assert harness.wait_for(lambda: not any(_alive(pid) for pid in kin), 30, every=0.2), [
            pid for pid in kin if _alive(pid)
        ]
    finally:
        for pid in filter(_alive, kin):  # not left running when the test fails
            os.kill(pid, signal.SIGKILL)
