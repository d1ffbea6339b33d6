"""Walk a corpus folder and turn each supported file into a Document: a title and plain text."""

from __future__ import annotations

import codecs
import contextlib
import csv
import email
import email.message
import email.policy
import errno
import functools
import hashlib
import io
import logging
import os
import re
import stat
import warnings
import xml.parsers.expat
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from odf.namespaces import TABLENS, TEXTNS

from search.analysis import INVISIBLE

# The parsing libraries are imported where a format needs them: a web worker imports this module
# for uploads, and bs4, charset_normalizer and markdown-it cost it ~15 MB it may never use.
if TYPE_CHECKING:
    from bs4 import BeautifulSoup
    from docx.table import Table

SUPPORTED = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".odt": "odt",
    ".ods": "ods",
    ".odp": "odp",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".epub": "epub",
    ".rtf": "rtf",
    ".eml": "eml",
    ".csv": "csv",
    ".rst": "rst",
}
TYPES = tuple(dict.fromkeys(SUPPORTED.values()))  # the `type` values a document can have

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# A zip-based document (DOCX, ODF, PPTX, XLSX, EPUB) may unpack to this many times the file size
# limit, and to 32 MB whatever the limit (an empty DOCX from Word's template unpacks to 800 KB):
# real documents stay well below, and a zip bomb is refused before a library unpacks it.
UNPACKED_PER_LIMIT = 5
UNPACKED_MIN = 32 * 1024 * 1024
ZIP_TYPES = {"docx", "odt", "ods", "odp", "pptx", "xlsx", "epub"}
ZIP_CHUNK = 1 << 16  # bytes a zip member is inflated at a time when it is checked (_check_members)
# Editors' and browsers' scratch files: backups, swap and lock files, partial downloads. They come
# and go as someone works and are not documents, so they are neither indexed nor reported.
SCRATCH_SUFFIXES = (".swp", ".swo", ".swx", ".part", ".crdownload", "~")
SCRATCH_PREFIXES = (".#", "~$")

# pypdf logs a warning for every damaged object it works around; the outcome is reported per file.
logging.getLogger("pypdf").setLevel(logging.ERROR)
# The libraries for PDF, DOCX, OpenDocument, EPUB and RTF are imported by the functions that
# read those formats: a web worker that never receives one does not hold them (about 14 MB each).


class SourceFile(NamedTuple):
    """A file a scan found to index. A tuple: a scan makes one per file (100k: 37 ms, a frozen dataclass 75)."""

    path: str  # relative to the corpus root, "/"-separated
    abspath: str
    type: str
    size: int
    mtime_ns: int
    max_bytes: int = DEFAULT_MAX_BYTES  # the scan's file size limit, which also bounds unpacking
    # The inode's change time: set by the system at any write, rename or copy into place, never
    # to a chosen value, so it tells a file replaced by one of the same size and mtime (cp -p,
    # rsync -a, tar) from an unchanged one. 0: unknown.
    ctime_ns: int = 0


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str
    # Whether a document indexed from an earlier version stays: yes when the file could not be
    # read (it may be back next time); no when there is no document in it now: read and holding
    # no text (emptied), over the size limit, or a symlink (never read).
    keeps_previous: bool = True


@dataclass
class Scan:
    files: list[SourceFile]
    skipped: list[Failure]  # files of a type no extractor reads
    failures: list[Failure]


@dataclass(frozen=True)
class Document:
    path: str
    title: str
    text: str
    type: str
    size: int
    mtime_ns: int
    sha256: str
    ctime_ns: int = 0  # see SourceFile


class ExtractionError(Exception):
    """A file's content cannot be turned into text; str(error) is the reason."""


class NoText(ExtractionError):
    """A file was read and holds no text (empty, or nothing but space): there is no document in it."""


# --- walking the corpus -------------------------------------------------------------------------


def is_scratch(name: str) -> bool:
    """Return whether a file name is an editor's or a download's scratch file, never indexed."""
    if name.endswith(SCRATCH_SUFFIXES) or name.startswith(SCRATCH_PREFIXES):
        return True
    return name.startswith("#") and name.endswith("#")  # Emacs auto-save


def scan(root: str | Path, max_bytes: int, only: Collection[str] | None = None, leave_out: str | None = None) -> Scan:
    """List the supported files under root and report the ones that cannot be indexed.

    With `only` (corpus-relative paths of files or folders), just those and what is under them.
    `leave_out` is a corpus-relative folder not to look in (the index, when it is inside the corpus).
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"corpus path is not a folder: {root}")
    found = Scan([], [], [])
    for path, abspath, info in _walk(root, root.resolve(strict=True), only, leave_out):
        kind = SUPPORTED.get(_suffix(path).lower())
        if isinstance(info, _NotFollowed):
            found.skipped.append(Failure(path, str(info)))
        elif isinstance(info, str):
            found.failures.append(Failure(path, str(info), keeps_previous=not isinstance(info, _NoDocument)))
        elif not stat.S_ISREG(info.st_mode):
            if kind:  # reading a FIFO or a device could block or never end
                found.failures.append(Failure(path, "not a regular file"))
        elif kind is None:
            found.skipped.append(Failure(path, _unsupported(path)))
        elif info.st_size == 0:
            found.failures.append(Failure(path, "empty file", keeps_previous=False))
        elif info.st_size > max_bytes:
            limit = _human_size(max_bytes)
            # Not a passing failure: its previous (smaller) version leaves the index, as a file emptied does.
            found.failures.append(Failure(path, f"larger than the {limit} limit", keeps_previous=False))
        else:
            size, mtime_ns = info.st_size, info.st_mtime_ns
            found.files.append(SourceFile(path, abspath, kind, size, mtime_ns, max_bytes, info.st_ctime_ns))
    found.files.sort()  # by path, its first field (no two files share one)
    found.skipped.sort(key=lambda f: f.path)
    found.failures.sort(key=lambda f: f.path)
    return found


def _unsupported(path: str) -> str:
    suffix = _suffix(path)
    return f"unsupported file type: {suffix}" if suffix else "unsupported file type: no extension"


def _suffix(path: str) -> str:
    """Return PurePosixPath(path).suffix, without building a path object per file."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _walk(
    root: Path, real_root: Path, only: Collection[str] | None, leave_out: str | None = None
) -> Iterator[tuple[str, str, os.stat_result | str]]:
    """Yield (path, abspath, stat or failure reason) for each entry that is not a folder."""
    # (folder, its corpus path + "/", the names to look at in it or None for all)
    folders: list[tuple[str, str, set[str] | None]] = [(str(root), "", None)] if only is None else _starts(root, only)
    while folders:
        folder, prefix, names = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = [entry for entry in it if names is None or entry.name in names]
        except OSError as e:
            if not prefix:
                raise  # an unreadable root must not look like a corpus emptied of files
            if only is not None and isinstance(e, FileNotFoundError | NotADirectoryError):
                continue  # removed since the change that named it: nothing there now
            yield prefix[:-1], folder, _os_reason(e)
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            # An ASCII name is valid UTF-8 as it is; another is decoded from its bytes, as the index stores it.
            path = prefix + (
                name if name.isascii() else name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            )
            try:
                if not path.endswith(name):
                    # Paths go on to the index, JSON and terminals, which need valid Unicode.
                    yield path, entry.path, "file name is not valid UTF-8"
                elif entry.is_dir(follow_symlinks=False):
                    if path != leave_out:
                        folders.append((entry.path, path + "/", None))
                elif is_scratch(name):
                    continue
                elif entry.is_symlink():
                    yield path, *_follow(entry.path, real_root)
                else:
                    yield path, entry.path, entry.stat(follow_symlinks=False)
            except OSError as e:
                yield path, entry.path, _os_reason(e)


def _starts(root: Path, only: Collection[str]) -> list[tuple[str, str, set[str] | None]]:
    """Return where a walk of just the corpus paths `only` starts: their folders, with the names wanted in each."""
    wanted: dict[str, set[str]] = {}
    taken: set[str] = set()
    for path in sorted({path.strip("/") for path in only}):  # a folder before what is under it
        if not path:
            return [(str(root), "", None)]
        parts = path.split("/")
        # Under another path asked for, or where a whole walk would not go: hidden, scratch, through a link.
        if any("/".join(parts[:i]) in taken for i in range(1, len(parts))):
            continue
        # Scratch files are left out by the walk itself (a folder may have a scratch-like name).
        if any(not part or part.startswith(".") for part in parts) or not _real_folder(root, parts[:-1]):
            continue
        taken.add(path)
        wanted.setdefault("/".join(parts[:-1]), set()).add(parts[-1])
    return [(str(root.joinpath(parent)), parent + "/" if parent else "", names) for parent, names in wanted.items()]


def _real_folder(root: Path, parts: list[str]) -> bool:
    """Return whether root/parts... is a folder reached without following a symlink (or cannot be told)."""
    try:
        return all(stat.S_ISDIR(os.lstat(root.joinpath(*parts[:i])).st_mode) for i in range(1, len(parts) + 1))
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True  # unreadable: the walk reports it, and the documents under it are kept


class _NoDocument(str):
    """Why a path holds no document now (a symlink): not a passing failure, so its previous document leaves the index."""


class _NotFollowed(_NoDocument):
    """A symlink to a file in the corpus: skipped, as the file is indexed at its own path."""


def _follow(link: str, real_root: Path) -> tuple[str, str]:
    """Return (link, why it is not read): a symlink is never read as a document.

    Followed, a link to another folder's file would show that file to a key limited to the
    link's folder (and under a path whose changes a watcher never hears of); the file it
    points to is indexed at its own path, where keys and the watcher see it.
    """
    try:
        target = Path(link).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        return link, _NoDocument("broken symlink")
    except RuntimeError:  # how Python < 3.13 reports a loop; later ones raise ELOOP
        return link, _NoDocument("symlink loop")
    if not target.is_relative_to(real_root):
        return link, _NoDocument("symlink points outside the corpus")
    if target.is_dir():
        # Following folder links invites loops and the same file under many paths.
        return link, _NoDocument("symlinked folder not followed")
    relative = target.relative_to(real_root).as_posix()
    return link, _NotFollowed(f"symlink to {relative} not followed: a file is indexed at its own path")


def _os_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if e.errno == errno.ELOOP:
        return _NoDocument("symlink loop")
    return f"could not read: {e.strerror or e}"


def _human_size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


# --- reading ------------------------------------------------------------------------------------


def read_source(src: SourceFile) -> bytes:
    """Read a scanned file's bytes, turning OS errors into ExtractionError."""
    try:
        with open(src.abspath, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ExtractionError("file disappeared before it could be read") from None
    except OSError as e:
        raise ExtractionError(_os_reason(e)) from None


def content_hash(data: bytes) -> str:
    """Return the SHA-256 hex digest that identifies a file's content."""
    return hashlib.sha256(data).hexdigest()


def extract(src: SourceFile, data: bytes) -> Document:
    """Turn a file's bytes into a Document, or raise ExtractionError saying why not."""
    if not data:
        raise NoText("empty file")
    title, text = _extract_kind(src.type, data, src.max_bytes)
    if not text.strip():
        raise NoText("no text found")
    own_title = " ".join((title or "").translate(INVISIBLE).split())
    title = _shorten(own_title) or _shorten(text) or PurePosixPath(src.path).name
    sha256 = content_hash(data)
    return Document(src.path, title, text, src.type, len(data), src.mtime_ns, sha256, src.ctime_ns)


def _extract_kind(kind: str, data: bytes, limit: int) -> tuple[str | None, str]:
    """Return the (own title, text) of `data` read as `kind`; the text holds at most `limit` characters."""
    extractor = _EXTRACTORS.get(kind)
    if extractor is None:
        raise ExtractionError(f"unsupported type: {kind}")
    try:
        if kind in ZIP_TYPES:
            _check_zip(data, kind, limit)
        title, text = extractor(data, limit)
    except ExtractionError:
        raise
    except Exception as e:  # a library choking on one file must not stop the run
        raise ExtractionError(f"could not read {kind.upper()}: {_short(e)}") from e
    return title, _tidy(text)[:limit]


def load(src: SourceFile) -> Document:
    """Read and extract one scanned file."""
    return extract(src, read_source(src))


# --- text and encodings -------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Most common first. charset_normalizer alone mislabels short Western and Cyrillic text
# (cp1250 for French, cp949 for a line of Russian), so these get the first say.
_LEGACY = ("cp1252", "cp1251", "koi8_r", "cp1250")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _decode(data: bytes, declared: str | None = None) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _accept(data.decode(codec, "replace"))
    for codec in filter(None, (declared, _utf16_without_bom(data), "utf-8")):
        try:
            return _accept(data.decode(codec))
        except UnicodeDecodeError:
            pass
    damaged = _damaged_utf8(data)
    if damaged is not None:
        return _accept(damaged)
    # Check the raw bytes first: junk must be called junk, not a guessed encoding.
    _accept(data.decode("latin-1"))
    from charset_normalizer import from_bytes

    fits = [from_bytes(data, cp_isolation=[cp], threshold=0.1).best() for cp in _LEGACY]
    fits = [match for match in fits if match is not None]
    # min() keeps the first of equals, so ties go to the more common code page.
    best = min(fits, key=lambda m: m.chaos) if fits else from_bytes(data).best()
    if best is None:
        raise ExtractionError("not valid UTF-8 and no known encoding fits")
    return _accept(str(best))


def _utf16_without_bom(data: bytes) -> str | None:
    # ASCII-range text in UTF-16 is half NULs, in fixed positions; as UTF-8 it would be "valid".
    half = len(data) // 2
    if len(data) % 2 or half < 2:
        return None
    if data[1::2].count(0) > 0.9 * half and data[0::2].count(0) < 0.1 * half:
        return "utf-16-le"
    if data[0::2].count(0) > 0.9 * half and data[1::2].count(0) < 0.1 * half:
        return "utf-16-be"
    # Text of one alphabet past ASCII (Cyrillic, Greek, Hebrew, Arabic, …): every character's high
    # byte is its block's (0x04 for Cyrillic) or 0 (spaces, digits, punctuation). UTF-8 and
    # legacy text hold no NUL, and their every other byte takes many values.
    for codec, high, low in (("utf-16-le", data[1::2], data[0::2]), ("utf-16-be", data[0::2], data[1::2])):
        common = Counter(high).most_common(2)
        zeros = high.count(0)
        if zeros >= 0.05 * half and sum(n for _, n in common) >= 0.95 * half and low.count(0) < 0.05 * half:
            return codec
    return None


def _damaged_utf8(data: bytes) -> str | None:
    # UTF-8 with a few broken bytes (a bad copy, a cut-off write) is still UTF-8: read as a
    # legacy code page it would become mojibake, or be refused whole. Legacy text almost never
    # forms a valid multi-byte sequence: nearly each of its letters past ASCII is an error
    # (cp1252's `é` alone, cp1251's lowercase letters), and a valid pair is an accident that a
    # short text can hold once beside an error (cp1252's `É»` in `«CAFÉ»`, cp1251's `Ѩ` in
    # `ВСЁ`). So twice as many valid sequences as errors decide it, even in a line (`Réunion …
    # café \xff`: two and one).
    text = data.decode("utf-8", "replace")
    damaged = text.count("\ufffd")
    intact = sum(ch > "\x7f" for ch in text) - damaged
    return text if intact >= 2 * max(damaged, 1) else None


def _accept(text: str) -> str:
    # Text has almost no control characters; binary data decoded as text has plenty.
    if len(_CONTROL.findall(text)) > 0.01 * len(text):
        raise ExtractionError("looks like binary data")
    return _tidy(text)


def _tidy(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(INVISIBLE)


def _shorten(text: str, limit: int = 120) -> str:
    line = next((" ".join(s.split()) for s in text.split("\n") if s.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,;:-") + "…"


class _Lines:
    """A document's lines, kept up to a number of characters: past that, reading can stop."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.left = limit

    def add(self, line: str, cost: int = 0) -> bool:
        """Keep `line` (as much as fits) and charge `cost` more; return whether there is room left."""
        if self.left > 0:
            self.lines.append(line[: self.left])
        self.left -= len(line) + 1 + cost
        return self.left > 0

    def text(self) -> str:
        """Return the lines kept, one per line."""
        return "\n".join(self.lines)


def _short(e: Exception) -> str:
    message = str(e).strip().split("\n")[0] or type(e).__name__
    return message if len(message) <= 100 else message[:99] + "…"


# --- one extractor per type: bytes -> (own title or None, text) ---------------------------------


def _text(data: bytes, limit: int) -> tuple[str | None, str]:
    return None, _decode(data)


@functools.cache
def _markdown_renderer():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


# YAML front matter (--- … ---, Jekyll, Hugo) or TOML (+++ … +++, Hugo, Zola).
_FRONT_MATTER = re.compile(r"\A(?:---\n(.*?)\n(?:---|\.\.\.)|\+\+\+\n(.*?)\n\+\+\+)\n", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title[ \t]*[:=][ \t]*(.+)$", re.MULTILINE)


def _markdown(data: bytes, limit: int) -> tuple[str | None, str]:
    source = _decode(data)
    # Front matter would otherwise render as a heading full of keys.
    front = _FRONT_MATTER.match(source)
    own = _FRONT_TITLE.search(front.group(1) or front.group(2)) if front else None
    title, text = _html_to_text(_markdown_renderer().render(source[front.end() if front else 0 :]))
    return (own.group(1).strip("'\" ") if own else title), text


def _html(data: bytes, limit: int) -> tuple[str | None, str]:
    return _html_to_text(_decode(data, _declared_html_codec(data)))


def _declared_html_codec(data: bytes) -> str | None:
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    try:
        name = codecs.lookup(declared).name if declared else None
    except LookupError:
        return None
    # As browsers do: "latin-1" and "ascii" labels mean windows-1252, and a UTF-16 label
    # inside markup that was readable as ASCII is a mistake.
    if name in ("iso8859-1", "ascii"):
        return "cp1252"
    return None if name and name.startswith(("utf-16", "utf-32")) else name


# Not "head": html.parser leaves an unclosed <head> wrapping the whole <body>.
_HIDDEN = {"script", "style", "noscript", "template", "title"}
# A page's chrome, repeated on every page of a site: indexed, a footer's "Quick links: wifi,
# parking" made every page match `wifi`, and menus filled snippets. Left out only where the page
# says what its content is (a <main>, or role="main"): then its menus, banner, footer and sidebars
# outside the content (<nav>, <header>, <footer>, <aside>, or an ARIA landmark role) go; inside
# <main> or an <article> nothing does. On a page that does not say, only a <nav> that is a list of
# links (most of its text in <a>) goes: a blog's own header and footer, an EPUB chapter's heading
# and footnotes, a <nav> left unclosed around the article, all stay. So does a page left with under
# a quarter of its text (a <main> that says only "Loading…").
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
_CHROME_TAGS = {"nav", "header", "footer", "aside"}
_CONTENT_ROLES = {"main", "article"}
_LINK_SHARE = 0.6  # of a <nav>'s text in links, for it to be a menu
_MENU_NODES = 2000  # nodes of a <nav> looked at to tell; a larger one is kept
_BLOCKS = re.compile(
    r"address|article|aside|blockquote|caption|dd|details|dialog|div|dl|dt|fieldset|figcaption|figure|footer"
    r"|form|h[1-6]|header|hgroup|hr|legend|li|main|nav|ol|option|p|pre|section|summary|table|tbody|tfoot|thead|tr|ul"
)
_HEADINGS = re.compile(r"^h[1-6]$")
# Decoding strips NULs, so one can mark block boundaries until the whitespace is collapsed.
_BREAK = "\x00"
_PRE_END = object()
_CONTENT_END = object()


def _html_to_text(markup: str) -> tuple[str | None, str]:
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        # bs4 warns when a short document looks like a file name or XML; it is still parsed right.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(markup, "html.parser")
    # An inline <svg> can carry its own <title>; that one names a picture, not the page.
    titles = [t for t in soup.find_all("title") if not t.find_parent("svg")]
    title = titles[0].get_text() if titles else None
    if not (title and title.strip()):
        heading = soup.find(_HEADINGS)
        title = heading.get_text(" ") if heading else None
    marked = soup.find("main") is not None or soup.find(attrs={"role": "main"}) is not None
    text, skipped = _visible_text(soup, skip_chrome=True, marked=marked)
    text = _lines(text)
    if not skipped:
        return title, text
    whole = _lines(_visible_text(soup, skip_chrome=False)[0])
    return title, text if len(text) * 4 >= len(whole) else whole


def _lines(text: str) -> str:
    lines = (" ".join(part.split()) for part in text.split(_BREAK))
    return "\n".join(line for line in lines if line)


def _roles(tag) -> set[str]:
    return set(str(tag.get("role", "")).lower().split())


def _chrome(tag, marked: bool) -> bool:
    """Return whether `tag`, outside the content, is the page's chrome (see _CHROME_ROLES)."""
    if marked:
        return tag.name in _CHROME_TAGS or bool(_roles(tag) & _CHROME_ROLES)
    return (tag.name == "nav" or "navigation" in _roles(tag)) and _menu(tag)


def _menu(tag) -> bool:
    """Return whether most of `tag`'s text is in links (looking at up to _MENU_NODES nodes)."""
    from bs4 import NavigableString, Tag

    text = linked = 0
    stack = [(child, False) for child in tag.contents]
    for _ in range(_MENU_NODES):
        if not stack:
            return text == 0 or linked >= _LINK_SHARE * text
        node, in_link = stack.pop()
        if type(node) is NavigableString:
            size = len(node.strip())
            text += size
            linked += size if in_link else 0
        elif isinstance(node, Tag):
            stack.extend((child, in_link or node.name == "a") for child in node.contents)
    return False


def _visible_text(soup: BeautifulSoup, skip_chrome: bool = True, marked: bool = False) -> tuple[str, bool]:
    """Return the page's text (blocks separated by _BREAK), and whether any chrome was left out of it."""
    # A stack instead of recursion or tree edits (bs4 inserts cost O(siblings)): huge or deeply
    # nested pages stay linear. `marked`: the page has a <main> (see _CHROME_ROLES).
    from bs4 import CData, NavigableString, Tag

    parts, stack, in_pre, in_content = [], [soup], 0, 0  # in <pre>; in the content or a kept <nav>
    skipped = False
    while stack:
        node = stack.pop()
        if node is _PRE_END:
            in_pre -= 1
        elif node is _CONTENT_END:
            in_content -= 1
        elif type(node) is str:  # a separator pushed below
            parts.append(node)
        elif type(node) in (NavigableString, CData):  # not comments, doctypes, ...
            parts.append(node.replace("\n", _BREAK) if in_pre else node)
        elif isinstance(node, Tag) and node.name not in _HIDDEN:
            if skip_chrome and not in_content and _chrome(node, marked):
                skipped = True
                continue
            if node.name == "br":
                parts.append(_BREAK)
            elif _BLOCKS.fullmatch(node.name):
                parts.append(_BREAK)
                stack.append(_BREAK)
            elif node.name in ("td", "th"):
                stack.append(" ")
            if node.name == "pre":
                in_pre += 1
                stack.append(_PRE_END)
            elif node.name in ("main", "article", "nav") or _roles(node) & _CONTENT_ROLES:
                in_content += 1  # (a <nav> kept is kept whole: the ones inside are not weighed again)
                stack.append(_CONTENT_END)
            stack.extend(reversed(node.contents))
    return "".join(parts), skipped


def _pdf(data: bytes, limit: int) -> tuple[str | None, str]:
    from pypdf import PasswordType, PdfReader

    # Library errors become "could not read PDF: ..." in extract().
    reader = PdfReader(io.BytesIO(data))
    # Many PDFs are encrypted only to restrict printing; they open with an empty password.
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise ExtractionError("could not read PDF: it is password-protected")
    title = reader.metadata.title if reader.metadata else None
    lines = _Lines(limit)
    for page in reader.pages:
        if not lines.add(page.extract_text() or ""):
            break
    return title, lines.text()


def _docx(data: bytes, limit: int) -> tuple[str | None, str]:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    title, lines = document.core_properties.title or None, []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(_table_lines(block))
            continue
        lines.append(block.text)
        style = block.style.name if block.style is not None else ""
        if not title and style.startswith(("Heading", "Title")) and block.text.strip():
            title = block.text
    return title, "\n".join(lines + _margins(document))


def _margins(document) -> list[str]:
    """Return the lines of a DOCX's headers and footers, after its body, each text once."""
    from docx.table import Table

    lines: dict[str, None] = {}  # in order, without the repeats of one header in every section
    for section in document.sections:
        for margin in (
            section.first_page_header,
            section.header,
            section.even_page_header,
            section.first_page_footer,
            section.footer,
            section.even_page_footer,
        ):
            if margin.is_linked_to_previous:
                continue  # none of its own: the previous section's, already read
            for block in margin.iter_inner_content():
                for line in _table_lines(block) if isinstance(block, Table) else [block.text]:
                    if line.strip():
                        lines[line] = None
    return list(lines)


def _table_lines(table: Table) -> list[str]:
    lines = []
    for row in table.rows:
        cells = list(dict.fromkeys(row.cells))  # a merged cell repeats per grid column
        lines.append(" ".join(cell.text for cell in cells))
        for cell in cells:
            for nested in cell.tables:
                lines.extend(_table_lines(nested))
    return lines


# --- zip-based formats: checked before a library unpacks them ----------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office's encrypted files, and its pre-2007 formats
_FONT_SUFFIXES = (".otf", ".ttf", ".woff", ".woff2")
_CIPHER_URI = re.compile(rb"<(?:\w+:)?CipherReference\b[^>]*\bURI\s*=\s*[\"']([^\"']*)[\"']")


def unpacked_cap(limit: int) -> int:
    """Return the most bytes a zip-based document may unpack to, under a file size limit of `limit`."""
    return max(UNPACKED_PER_LIMIT * limit, UNPACKED_MIN)


def _check_zip(data: bytes, kind: str, limit: int) -> None:
    """Refuse a zip-based document that is not a zip, is encrypted, or would unpack to too much."""
    name = kind.upper()
    if data.startswith(_OLE_MAGIC):
        raise ExtractionError(f"could not read {name}: it is password-protected, or in the older binary format")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as e:
        raise ExtractionError(f"could not read {name}: not a valid zip archive ({_short(e)})") from None
    with archive:
        members = archive.infolist()
        # The sizes come from the archive's directory, and a member is never read past its declared
        # size (zipfile fails the CRC check there), so they bound what the library keeps.
        unpacked, cap = sum(member.file_size for member in members), unpacked_cap(limit)
        if unpacked > cap:
            raise ExtractionError(
                f"could not read {name}: it would unpack to {_human_size(unpacked)}, "
                f"over the {_human_size(cap)} limit (a zip bomb?)"
            )
        if any(member.flag_bits & 0x1 for member in members):
            raise ExtractionError(f"could not read {name}: it is password-protected")
        _check_members(archive, name)
        names = set(archive.namelist())
        odf = kind in ("odt", "ods", "odp") and "META-INF/manifest.xml" in names
        # An encrypted OpenDocument is a plain zip whose parts are ciphertext.
        if odf and b"encryption-data" in archive.read("META-INF/manifest.xml"):
            raise ExtractionError(f"could not read {name}: it is password-protected")
        if kind == "epub" and "META-INF/encryption.xml" in names:
            # Publishers obfuscate embedded fonts routinely; encrypted chapters mean DRM.
            uris = _CIPHER_URI.findall(archive.read("META-INF/encryption.xml"))
            if any(not uri.decode("utf-8", "replace").lower().endswith(_FONT_SUFFIXES) for uri in uris):
                raise ExtractionError(f"could not read {name}: it is DRM-protected")


def _check_members(archive: zipfile.ZipFile, name: str) -> None:
    """Unpack every member a chunk at a time, so that one whose declared size lies fails here.

    The libraries read a whole member at once, and zipfile then inflates all that the data holds
    before cutting it to the declared size: a 1 MB DOCX declaring 1 KB for a 1 GB part took 2.1 GB
    before its CRC failed. Read in chunks, it fails after its declared size (and a chunk).
    """
    for member in archive.infolist():
        if member.is_dir():
            continue
        try:
            with archive.open(member) as part:
                while part.read(ZIP_CHUNK):
                    pass
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as e:
            raise ExtractionError(
                f"could not read {name}: {member.filename[:80]!r} is damaged or lies about its size ({_short(e)})"
            ) from None


# --- OpenDocument, PowerPoint, Excel, EPUB --------------------------------------------------------

_ODF_BLOCKS = {(TEXTNS, "p"), (TEXTNS, "h")}
_ODF_ROW = (TABLENS, "table-row")
_ODF_WHITE = str.maketrans("\t\r\n", "   ")
_ODF_SPACE = re.compile(" {2,}")
_ODF_BREAKS = {(TEXTNS, "line-break"): "\n", (TEXTNS, "tab"): "\t", (TEXTNS, "s"): " "}


def _odf(data: bytes, limit: int) -> tuple[str | None, str]:
    from odf import dc as odf_dc
    from odf import opendocument

    # odfpy prints a whole XML part to stdout when it cannot parse one (a styles.xml with a repeated
    # attribute, as some converters write): that would corrupt `index --json` and the server's log.
    # Its module's own `print` is replaced; the part that matters is checked here first.
    opendocument.print = _silent
    # odfpy reports a part it cannot parse by printing it, and goes on without it: a broken
    # content.xml must be a failure, not an empty or half-read document.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "content.xml" not in archive.namelist():
            raise ValueError("it has no content.xml")  # extract() names the type
        try:
            xml.parsers.expat.ParserCreate().Parse(archive.read("content.xml"), True)
        except xml.parsers.expat.ExpatError as e:
            raise ValueError(f"content.xml is not well-formed XML ({e})") from None
    document = opendocument.load(io.BytesIO(data))
    titles = document.meta.getElementsByType(odf_dc.Title) if document.meta else []
    title = _odf_text(titles[0]) if titles else None
    lines, stack = _Lines(limit), [document.body]
    # A stack, not recursion: a deeply nested file must not exhaust Python's stack.
    while stack:
        node = stack.pop()
        if node.qname in _ODF_BLOCKS or node.qname == _ODF_ROW:
            # A table row is one line, its cells side by side, as DOCX tables are read.
            if not lines.add(_odf_text(node)):
                break
        else:
            stack.extend(reversed([child for child in node.childNodes if child.nodeType == child.ELEMENT_NODE]))
    return title, lines.text()


def _odf_text(element) -> str:
    """Return the text of a paragraph or heading and everything inside it."""
    # Not odfpy's teletype.extractText: it expands <text:s text:c="N"/> into N spaces, whatever N.
    parts, stack = [], [element]
    while stack:
        node = stack.pop()
        if node.nodeType == node.TEXT_NODE:
            parts.append(node.data.translate(_ODF_WHITE))
        elif node.qname in _ODF_BREAKS:
            parts.append(_ODF_BREAKS[node.qname])
        else:
            if node is not element and node.qname in _ODF_BLOCKS:
                parts.append(" ")  # between the paragraphs of a table cell or a frame
            stack.extend(reversed(node.childNodes))
    # As ODF says, runs of white space in the markup are one space; <text:s/>, <text:tab/> and
    # <text:line-break/> are the spacing that counts.
    return _ODF_SPACE.sub(" ", "".join(parts)).strip(" ")


# python-pptx, openpyxl and docutils are imported when first needed: together they would add a
# fifth of a second to the start of every command, `search` included.


def _pptx(data: bytes, limit: int) -> tuple[str | None, str]:
    import pptx
    from pptx.shapes.group import GroupShape

    deck = pptx.Presentation(io.BytesIO(data))
    title, lines = None, _Lines(limit)
    for slide in deck.slides:
        heading = slide.shapes.title
        if title is None and heading is not None and heading.has_text_frame and heading.text_frame.text.strip():
            title = heading.text_frame.text
        shapes = list(reversed(slide.shapes))
        while shapes:
            shape = shapes.pop()
            if isinstance(shape, GroupShape):
                shapes.extend(reversed(shape.shapes))
            elif shape.has_text_frame:
                for paragraph in shape.text_frame.paragraphs:
                    lines.add(paragraph.text.replace("\v", "\n"))  # "\v": a line break inside a paragraph
            elif shape.has_table:
                for row in shape.table.rows:
                    lines.add(" ".join(cell.text for cell in row.cells))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            lines.add(slide.notes_slide.notes_text_frame.text)
        if lines.left <= 0:
            break
    # A presentation's own title property is often the template's ("PowerPoint Presentation").
    return title or deck.core_properties.title or None, lines.text()


def _xlsx(data: bytes, limit: int) -> tuple[str | None, str]:
    import openpyxl

    with warnings.catch_warnings():
        # openpyxl warns about styles, validations and extensions it does not read; text is unaffected.
        warnings.simplefilter("ignore", UserWarning)
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            title, lines = book.properties.title or None, _Lines(limit)
            for sheet in book.worksheets:
                if not lines.add(sheet.title):
                    break
                # Rows come padded with empty cells up to the widest one: those cost too, so a
                # sheet of a few far-flung cells cannot keep the reader busy for hours.
                for row in sheet.iter_rows(values_only=True):
                    cells = [str(value) for value in row if value is not None]
                    if title is None and "".join(cells).strip():
                        title = " ".join(cells)  # no title of its own: the first row with text, not `Sheet1`
                    if not lines.add(" ".join(cells), cost=len(row)):
                        break
                if lines.left <= 0:
                    break
        finally:
            book.close()
    return title, lines.text()


def _silent(*args, **kwargs) -> None:
    """Print nothing (odfpy's print, above)."""


def _epub(data: bytes, limit: int) -> tuple[str | None, str]:
    import ebooklib
    from ebooklib import epub

    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    titles = book.get_metadata("DC", "title")
    title, lines = (titles[0][0] if titles else None), _Lines(limit)
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        # The navigation page repeats the chapter titles; the chapters are read in reading order.
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        if not lines.add(_html(item.get_content(), limit)[1]):
            break
    return title, lines.text()


# --- RTF, e-mail, CSV, reStructuredText ---------------------------------------------------------

_RTF_CODEPAGE = re.compile(rb"\\ansicpg(\d+)")
_RTF_TITLE = re.compile(r"\{\\title\s?((?:[^{}\\]|\\.)*)\}")


def _rtf(data: bytes, limit: int) -> tuple[str | None, str]:
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip().startswith(b"{\\rtf"):
        raise ExtractionError("could not read RTF: it does not start with {\\rtf")
    declared = _RTF_CODEPAGE.search(data[:4096])
    codec = _codec(f"cp{int(declared.group(1))}" if declared else None) or "cp1252"
    source = data.decode(codec, "replace")
    own = _RTF_TITLE.search(source)
    title = rtf_to_text("{" + own.group(1) + "}", encoding=codec, errors="replace") if own else None
    return title, rtf_to_text(source, encoding=codec, errors="replace")


def _codec(name: str | None) -> str | None:
    """Return the Python codec for a declared charset name, or None if Python has none."""
    try:
        return codecs.lookup(name).name if name else None
    except LookupError:
        return None


MAIL_DEPTH = 3  # attached messages read inside attached messages, at most
_MAIL_HEADERS = ("From", "To", "Cc", "Date")


def _eml(data: bytes, limit: int) -> tuple[str | None, str]:
    return _mail(email.message_from_bytes(data, policy=email.policy.default), limit, MAIL_DEPTH)


def _mail(message: email.message.EmailMessage, limit: int, depth: int) -> tuple[str | None, str]:
    """Return a message's subject, and its headers, body and readable attachments as text."""
    title, lines = str(message.get("Subject") or "") or None, _Lines(limit)
    for name in _MAIL_HEADERS:
        if message.get(name):
            lines.add(f"{name}: {message.get(name)}")
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        text = _decode(body.get_payload(decode=True) or b"", _codec(body.get_content_charset()))
        text = _html_to_text(text)[1] if body.get_content_subtype() == "html" else text
        lines.add(text)
        # No subject: the body's first line, not the first header (`From: …`).
        title = title or next((line for line in text.splitlines() if line.strip()), None)
    # A message that is all an enclosed one (a bounce, a forward as attachment) has no body part.
    enclosing = message.get_content_type() == "message/rfc822"
    for part in [message] if enclosing else message.iter_attachments():
        if lines.left <= 0:
            break
        if part.get_content_type() == "message/rfc822" and depth > 0:
            attached = part.get_payload()[0]
            subject, text = _mail(attached, limit, depth - 1)
            lines.add(f"Attached message: {subject or ''}\n{text}")
            continue
        name = part.get_filename() or ""
        lines.add(f"Attachment: {name}")
        kind = SUPPORTED.get(_suffix(name).lower())
        if kind is not None:
            # An attachment that cannot be read leaves the rest of the message readable.
            with contextlib.suppress(ExtractionError):
                lines.add(_extract_kind(kind, part.get_payload(decode=True) or b"", limit)[1])
    return title, lines.text()


_CSV_DELIMITERS = ",;\t|"


def _csv(data: bytes, limit: int) -> tuple[str | None, str]:
    source = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(source[:4096], delimiters=_CSV_DELIMITERS)
    except csv.Error:  # one column, or nothing to tell by
        dialect = csv.excel
    lines = _Lines(limit)
    try:
        for row in csv.reader(io.StringIO(source), dialect):
            if not lines.add(" ".join(cell for cell in row if cell.strip())):
                break
    except csv.Error:  # a field over csv's size limit, a stray quote: still text
        return None, source
    return None, lines.text()


RST_TITLE_CHARS = 64 * 1024  # the title is at the top; docutils need not parse a whole book for it
_RST_SETTINGS = {
    "report_level": 5,  # none: a document's markup mistakes are not ours to print
    "halt_level": 5,
    "file_insertion_enabled": False,  # ".. include:: /etc/passwd" must not read the server's files
    "raw_enabled": False,
    "_disable_config": True,  # nor docutils.conf files from wherever the indexer runs
}


def _rst(data: bytes, limit: int) -> tuple[str | None, str]:
    import docutils.core

    source = _decode(data)
    settings = {**_RST_SETTINGS, "warning_stream": io.StringIO()}
    try:
        tree = docutils.core.publish_doctree(source[:RST_TITLE_CHARS], settings_overrides=settings)
    except Exception:  # docutils gave up on the markup: the title falls back to the first line
        return None, source
    return tree.get("title") or None, source


_EXTRACTORS = {
    "text": _text,
    "markdown": _markdown,
    "html": _html,
    "pdf": _pdf,
    "docx": _docx,
    "odt": _odf,
    "ods": _odf,
    "odp": _odf,
    "pptx": _pptx,
    "xlsx": _xlsx,
    "epub": _epub,
    "rtf": _rtf,
    "eml": _eml,
    "csv": _csv,
    "rst": _rst,
}
