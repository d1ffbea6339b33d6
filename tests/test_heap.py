"""A worker gives freed heap back when its last request in flight has been sent, at most once per interval."""

from __future__ import annotations

import ctypes.util
import platform

import pytest

from search import create_app, heap


class Calls:
    def __init__(self):
        self.args = []

    def __call__(self, pad: int) -> int:
        self.args.append(pad)
        return 1


def test_trims_when_the_last_request_ends():
    trim = Calls()
    trimmer = heap.IdleTrimmer(trim, interval=0)
    trimmer.started()
    trimmer.started()
    trimmer.finished()
    assert trim.args == []  # another request is still running
    trimmer.finished()
    assert trim.args == [0]


def test_trims_at_most_once_per_interval():
    trim = Calls()
    trimmer = heap.IdleTrimmer(trim, interval=3600)
    for _ in range(3):
        trimmer.started()
        trimmer.finished()
    assert trim.args == [0]


def test_a_failed_request_still_ends():
    trim = Calls()
    trimmer = heap.IdleTrimmer(trim, interval=0)

    def broken(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        trimmer.wrap(broken)({}, lambda *args: None)
    assert trim.args == [0]
    trimmer.started()  # the count went back to zero: this request is the only one
    trimmer.finished()
    assert trim.args == [0, 0]


def test_the_app_trims_after_a_response_is_closed(tmp_path):
    app = create_app({"INDEX_DIR": str(tmp_path / "index"), "CORPUS_DIR": str(tmp_path)})
    trim = Calls()
    app.extensions["heap"]._trim = trim
    app.extensions["heap"]._interval = 0
    with app.test_client() as client:
        response = client.get("/livez")
        assert response.status_code == 200
        response.close()
    assert trim.args and set(trim.args) == {0}


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_malloc_trim_is_found():
    assert ctypes.util.find_library("c")
    assert heap._malloc_trim() is not None
    assert heap._malloc_trim()(0) in (0, 1)
