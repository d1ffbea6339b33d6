"""Walk a corpus folder and turn each supported file into a Document: a title and plain text."""

from __future__ import annotations

import codecs
import errno
import hashlib
import io
import logging
import os
import re
import stat
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docx
from bs4 import BeautifulSoup, CData, MarkupResemblesLocatorWarning, NavigableString, Tag, XMLParsedAsHTMLWarning
from bs4.dammit import EncodingDetector
from charset_normalizer import from_bytes
from docx.table import Table
from markdown_it import MarkdownIt
from pypdf import PasswordType, PdfReader

SUPPORTED = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}

# Editors' and browsers' scratch files: backups, swap and lock files, partial downloads. They come
# and go as someone works and are not documents, so they are neither indexed nor reported.
SCRATCH_SUFFIXES = (".swp", ".swo", ".swx", ".part", ".crdownload", "~")
SCRATCH_PREFIXES = (".#", "~$")

# pypdf logs a warning for every damaged object it works around; the outcome is reported per file.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the corpus root, "/"-separated
    abspath: str
    type: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass
class Scan:
    files: list[SourceFile]
    skipped: list[str]
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


class ExtractionError(Exception):
    """A file's content cannot be turned into text; str(error) is the reason."""


# --- walking the corpus -------------------------------------------------------------------------


def is_scratch(name: str) -> bool:
    """Return whether a file name is an editor's or a download's scratch file, never indexed."""
    if name.endswith(SCRATCH_SUFFIXES) or name.startswith(SCRATCH_PREFIXES):
        return True
    return name.startswith("#") and name.endswith("#")  # Emacs auto-save


def scan(root: str | Path, max_bytes: int, only: Collection[str] | None = None) -> Scan:
    """List the supported files under root and report the ones that cannot be indexed.

    With `only` (corpus-relative paths of files or folders), just those and what is under them.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"corpus path is not a folder: {root}")
    found = Scan([], [], [])
    for path, abspath, info in _walk(root, root.resolve(strict=True), only):
        kind = SUPPORTED.get(_suffix(path).lower())
        if isinstance(info, str):
            found.failures.append(Failure(path, info))
        elif not stat.S_ISREG(info.st_mode):
            if kind:  # reading a FIFO or a device could block or never end
                found.failures.append(Failure(path, "not a regular file"))
        elif kind is None:
            found.skipped.append(path)
        elif info.st_size == 0:
            found.failures.append(Failure(path, "empty file"))
        elif info.st_size > max_bytes:
            limit = _human_size(max_bytes)
            found.failures.append(Failure(path, f"larger than the {limit} limit"))
        else:
            size, mtime_ns = info.st_size, info.st_mtime_ns
            found.files.append(SourceFile(path, abspath, kind, size, mtime_ns))
    found.files.sort(key=lambda f: f.path)
    found.skipped.sort()
    found.failures.sort(key=lambda f: f.path)
    return found


def _suffix(path: str) -> str:
    """Return PurePosixPath(path).suffix, without building a path object per file."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def _walk(root: Path, real_root: Path, only: Collection[str] | None) -> Iterator[tuple[str, str, os.stat_result | str]]:
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
            if entry.name.startswith("."):
                continue
            raw = entry.name.encode("utf-8", "surrogateescape")
            path = prefix + raw.decode("utf-8", "replace")
            try:
                if not path.endswith(entry.name):
                    # Paths go on to the index, JSON and terminals, which need valid Unicode.
                    yield path, entry.path, "file name is not valid UTF-8"
                elif entry.is_dir(follow_symlinks=False):
                    folders.append((entry.path, path + "/", None))
                elif is_scratch(entry.name):
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


def _follow(link: str, real_root: Path) -> tuple[str, os.stat_result | str]:
    try:
        target = Path(link).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        return link, "broken symlink"
    except RuntimeError:  # how Python < 3.13 reports a loop; later ones raise ELOOP
        return link, "symlink loop"
    if not target.is_relative_to(real_root):
        return link, "symlink points outside the corpus"
    if target.is_dir():
        # Following folder links invites loops and the same file under many paths.
        return link, "symlinked folder not followed"
    # Read the resolved target, so a link re-pointed after the scan cannot lead outside.
    return str(target), target.stat()


def _os_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if e.errno == errno.ELOOP:
        return "symlink loop"
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
        raise ExtractionError("empty file")
    extractor = _EXTRACTORS.get(src.type)
    if extractor is None:
        raise ExtractionError(f"unsupported type: {src.type}")
    try:
        title, text = extractor(data)
    except ExtractionError:
        raise
    except Exception as e:  # a library choking on one file must not stop the run
        raise ExtractionError(f"could not read {src.type.upper()}: {_short(e)}") from e
    text = _tidy(text)
    if not text.strip():
        raise ExtractionError("no text found")
    own_title = " ".join((title or "").split())
    title = _shorten(own_title) or _shorten(text) or PurePosixPath(src.path).name
    sha256 = content_hash(data)
    return Document(src.path, title, text, src.type, len(data), src.mtime_ns, sha256)


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
    return None


def _damaged_utf8(data: bytes) -> str | None:
    # UTF-8 with a few broken bytes (a bad copy, a cut-off write) is still UTF-8: read as a
    # legacy code page it would become mojibake, or be refused whole. Legacy text almost
    # never forms valid multi-byte sequences, so many of those and few errors decide it.
    text = data.decode("utf-8", "replace")
    damaged = text.count("\ufffd")
    intact = sum(ch > "\x7f" for ch in text) - damaged
    return text if intact >= 4 * damaged else None


def _accept(text: str) -> str:
    # Text has almost no control characters; binary data decoded as text has plenty.
    if len(_CONTROL.findall(text)) > 0.01 * len(text):
        raise ExtractionError("looks like binary data")
    return _tidy(text)


def _tidy(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _shorten(text: str, limit: int = 120) -> str:
    line = next((" ".join(s.split()) for s in text.split("\n") if s.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] if " " in line[:limit] else line[:limit]
    return cut.rstrip(" ,;:-") + "…"


def _short(e: Exception) -> str:
    message = str(e).strip().split("\n")[0] or type(e).__name__
    return message if len(message) <= 100 else message[:99] + "…"


# --- one extractor per type: bytes -> (own title or None, text) ---------------------------------


def _text(data: bytes) -> tuple[str | None, str]:
    return None, _decode(data)


_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.DOTALL)
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+)$", re.MULTILINE)


def _markdown(data: bytes) -> tuple[str | None, str]:
    source = _decode(data)
    # YAML front matter (Jekyll, Hugo) would otherwise render as a heading full of keys.
    front = _FRONT_MATTER.match(source)
    own = _FRONT_TITLE.search(front.group(1)) if front else None
    title, text = _html_to_text(_MARKDOWN.render(source[front.end() if front else 0 :]))
    return (own.group(1).strip("'\" ") if own else title), text


def _html(data: bytes) -> tuple[str | None, str]:
    return _html_to_text(_decode(data, _declared_html_codec(data)))


def _declared_html_codec(data: bytes) -> str | None:
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
_BLOCKS = re.compile(
    r"address|article|aside|blockquote|caption|dd|details|dialog|div|dl|dt|fieldset|figcaption|figure|footer"
    r"|form|h[1-6]|header|hgroup|hr|legend|li|main|nav|ol|option|p|pre|section|summary|table|tbody|tfoot|thead|tr|ul"
)
_HEADINGS = re.compile(r"^h[1-6]$")
# Decoding strips NULs, so one can mark block boundaries until the whitespace is collapsed.
_BREAK = "\x00"
_PRE_END = object()


def _html_to_text(markup: str) -> tuple[str | None, str]:
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
    lines = (" ".join(part.split()) for part in _visible_text(soup).split(_BREAK))
    return title, "\n".join(line for line in lines if line)


def _visible_text(soup: BeautifulSoup) -> str:
    # A stack instead of recursion or tree edits (bs4 inserts cost O(siblings)): huge or deeply
    # nested pages stay linear.
    parts, stack, in_pre = [], [soup], 0
    while stack:
        node = stack.pop()
        if node is _PRE_END:
            in_pre -= 1
        elif type(node) is str:  # a separator pushed below
            parts.append(node)
        elif type(node) in (NavigableString, CData):  # not comments, doctypes, ...
            parts.append(node.replace("\n", _BREAK) if in_pre else node)
        elif isinstance(node, Tag) and node.name not in _HIDDEN:
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
            stack.extend(reversed(node.contents))
    return "".join(parts)


def _pdf(data: bytes) -> tuple[str | None, str]:
    # Library errors become "could not read PDF: ..." in extract().
    reader = PdfReader(io.BytesIO(data))
    # Many PDFs are encrypted only to restrict printing; they open with an empty password.
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        raise ExtractionError("could not read PDF: it is password-protected")
    title = reader.metadata.title if reader.metadata else None
    return title, "\n".join(page.extract_text() or "" for page in reader.pages)


def _docx(data: bytes) -> tuple[str | None, str]:
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
    return title, "\n".join(lines)


def _table_lines(table: Table) -> list[str]:
    lines = []
    for row in table.rows:
        cells = list(dict.fromkeys(row.cells))  # a merged cell repeats per grid column
        lines.append(" ".join(cell.text for cell in cells))
        for cell in cells:
            for nested in cell.tables:
                lines.extend(_table_lines(nested))
    return lines


_EXTRACTORS = {"text": _text, "markdown": _markdown, "html": _html, "pdf": _pdf, "docx": _docx}
