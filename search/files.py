"""Documents through the API: store an upload in the corpus, remove a document, open the original.

Nothing here reads or writes outside the corpus, whatever the names say: names are checked
(no `..`, absolute paths, backslashes, control characters, hidden or scratch names), and every
folder is opened from the corpus root down with O_NOFOLLOW, so a symlinked folder, or one
swapped for a symlink while a request runs, is refused rather than followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from search import documents, indexer
from search import scope as scoping
from search.config import max_file_bytes

CHUNK = 1 << 16
BUSY_WAIT = 30.0  # seconds an upload or delete waits for another writer (the watcher, a reindex)
MAX_NAME_BYTES = 255  # most file systems' limit for one name
# A whole path stays well inside Linux's 4096 bytes (PATH_MAX) with the corpus folder's own path in
# front, and folders stay shallow enough for a watcher to walk (watchdog recurses once a level).
MAX_PATH_BYTES = 1024
MAX_FOLDER_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Unicode's bidirectional marks, embeddings, overrides and isolates (zero-width joiners, which some
# scripts' words need, are allowed).
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class Refused(Exception):
    """A request the corpus cannot take; `status` and `code` say how to answer it."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


def corpus_path(folder: str, filename: str) -> str:
    """Return the corpus path for `filename` in `folder` (in Unicode's composed form), or raise Refused saying what is wrong."""
    if not filename:
        raise Refused(400, "the upload has no file name", "bad_path")
    if folder.startswith("/"):
        raise Refused(400, "folder must be relative to the corpus, not an absolute path", "bad_path")
    # `café` typed on one system and `cafe` + a combining accent sent by another are one name.
    folder, filename = unicodedata.normalize("NFC", folder), unicodedata.normalize("NFC", filename)
    parts = [part for part in folder.split("/") if part]
    if len(parts) > MAX_FOLDER_DEPTH:
        raise Refused(400, f"folders may be nested at most {MAX_FOLDER_DEPTH} deep", "bad_path")
    for part in [*parts, filename]:
        _check_name(part)
    path = "/".join([*parts, filename])
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise Refused(400, f"the folder and file name together are limited to {MAX_PATH_BYTES} bytes", "bad_path")
    return path


def _check_name(name: str) -> None:
    if "\\" in name:
        raise Refused(400, f"{name!r}: backslashes are not allowed in names", "bad_path")
    if "/" in name:
        raise Refused(400, f"{name!r}: a file name cannot contain '/'; use the folder field", "bad_path")
    if _CONTROL.search(name):
        raise Refused(400, "names cannot contain control characters or NUL", "bad_path")
    if "\ufffd" in name:  # what the form parser made of bytes that are not UTF-8
        raise Refused(400, "names must be UTF-8; the name sent has bytes that are not", "bad_path")
    if _BIDI.search(name):
        # An override (U+202E) shows the rest of a name backwards: "txt.exe" read as "exe.txt".
        raise Refused(400, "names cannot contain text-direction control characters", "bad_path")
    if name in (".", ".."):
        raise Refused(400, "'.' and '..' are not allowed in names", "bad_path")
    if name.startswith(".") or documents.is_scratch(name):
        raise Refused(400, f"{name!r} is a hidden or scratch-file name, which is never indexed", "bad_path")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise Refused(400, f"names are limited to {MAX_NAME_BYTES} bytes", "bad_path")


def check_type(filename: str) -> None:
    """Raise Refused (415) unless the indexer reads files named like `filename`."""
    suffix = Path(filename).suffix.lower()
    if suffix not in documents.SUPPORTED:
        readable = ", ".join(sorted(documents.SUPPORTED))
        raise Refused(415, f"{suffix or 'files without a suffix'} cannot be indexed; supported: {readable}")


def store(
    config: dict,
    folder: str,
    filename: str,
    stream: IO[bytes],
    replace: bool = False,
    scope: scoping.Scope = scoping.EVERYTHING,
) -> str:
    """Write an upload into the corpus atomically, index it and return its corpus path.

    The bytes go to a temporary file in the target folder, are checked (size, readable text),
    then linked (new file) or renamed (replace) into place: readers never see half a file.
    A caller whose `scope` does not show the folder is refused before anything is looked at.
    """
    path = corpus_path(folder, filename)
    parent = path.rpartition("/")[0]
    if not scope.shows_folder(parent):
        mine = ", ".join(scope.folders or ())
        raise Refused(403, f"this key may change documents only under its folders ({mine})", "forbidden")
    check_type(filename)
    limit = max_file_bytes(config)
    parents, name = path.split("/")[:-1], path.split("/")[-1]
    created: list[list[str]] = []
    try:
        _place(config["CORPUS_DIR"], parents, name, stream, replace, limit, created)
    except BaseException as problem:
        _remove_empty(config["CORPUS_DIR"], created)  # a refused upload leaves no folder behind
        if isinstance(problem, OSError) and problem.errno in DISK_FULL:
            raise Refused(507, "the server's disk is full; nothing was saved", "insufficient_storage") from None
        raise
    try:
        summary = _reindex(config, path)
    except OSError as problem:
        if problem.errno not in DISK_FULL:
            raise
        raise Refused(
            507,
            f"{path} is saved, but the index's disk is full: the next reindex with room indexes it",
            "insufficient_storage",
        ) from None
    for failure in summary.failures:
        if failure["path"] == path:  # changed on disk since it was checked
            raise Refused(422, f"{path} cannot be indexed: {failure['reason']}", "unreadable_document")
    return path


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _place(corpus_dir: str, parents: list[str], name: str, stream, replace: bool, limit: int, created) -> None:
    """Copy `stream` to a temporary file in the target folder, check it, then move it into place."""
    path = "/".join([*parents, name])
    with _folder(corpus_dir, parents, created=created) as dir_fd:
        if not replace and _exists(name, dir_fd):
            raise Refused(409, f"{path} already exists; send replace=true to replace it", "exists")
        if (twin := _twin(name, dir_fd)) is not None:
            raise Refused(409, f"{twin!r} is already there, the same name in another Unicode form", "exists")
        temp = f".upload-{uuid.uuid4().hex}.part"  # hidden and scratch: never indexed, nor watched
        try:
            size = _copy(stream, temp, dir_fd, limit)
            _check_readable(path, temp, dir_fd, size, limit)
            if replace:
                existing = _lstat(name, dir_fd)
                if existing is not None and not stat.S_ISREG(existing.st_mode):
                    raise Refused(409, f"{path} exists and is not a regular file", "exists")
                os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            else:
                try:  # link() never overwrites: a file that appeared meanwhile is not lost
                    os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                except FileExistsError:
                    raise Refused(409, f"{path} already exists; send replace=true to replace it", "exists") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dir_fd)


def _remove_empty(corpus_dir: str, created: list[list[str]]) -> None:
    """Remove the folders in `created` (deepest first) that are still empty."""
    for parts in reversed(created):
        with contextlib.suppress(OSError, Refused), _folder(corpus_dir, parts[:-1]) as dir_fd:
            os.rmdir(parts[-1], dir_fd=dir_fd)


def remove(config: dict, path: str) -> None:
    """Delete the corpus file at `path` (a document's path) and drop it from the index."""
    parts = path.split("/")
    try:
        with _folder(config["CORPUS_DIR"], parts[:-1]) as dir_fd:
            os.unlink(parts[-1], dir_fd=dir_fd)
    except (FileNotFoundError, IsADirectoryError):
        pass  # already gone, or a folder in its place: the index follows below
    except Refused:
        pass  # a folder on its path is now a symlink or a file: the file is no longer in the corpus
    _reindex(config, path)


def original(config: dict, path: str) -> IO[bytes]:
    """Open the corpus file at `path` (a document's path) for reading, or raise FileNotFoundError."""
    parts = path.split("/")
    with _folder(config["CORPUS_DIR"], parts[:-1]) as dir_fd:
        # A symlink is never read, as the indexer reads none (O_NOFOLLOW: ELOOP, an OSError).
        # O_NONBLOCK: opening a FIFO put in its place must not hang the request.
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(parts[-1], flags, dir_fd=dir_fd)
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise FileNotFoundError(path)
    return handle


@contextlib.contextmanager
def _folder(corpus_dir: str, parts: list[str], created: list[list[str]] | None = None) -> Iterator[int]:
    """Open corpus_dir/parts... one folder at a time without following symlinks; yield its fd.

    With `created`, missing folders are made, and each one made is added to it.
    """
    fd = os.open(corpus_dir, _DIR_FLAGS & ~os.O_NOFOLLOW)  # the corpus root itself may be a link
    try:
        for depth, part in enumerate(parts, 1):
            if created is not None:
                if not _exists(part, fd) and (twin := _twin(part, fd)) is not None:
                    raise Refused(
                        409, f"folder {twin!r} is already there, the same name in another Unicode form", "exists"
                    )
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                    created.append(parts[:depth])
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as problem:
                if problem.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Refused(
                        400, f"{part!r} in the folder is a symlink or a file, not a folder", "bad_path"
                    ) from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _twin(name: str, dir_fd: int) -> str | None:
    """Return a name in the folder that is `name` (composed) in another Unicode form, if any."""
    if name.isascii():
        return None
    for other in os.listdir(dir_fd):
        if other != name and not other.isascii() and unicodedata.normalize("NFC", other) == name:
            return other
    return None


def _exists(name: str, dir_fd: int) -> bool:
    return _lstat(name, dir_fd) is not None


def _copy(stream: IO[bytes], temp: str, dir_fd: int, limit: int) -> int:
    """Copy `stream` into the new file `temp`, refusing (413) past `limit` bytes; return the size."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise Refused(
                    413, f"the file is larger than the {limit / (1 << 20):g} MB limit (SEEDSEARCH_MAX_FILE_MB)"
                )
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


def _check_readable(path: str, temp: str, dir_fd: int, size: int, limit: int) -> None:
    """Refuse (422) a file the indexer could not turn into text, before it reaches the corpus."""
    with open(os.open(temp, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd), "rb") as handle:
        data = handle.read()
    kind = documents.SUPPORTED[Path(path).suffix.lower()]
    try:
        documents.extract(documents.SourceFile(path, temp, kind, size, time.time_ns(), limit), data)
    except documents.ExtractionError as problem:
        raise Refused(422, f"{path} cannot be indexed: {problem}", "unreadable_document") from None


def _reindex(config: dict, path: str) -> indexer.Summary:
    """Reindex just `path`, waiting a while for another writer (the watcher, a reindex) to finish."""
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        try:
            return indexer.reindex(
                config["CORPUS_DIR"],
                config["INDEX_DIR"],
                max_bytes=max_file_bytes(config),
                default_language=config["DEFAULT_LANGUAGE"],
                procs=config["INDEX_PROCS"],
                paths=[path],
            )
        except indexer.IndexBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
