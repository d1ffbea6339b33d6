"""Tests for search.documents: walking a corpus and turning files into title and text."""

from __future__ import annotations

import builtins
import codecs
import hashlib
import io
import os
import pickle
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

from search.documents import (
    SUPPORTED,
    ExtractionError,
    Failure,
    SourceFile,
    content_hash,
    extract,
    load,
    read_source,
    scan,
)

MB = 1024 * 1024
NOBODY = 65534  # the unprivileged user and group of Debian and most Linux systems


def unprivileged(work: Callable[[], object]) -> object:
    """Return work(), run as nobody in a forked child when we are root (root ignores file modes)."""
    if os.geteuid() != 0:
        return work()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome = ("ok", work())
        except BaseException as problem:  # anything at all is reported to the parent
            outcome = ("raised", problem)
        with os.fdopen(write_end, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        kind, value = pickle.load(pipe)
    os.waitpid(child, 0)
    if kind == "raised":
        raise value
    return value


FRENCH = (
    "À l'été, les élèves étudient à l'école près de la forêt.\n"
    "Ça coûte très cher, mais c'est déjà réglé.\n"
    "Où est la bibliothèque ? Là-bas, derrière l'église.\n"
)
FRENCH_CP1252 = "Le cœur a ses raisons que la raison ne connaît point.\n« C’est “déjà” vu », dit-il.\n"
GERMAN = (
    "Die Größe der Straße überrascht die Bürger.\n"
    "Ärzte und Übersetzer wohnen in München an der Isar.\n"
    "Schöne Grüße aus Köln!\n"
)
RUSSIAN = (
    "Ёжик в тумане шёл через лес.\n"
    "Москва — столица России, и её жители любят чай.\n"
    "Зимой всё покрыто снегом, а ёлки стоят зелёные.\n"
)


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def source(root: Path, rel: str, data: bytes | str) -> SourceFile:
    path = write(root, rel, data)
    st = path.stat()
    kind = SUPPORTED[path.suffix.lower()]
    return SourceFile(rel, str(path), kind, st.st_size, st.st_mtime_ns)


def make_pdf(*pages: str, title: str | None = None, password: str | None = None, method: str = "RC4") -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for page in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, page)
    if password is not None:
        pdf.set_encryption(owner_password="owner", user_password=password, encryption_method=EncryptionMethod[method])
    return bytes(pdf.output())


def make_docx(title: str = "", heading: str = "", paragraphs: tuple[str, ...] = ()) -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    if heading:
        document.add_heading(heading, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Name", (0, 1): "Age", (1, 0): "Bob", (1, 1): "37"}.items():
        table.cell(row, col).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- plain text and encodings -------------------------------------------------------------------

ENCODED = {
    "utf-8": RUSSIAN.encode("utf-8"),
    "utf-8-sig": codecs.BOM_UTF8 + GERMAN.encode("utf-8"),
    "utf-16-le-bom": RUSSIAN.encode("utf-16"),  # Python writes a BOM in native (LE) order
    "utf-16-be-bom": codecs.BOM_UTF16_BE + FRENCH.encode("utf-16-be"),
    "utf-32-bom": GERMAN.encode("utf-32"),
    "cp1251-russian": RUSSIAN.encode("cp1251"),
    "koi8-r-russian": RUSSIAN.replace("—", "-").encode("koi8-r"),
    "latin-1-french": FRENCH.encode("latin-1"),
    "latin-1-german": GERMAN.encode("latin-1"),
    "cp1252-french": FRENCH_CP1252.encode("cp1252"),
}
EXPECTED = {
    "utf-8": RUSSIAN,
    "utf-8-sig": GERMAN,
    "utf-16-le-bom": RUSSIAN,
    "utf-16-be-bom": FRENCH,
    "utf-32-bom": GERMAN,
    "cp1251-russian": RUSSIAN,
    "koi8-r-russian": RUSSIAN.replace("—", "-"),
    "latin-1-french": FRENCH,
    "latin-1-german": GERMAN,
    "cp1252-french": FRENCH_CP1252,
}


@pytest.mark.parametrize("encoding", ENCODED)
def test_text_is_decoded_exactly(tmp_path, encoding):
    document = load(source(tmp_path, "doc.txt", ENCODED[encoding]))
    assert document.text == EXPECTED[encoding]
    assert document.title == EXPECTED[encoding].split("\n")[0]


# charset_normalizer alone gets these wrong (cp949 and cp1006/cp1257 respectively).
@pytest.mark.parametrize(
    ("text", "encoding"),
    [("Привет, ёж!\n", "cp1251"), ("Café crème\n", "latin-1"), ("Smörgåsbord på Åland\n", "cp1252")],
)
def test_short_legacy_text_is_decoded(tmp_path, text, encoding):
    assert load(source(tmp_path, "short.txt", text.encode(encoding))).text == text


def test_utf16_without_bom(tmp_path):
    data = "Plain ASCII text\nsaved as UTF-16.\n".encode("utf-16-le")
    assert load(source(tmp_path, "u16.txt", data)).text == "Plain ASCII text\nsaved as UTF-16.\n"


def test_newlines_are_normalised_and_nuls_stripped(tmp_path):
    data = b"first line\r\nsecond line\rthird" + b" line" * 40 + b"\x00\n"
    document = load(source(tmp_path, "dos.text", data))
    assert document.text == "first line\nsecond line\nthird" + " line" * 40 + "\n"


JUNK = {
    "random": random.Random(1).randbytes(4096),
    "urandom": os.urandom(4096),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(2).randbytes(4000),
    "nuls": b"\x00" * 3000 + b"some text" * 10,
    "controls": bytes(range(32)) * 100,
}


@pytest.mark.parametrize("name", ["junk.txt", "junk.md", "junk.html"])
@pytest.mark.parametrize("junk", JUNK)
def test_binary_junk_is_rejected(tmp_path, name, junk):
    with pytest.raises(ExtractionError, match="looks like binary data"):
        load(source(tmp_path, name, JUNK[junk]))


def test_undecodable_text_is_rejected(tmp_path):
    rng = random.Random(3)
    data = bytes(rng.randrange(0x80, 0x100) for _ in range(2000))  # no control bytes, no sense
    with pytest.raises(ExtractionError, match="no known encoding fits"):
        load(source(tmp_path, "mojibake.txt", data))


def test_title_is_first_non_empty_line(tmp_path):
    document = load(source(tmp_path, "t.txt", "\n\n   Quarterly \t report  \nThe body.\n"))
    assert document.title == "Quarterly report"


def test_long_first_line_is_cut_at_a_word(tmp_path):
    line = " ".join(["wordy"] * 60)
    title = load(source(tmp_path, "long.txt", line + "\nrest")).title
    assert title.endswith("…") and len(title) <= 121
    assert line.startswith(title[:-1]) and line[len(title) - 1] == " "


def test_whitespace_only_text_has_no_text(tmp_path):
    with pytest.raises(ExtractionError, match="no text found"):
        load(source(tmp_path, "blank.txt", " \n\t\n  "))


def test_document_metadata(tmp_path):
    src = source(tmp_path, "notes/meta.txt", "Hello there\n")
    document = load(src)
    assert document.path == "notes/meta.txt" and document.type == "text"
    assert document.size == 12 and document.mtime_ns == src.mtime_ns
    assert document.sha256 == hashlib.sha256(b"Hello there\n").hexdigest()
    assert content_hash(b"Hello there\n") == document.sha256


# --- HTML ---------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>Fish &amp;
  Chips</title><style>.secret-style { color: red }</style>
<script>var secretScript = 1;</script></head>
<body><h1>Menu</h1>
<p>Fresh <b>cod</b>
   daily.</p><p>Second&nbsp;paragraph &lt;ok&gt;</p>
<noscript>Enable secret JavaScript</noscript><template><p>secret template</p></template>
<script>alert("secret")</script><!-- secret comment -->
<ul><li>One</li><li>Two<br>lines</li></ul>
<table><tr><th>Name</th><th>Age</th></tr><tr><td>Bob</td><td>37</td></tr></table>
</body></html>"""


def test_html_visible_text_and_title(tmp_path):
    document = load(source(tmp_path, "page.html", PAGE))
    assert document.title == "Fish & Chips"
    assert document.text == ("Menu\nFresh cod daily.\nSecond paragraph <ok>\nOne\nTwo\nlines\nName Age\nBob 37")
    assert "secret" not in document.text.lower()


def test_html_leaves_out_the_pages_chrome_but_not_an_articles_own(tmp_path):
    html = (
        "<html><head><title>Accounts</title></head><body>"
        "<header><a href='/'>Home</a><nav>Password reset | Benefits</nav></header>"
        "<div role='navigation'>Home &rsaquo; Accounts</div>"
        "<main><article><header><h1>Accounts and passwords</h1><p>By the IT desk</p></header>"
        "<p>Reset your password at the portal.</p><aside>See also: VPN</aside>"
        "<footer>Updated in March</footer></article></main>"
        "<aside>Company news</aside><footer>Quick links: wifi, parking</footer></body></html>"
    )
    document = load(source(tmp_path, "accounts.html", html))
    assert document.text == (
        "Accounts and passwords\nBy the IT desk\nReset your password at the portal.\nSee also: VPN\nUpdated in March"
    )
    # A page that is all chrome keeps it: something to find it by.
    only = load(source(tmp_path, "menu.html", "<html><body><nav>Sitemap: wifi, parking</nav></body></html>"))
    assert only.text == "Sitemap: wifi, parking"


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        # No <main>: a blog's own header, note and footer are its text; only a menu of links goes.
        (
            "<header><h1>Kayaking in Villeneuve</h1></header><nav><a>Home</a> <a>About</a></nav>"
            "<p>We paddled all day on the lake and camped by the shore.</p><aside>A zanzibarite note</aside>"
            "<footer>Tags: travel</footer>",
            ["Kayaking", "zanzibarite", "Tags: travel"],
        ),
        # An EPUB chapter: its heading and footnotes.
        (
            "<section><header><h1>The Lighthouse</h1></header><p>Text of the chapter.</p>"
            "<aside>A footnote word</aside></section>",
            ["Lighthouse", "footnote"],
        ),
        # A <nav> left unclosed around the article is not a menu.
        ("<p>Intro.</p><nav><a>Home</a><div>The article goes on with no links at all.</div>", ["goes on"]),
        # role="main" is content, and so is what it holds, a sidebar's role included.
        (
            "<div role='main'><section><header><h2>Option retention</h2></header><p>Sets how long.</p></section>"
            "<table role='complementary'><tr><td>Near threatened</td></tr></table></div>",
            ["retention", "Near threatened"],
        ),
        # A <main> that says only "Loading…": the header is most of the page, and stays.
        (
            "<header><h1>Pelican backup</h1><p>Backups for every laptop in the company, kept a year.</p></header>"
            "<main>Loading…</main>",
            ["Pelican", "every laptop"],
        ),
    ],
)
def test_html_keeps_what_is_not_a_pages_chrome(tmp_path, html, kept):
    text = load(source(tmp_path, "page.html", f"<html><body>{html}</body></html>")).text
    assert all(words in text for words in kept), text


def test_a_huge_nested_menu_stays_fast(tmp_path):
    html = "<nav>" * 20_000 + "deep" + "</nav>" * 20_000 + "<main><p>The body of the page.</p></main>"
    started = time.perf_counter()
    load(source(tmp_path, "deep.html", html))
    assert time.perf_counter() - started < 10  # linear: ~0.2 s here


def test_html_title_from_first_heading(tmp_path):
    html = "<html><body><p>Intro</p><h2>The <em>real</em> heading</h2><h1>Later</h1></body></html>"
    assert load(source(tmp_path, "h.htm", html)).title == "The real heading"


def test_html_title_from_first_line(tmp_path):
    assert load(source(tmp_path, "p.html", "<div>Just <i>some</i> words</div>")).title == ("Just some words")


def test_html_ignores_svg_title_and_keeps_pre_lines(tmp_path):
    html = "<svg><title>icon</title></svg><pre>line one\nline two</pre>"
    document = load(source(tmp_path, "pre.html", html))
    assert document.title == "line one" and document.text == "line one\nline two"


@pytest.mark.parametrize("meta", ['<meta charset="windows-1251">', ""])
def test_html_legacy_encoding(tmp_path, meta):
    html = f"<html><head>{meta}<title>Ёлка</title></head><body><p>{RUSSIAN}</p></body></html>"
    document = load(source(tmp_path, "ru.html", html.encode("cp1251")))
    assert document.title == "Ёлка"
    assert document.text == " ".join(RUSSIAN.split())


def test_html_with_unclosed_head_keeps_its_body(tmp_path):
    html = "<html><head><title>T</title><meta charset=utf-8><body><p>Body text</p></body></html>"
    assert load(source(tmp_path, "sloppy.html", html)).text == "Body text"


def test_html_without_text_is_an_error(tmp_path):
    html = "<html><head><title>Empty</title><script>run()</script></head><body>  </body></html>"
    with pytest.raises(ExtractionError, match="no text found"):
        load(source(tmp_path, "empty.html", html))


# --- Markdown -----------------------------------------------------------------------------------

README = """# Install *Seedsearch*

Run **make run** and open [the site](http://127.0.0.1:8000/path).

- one
- two

```
code here
```
"""


def test_markdown_text_is_readable(tmp_path):
    document = load(source(tmp_path, "README.md", README))
    assert document.title == "Install Seedsearch"
    assert document.text == ("Install Seedsearch\nRun make run and open the site.\none\ntwo\ncode here")


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("Some intro text.\n\nRelease notes\n=============\n\nBody.\n", "Release notes"),
        ("Intro.\n\n### Third level\n", "Third level"),
        ("No heading at all,\njust *text*.\n", "No heading at all, just text."),
        ('---\ntitle: "Hugo post"\ndate: 2024-01-01\n---\n\n# Other\n', "Hugo post"),
        ('+++\ntitle = "Zola post"\ndate = 2024-01-01\n+++\n\n# Other\n', "Zola post"),  # TOML front matter
    ],
)
def test_markdown_titles(tmp_path, markdown, title):
    document = load(source(tmp_path, "notes.markdown", markdown))
    assert document.title == title
    assert "date" not in document.text


# --- PDF and DOCX -------------------------------------------------------------------------------


def test_pdf_title_and_text(tmp_path):
    data = make_pdf("Revenue grew in the north.", "Turbines on page two.", title="Annual Report")
    document = load(source(tmp_path, "report.pdf", data))
    assert document.title == "Annual Report"
    assert document.text == "Revenue grew in the north.\nTurbines on page two."


def test_pdf_without_title_uses_first_line(tmp_path):
    document = load(source(tmp_path, "memo.pdf", make_pdf("Memo to staff\nBody text.")))
    assert document.title == "Memo to staff"


# Acrobat and Word restrict printing or editing with AES and an empty user password: pypdf needs
# the `cryptography` package to decrypt AES.
@pytest.mark.parametrize("method", ["RC4", "AES_128", "AES_256"])
def test_pdf_with_empty_user_password_is_read(tmp_path, method):
    document = load(source(tmp_path, "locked.pdf", make_pdf("Open to all.", password="", method=method)))
    assert document.text == "Open to all."


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a pdf at all", "could not read PDF"),
        (b"%PDF-1.4\n1 0 obj garbage", "could not read PDF"),
        (make_pdf("Top secret.", password="secret"), "password-protected"),
        (make_pdf(), "no text found"),
    ],
)
def test_unreadable_pdf(tmp_path, data, reason):
    with pytest.raises(ExtractionError, match=reason):
        load(source(tmp_path, "bad.pdf", data))


def test_docx_title_property_text_and_table(tmp_path):
    data = make_docx(title="Design Notes", heading="Overview", paragraphs=("First point.",))
    document = load(source(tmp_path, "design.docx", data))
    assert document.title == "Design Notes"
    assert document.text == "Overview\nFirst point.\nName Age\nBob 37"


@pytest.mark.parametrize(
    ("heading", "paragraphs", "title"),
    [("Overview", ("Body.",), "Overview"), ("", ("Plain first paragraph.", "More."), "Plain first paragraph.")],
)
def test_docx_title_without_property(tmp_path, heading, paragraphs, title):
    data = make_docx(heading=heading, paragraphs=paragraphs)
    assert load(source(tmp_path, "d.docx", data)).title == title


@pytest.mark.parametrize("data", [b"not a docx", b"PK\x03\x04" + b"\x00" * 100, make_pdf("x")])
def test_broken_docx(tmp_path, data):
    with pytest.raises(ExtractionError, match="could not read DOCX"):
        load(source(tmp_path, "broken.docx", data))


@pytest.mark.parametrize("kind", sorted(set(SUPPORTED.values())))
@pytest.mark.parametrize("junk", JUNK)
def test_extract_raises_only_extraction_error(tmp_path, kind, junk):
    src = SourceFile("x", str(tmp_path / "x"), kind, 1, 0)
    with pytest.raises(ExtractionError):
        extract(src, JUNK[junk])


def test_extract_empty_data(tmp_path):
    with pytest.raises(ExtractionError, match="empty file"):
        extract(SourceFile("x.txt", "/nonexistent", "text", 0, 0), b"")


def test_read_source_of_vanished_file(tmp_path):
    src = source(tmp_path, "gone.txt", "soon gone")
    os.remove(src.abspath)
    with pytest.raises(ExtractionError, match="disappeared"):
        read_source(src)


# --- scanning -----------------------------------------------------------------------------------


def paths(found) -> list[str]:
    return [f.path for f in found.files]


def test_scan_walks_folders_and_classifies(tmp_path):
    for rel in ["a.txt", "sub/b.md", "sub/deeper/c.HTML", "d.pdf", "e.docx", "f.text"]:
        write(tmp_path, rel, "content")
    write(tmp_path, ".hidden.txt", "hidden")
    write(tmp_path, ".git/config.txt", "hidden")
    write(tmp_path, "sub/.cache/x.txt", "hidden")
    write(tmp_path, "image.png", "png")
    write(tmp_path, "sub/script.py", "print()")
    write(tmp_path, "empty.txt", b"")
    write(tmp_path, "big.txt", "x" * 101)
    found = scan(tmp_path, max_bytes=100)
    assert paths(found) == ["a.txt", "d.pdf", "e.docx", "f.text", "sub/b.md", "sub/deeper/c.HTML"]
    assert [f.type for f in found.files] == ["text", "pdf", "docx", "text", "markdown", "html"]
    assert found.skipped == [
        Failure("image.png", "unsupported file type: .png"),
        Failure("sub/script.py", "unsupported file type: .py"),
    ]
    assert found.failures == [
        Failure("big.txt", "larger than the 100 bytes limit", keeps_previous=False),
        Failure("empty.txt", "empty file", keeps_previous=False),
    ]
    first = found.files[0]
    assert first.abspath == str(tmp_path / "a.txt") and first.size == 7
    assert first.mtime_ns == (tmp_path / "a.txt").stat().st_mtime_ns


def test_scan_size_limit_message(tmp_path):
    with open(tmp_path / "huge.txt", "wb") as f:
        f.truncate(20 * MB + 1)  # sparse: costs no disk space
    assert scan(tmp_path, 20 * MB).failures == [
        Failure("huge.txt", "larger than the 20 MB limit", keeps_previous=False)
    ]


@pytest.mark.parametrize("name", ["line\nbreak.txt", "Отчёт за 2024 год.txt", "dir with space/ü.md"])
def test_unusual_file_names(tmp_path, name):
    write(tmp_path, name, "Body of an unusual name")
    found = scan(tmp_path, MB)
    assert paths(found) == [name]
    assert load(found.files[0]).path == name


def test_file_name_that_is_not_utf8(tmp_path):
    (tmp_path / "good.txt").write_text("ok")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "wb") as f:
        f.write(b"content")
    found = scan(tmp_path, MB)
    assert paths(found) == ["good.txt"]
    assert found.failures == [Failure("caf\ufffd.txt", "file name is not valid UTF-8")]


def test_symlink_outside_the_corpus_is_never_read(tmp_path, monkeypatch):
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    secret = write(outside, "secret.txt", "password=hunter2")
    write(corpus, "ok.txt", "fine")
    (corpus / "leak.txt").symlink_to(secret)
    (corpus / "leakdir").symlink_to(outside, target_is_directory=True)
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    found = scan(corpus, MB)
    documents = [load(f) for f in found.files]
    assert [d.path for d in documents] == ["ok.txt"]
    assert found.failures == [
        Failure("leak.txt", "symlink points outside the corpus", keeps_previous=False),
        Failure("leakdir", "symlink points outside the corpus", keeps_previous=False),
    ]
    assert str(secret) not in opened


def test_symlinks_inside_the_corpus(tmp_path):
    write(tmp_path, "real/doc.txt", "Linked document")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "real" / "doc.txt")
    (tmp_path / "folder-link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "loop-a.txt").symlink_to(tmp_path / "loop-b.txt")
    (tmp_path / "loop-b.txt").symlink_to(tmp_path / "loop-a.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    found = scan(tmp_path, MB)
    # A link is never read: the file it points to is indexed at its own path (and seen there by
    # keys limited to folders, and by the watcher). None of them keeps an earlier document.
    assert paths(found) == ["real/doc.txt"]
    assert found.skipped == [
        Failure("alias.txt", "symlink to real/doc.txt not followed: a file is indexed at its own path")
    ]
    assert found.failures == [
        Failure("dangling.txt", "broken symlink", keeps_previous=False),
        Failure("folder-link", "symlinked folder not followed", keeps_previous=False),
        Failure("loop-a.txt", "symlink loop", keeps_previous=False),
        Failure("loop-b.txt", "symlink loop", keeps_previous=False),
    ]


def test_scan_through_a_symlinked_root(tmp_path):
    write(tmp_path, "real/doc.txt", "x")
    (tmp_path / "real" / "self.txt").symlink_to(tmp_path / "real" / "doc.txt")
    (tmp_path / "root-link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert paths(scan(tmp_path / "root-link", MB)) == ["doc.txt"]  # the root may be a link; self.txt is one


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    assert scan(tmp_path, MB).failures == [Failure("pipe.txt", "not a regular file")]


def test_scan_of_missing_or_non_folder_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "missing", MB)
    with pytest.raises(NotADirectoryError):
        scan(write(tmp_path, "file.txt", "x"), MB)


def test_unreadable_file_and_folder():
    # Real file modes, not a stand-in: as root, the reading runs as nobody in a child process.
    root = Path(tempfile.mkdtemp(prefix="seedsearch-modes-"))  # not under tmp_path: nobody must reach it
    try:
        root.chmod(0o755)
        src = source(root, "locked.txt", "secret")
        write(root, "open.txt", "readable").chmod(0o644)
        write(root, "closed/inner.txt", "secret")
        os.chmod(src.abspath, 0)
        os.chmod(root / "closed", 0)

        def read():
            found = scan(root, MB)
            try:
                load(src)
            except ExtractionError as problem:
                return found.failures, [f.path for f in found.files], str(problem)
            return found.failures, [f.path for f in found.files], None

        failures, files, problem = unprivileged(read)
        assert failures == [Failure("closed", "permission denied")]
        assert sorted(files) == ["locked.txt", "open.txt"]  # listed; reading it is what fails
        assert problem is not None and "permission denied" in problem
    finally:
        os.chmod(root / "closed", 0o755)
        shutil.rmtree(root)


def deny(monkeypatch, module_attr, real, denied: Path) -> None:
    """Make one path unreadable even for root, which ignores file modes."""

    def guarded(path, *args, **kwargs):
        if Path(path) == denied:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(module_attr, real.__name__, guarded)


def test_permission_errors_are_reported(tmp_path, monkeypatch):
    write(tmp_path, "closed/inner.txt", "secret")
    src = source(tmp_path, "locked.txt", "secret")
    deny(monkeypatch, os, os.scandir, tmp_path / "closed")
    deny(monkeypatch, builtins, builtins.open, Path(src.abspath))
    assert scan(tmp_path, MB).failures == [Failure("closed", "permission denied")]
    with pytest.raises(ExtractionError, match="permission denied"):
        load(src)


def test_unreadable_root_is_fatal(tmp_path, monkeypatch):
    # Reporting it as one failure would make the indexer think every document was deleted.
    deny(monkeypatch, os, os.scandir, tmp_path)
    with pytest.raises(PermissionError):
        scan(tmp_path, MB)


@pytest.mark.parametrize(
    ("text", "damage"),
    [(RUSSIAN, b"\xff"), (FRENCH, b"\xc3("), ("R\u00e9union notes: caf\u00e9", b" \xff")],  # a line: 2 good, 1 bad
)
def test_utf8_with_a_few_broken_bytes_stays_utf8(tmp_path, text, damage):
    # Read as a legacy code page, this was refused whole (Russian) or became mojibake (French).
    document = load(source(tmp_path, "damaged.txt", text.encode("utf-8") + damage + b" end\n"))
    assert document.text.startswith(text) and document.text.count("\ufffd") == 1


@pytest.mark.parametrize(
    ("text", "codec"), [("Menu \u00abCAF\u00c9\u00bb", "cp1252"), ("\u0412\u0421\u0401", "cp1251")]
)
def test_a_short_legacy_text_with_one_accidental_utf8_pair_stays_legacy(tmp_path, text, codec):
    # cp1252's `É»` and cp1251's `СЁ` happen to be valid UTF-8 pairs, beside one error each.
    assert load(source(tmp_path, "short.txt", text.encode(codec))).text.strip() == text


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", ["Привет мир, это тест без BOM", "Γειά σου Κόσμε, δοκιμή.", "שלום עולם, בדיקה"])
def test_utf16_of_one_alphabet_without_a_bom_is_read(tmp_path, text, codec):
    # Not ASCII: no half of the bytes is NUL, but every high byte is the alphabet's block or 0.
    assert load(source(tmp_path, "no-bom.txt", text.encode(codec))).text.strip() == text
