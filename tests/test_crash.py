"""Crash safety: SIGKILL the indexer in every phase of a run (bench.killloop, small).

After each kill: no lock is left held, the index opens and answers, it holds exactly the last
commit or exactly the new one, and the next run brings it in line with the corpus. The full
loop (30 kills at random moments and in every phase) is marked slow.
"""

from __future__ import annotations

import json

import pytest

from bench import killloop


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
