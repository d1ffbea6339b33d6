"""API keys: the keys file, which stores each key's name, folders, admin flag and a hash, never the key.

A key is 256 random bits (`secrets.token_urlsafe(32)`), so its SHA-256 is enough: a slow hash
(scrypt, PBKDF2) protects guessable passwords from offline guessing, and nobody can guess 2**256
values; it would only add tens of milliseconds to every API request. Lookups hash the presented
key and compare it with every stored hash with `hmac.compare_digest`, never stopping early.

The file is JSON, written whole to a temporary file and renamed over the old one, under an
exclusive lock on a side file, so two `keys` commands never lose each other's changes and a reader
never sees half a file. Readers stat it on every lookup and re-read it when it changed, so a
revoked key stops working in every server process at its next request. The file also lists the
page sessions signed out before they expired (each session id's hash and when it would have
expired), so that a signed-out session cookie is refused by every server process too.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "ssk_"  # makes a leaked key easy to recognise (and to find with a secret scanner)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
VERSION = 1
# Signed-out sessions kept until they would have expired: a bound on the keys file's size (each
# entry ~130 bytes), whoever signs in and out in a loop.
MAX_ENDED_SESSIONS = 10_000


class KeysError(ValueError):
    """The keys file cannot be read or changed as asked; the message says why."""


@dataclass(frozen=True)
class Key:
    name: str
    sha256: str  # hex digest of the key
    folders: tuple[str, ...]  # empty: every folder
    admin: bool
    created: str  # ISO 8601, UTC


@dataclass
class _Contents:
    """What the keys file holds: the keys, and the signed-out sessions (hash -> expiry, ISO 8601 UTC)."""

    keys: list[Key]
    ended: dict[str, str] = field(default_factory=dict)


def digest(token: str) -> str:
    """Return the hex SHA-256 of a key as the keys file stores it."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def normalise_folders(folders: Iterable[str]) -> tuple[str, ...]:
    """Return folder names as the index stores them ('a/b', no leading or trailing '/'), sorted, or raise KeysError."""
    cleaned = set()
    for folder in folders:
        parts = [part.strip() for part in folder.strip().strip("/").split("/")]
        if not folder.strip():
            continue
        if any(part in ("", ".", "..") for part in parts):
            raise KeysError(f"not a folder inside the corpus: {folder!r}")
        cleaned.add("/".join(parts))
    return tuple(sorted(cleaned))


class KeyStore:
    """The keys file at `path`: read (and re-read when it changes) and written atomically under a lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._seen: tuple | None = None  # (inode, size, mtime) of the file last read
        self._keys: tuple[Key, ...] = ()
        self._ended: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    # Reading

    def entries(self) -> tuple[Key, ...]:
        """Return the keys in the file now (re-read when the file changed since the last look)."""
        return self._current()[0]

    def session_ended(self, session_id: str) -> bool:
        """Return whether the page session `session_id` was signed out (end_session)."""
        return digest(session_id) in self._current()[1]

    def _current(self) -> tuple[tuple[Key, ...], frozenset[str]]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return (), frozenset()
        except OSError as problem:
            raise KeysError(f"cannot read the keys file {self.path}: {problem.strerror}") from None
        # os.replace gives every write a new inode, so a change is seen even within one mtime tick.
        state = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if state != self._seen:
                contents = self._read()
                self._keys, self._ended = tuple(contents.keys), frozenset(contents.ended)
                self._seen = state
            return self._keys, self._ended

    def configured(self) -> bool:
        """Return whether the file holds at least one key (then every request needs one)."""
        return bool(self.entries())

    def find(self, token: str) -> Key | None:
        """Return the key `token` is, or None; constant time in the token's content."""
        wanted = digest(token).encode("ascii")
        found = None
        for key in self.entries():
            # Every stored hash is compared, so the time does not say which one matched.
            if hmac.compare_digest(wanted, key.sha256.encode("ascii")) and found is None:
                found = key
        return found

    def named(self, name: str) -> Key | None:
        """Return the key called `name`, or None."""
        return next((key for key in self.entries() if key.name == name), None)

    def _read(self) -> _Contents:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _Contents([])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
            raise KeysError(f"cannot read the keys file {self.path}: {problem}") from None
        try:
            found = tuple(
                Key(
                    name=str(entry["name"]),
                    sha256=str(entry["sha256"]),
                    folders=tuple(entry.get("folders") or ()),
                    admin=bool(entry.get("admin", False)),
                    created=str(entry.get("created", "")),
                )
                for entry in raw["keys"]
            )
            ended = {str(entry["sha256"]): str(entry["until"]) for entry in raw.get("ended_sessions") or ()}
        except (KeyError, TypeError, AttributeError) as problem:
            raise KeysError(f"the keys file {self.path} is not in the expected shape ({problem})") from None
        for key in found:
            if not SHA256.fullmatch(key.sha256):
                raise KeysError(f"the keys file {self.path} has a key ({key.name!r}) without a SHA-256 hash")
        return _Contents(list(found), ended)

    # Writing

    def create(self, name: str, folders: Iterable[str] = (), admin: bool = False) -> tuple[Key, str]:
        """Add a key called `name`; return it and the key itself, which is stored nowhere."""
        if not NAME.fullmatch(name):
            raise KeysError(
                "a key name is 1-64 letters, digits and . _ @ -, starting with a letter or digit: " + repr(name[:70])
            )
        token = PREFIX + secrets.token_urlsafe(32)
        key = Key(
            name=name,
            sha256=digest(token),
            folders=normalise_folders(folders),
            admin=admin,
            created=_iso(datetime.now(UTC)),
        )
        with self._changing() as contents:
            if any(existing.name == name for existing in contents.keys):
                raise KeysError(f"a key called {name!r} already exists; revoke it first or choose another name")
            contents.keys.append(key)
        return key, token

    def revoke(self, name: str) -> int:
        """Remove the key called `name`; return how many keys are left."""
        with self._changing() as contents:
            kept = [key for key in contents.keys if key.name != name]
            if len(kept) == len(contents.keys):
                raise KeysError(f"no key called {name!r}")
            contents.keys[:] = kept
        return len(kept)

    def end_session(self, session_id: str, expires: datetime) -> None:
        """Record that the page session `session_id` (valid until `expires`) was signed out, or raise KeysError."""
        now = _iso(datetime.now(UTC))
        with self._changing() as contents:
            # A session past its expiry is refused anyway: its entry is no longer needed.
            contents.ended = {sha: until for sha, until in contents.ended.items() if until > now}
            if len(contents.ended) >= MAX_ENDED_SESSIONS:
                # Never by forgetting an ended session, which would let a copy of its cookie back in.
                raise KeysError(f"{MAX_ENDED_SESSIONS} sessions were signed out in the last days; no more are recorded")
            contents.ended[digest(session_id)] = _iso(expires)

    @contextmanager
    def _changing(self) -> Iterator[_Contents]:
        """Yield the file's contents to change, then write them, all under the file's lock (KeysError if it cannot be)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as problem:
            raise KeysError(f"cannot change the keys file {self.path}: {problem.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            contents = self._read()
            yield contents
            try:
                self._write(contents)
            except OSError as problem:
                raise KeysError(f"cannot write the keys file {self.path}: {problem.strerror}") from None
        finally:
            os.close(lock)  # releases the flock

    def _write(self, contents: _Contents) -> None:
        body: dict = {"version": VERSION}
        body["keys"] = [asdict(key) | {"folders": list(key.folders)} for key in contents.keys]
        if contents.ended:
            body["ended_sessions"] = [{"sha256": sha, "until": until} for sha, until in sorted(contents.ended.items())]
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp makes it 0600
                json.dump(body, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _iso(moment: datetime) -> str:
    """Return `moment` as ISO 8601 UTC to the second (such strings sort as the times do)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
