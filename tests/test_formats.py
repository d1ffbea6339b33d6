"""The formats beyond text, Markdown, HTML, PDF and DOCX: each built by the library that writes it,
indexed through the real indexer and found by a word only it holds; and each way one can fail."""

from __future__ import annotations

import csv
import functools
import io
import re
import zipfile
from email.message import EmailMessage

import docx
import openpyxl
import pptx
import pytest
from conftest import write
from ebooklib import epub
from odf import dc as odf_dc
from odf import draw, style, table
from odf import text as odf_text
from odf.opendocument import OpenDocumentPresentation, OpenDocumentSpreadsheet, OpenDocumentText

from search import documents, indexer, query
from search.config import load

MB = 1024 * 1024


# --- builders: real files, written by the libraries that write each format ----------------------


def _odf_bytes(document) -> bytes:
    buffer = io.BytesIO()
    document.write(buffer)
    return buffer.getvalue()


def make_odt(word: str) -> bytes:
    document = OpenDocumentText()
    document.meta.addElement(odf_dc.Title(text="Harbour report"))
    document.text.addElement(odf_text.H(outlinelevel=1, text="Harbour"))
    paragraph = odf_text.P(text=f"The {word} arrived at dawn.")
    paragraph.addElement(odf_text.S(c="1000000000"))  # a billion spaces, if a reader believed it
    paragraph.addElement(odf_text.Span(text="Then it left."))
    document.text.addElement(paragraph)
    return _odf_bytes(document)


def make_ods(word: str) -> bytes:
    document = OpenDocumentSpreadsheet()
    sheet = table.Table(name="Stock")
    for values in (["item", "count"], [word, "12"]):
        row = table.TableRow()
        for value in values:
            cell = table.TableCell(valuetype="string")
            cell.addElement(odf_text.P(text=value))
            row.addElement(cell)
        sheet.addElement(row)
    document.spreadsheet.addElement(sheet)
    return _odf_bytes(document)


def make_odp(word: str) -> bytes:
    document = OpenDocumentPresentation()
    layout = style.PageLayout(name="Layout")
    document.automaticstyles.addElement(layout)
    master = style.MasterPage(name="Default", pagelayoutname=layout)
    document.masterstyles.addElement(master)
    page = draw.Page(masterpagename=master)
    frame = draw.Frame(width="20cm", height="4cm", x="1cm", y="1cm")
    box = draw.TextBox()
    box.addElement(odf_text.P(text="Launch plan"))
    box.addElement(odf_text.P(text=f"We ship the {word} in spring."))
    frame.addElement(box)
    page.addElement(frame)
    document.presentation.addElement(page)
    return _odf_bytes(document)


def make_pptx(word: str) -> bytes:
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap review"
    slide.placeholders[1].text = "Milestones\vand owners"  # a line break inside a paragraph
    shape = slide.shapes.add_table(2, 2, 0, 0, 100, 100)
    shape.table.cell(1, 1).text = f"the {word} team"
    slide.notes_slide.notes_text_frame.text = "Speaker notes say hello."
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def make_xlsx(word: str, title: str | None = "Quarterly figures") -> bytes:
    book = openpyxl.Workbook()
    book.properties.title = title
    sheet = book.active
    sheet.title = "Sales"
    sheet.append(["region", "amount", "note"])
    sheet.append(["north", 1250, f"{word} deal"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def make_epub(word: str) -> bytes:
    book = epub.EpubBook()
    book.set_identifier("seedsearch-test")
    book.set_title("Voyage of the Seed")
    book.set_language("en")
    chapter = epub.EpubHtml(title="One", file_name="one.xhtml", lang="en")
    chapter.content = f"<html><body><h1>Chapter one</h1><p>A {word} sailed west.</p></body></html>"
    book.add_item(chapter)
    book.toc = (chapter,)
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", chapter]
    buffer = io.BytesIO()
    epub.write_epub(buffer, book)
    return buffer.getvalue()


def make_rtf(word: str) -> bytes:
    return (
        r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Arial;}}"
        r"{\info{\title Caf\'e9 minutes}{\author Ann}}"
        r"\f0\fs24 Minutes of the caf\'e9 meeting.\par "
        f"The {word} was approved.\\par "
        r"Na\u239?ve \b bold\b0  text.\par}"
    ).encode("ascii")


def make_eml(word: str) -> bytes:
    message = EmailMessage()
    message["Subject"] = "Budget for the Lisbon office"
    message["From"] = "Ann <ann@example.com>"
    message["To"] = "team@example.com"
    message.set_content("Hello team,\nthe numbers are attached.\n")
    message.add_alternative("<p>Hello team, the <b>numbers</b> are attached.</p>", subtype="html")
    sheet = make_xlsx(word, title=None)
    message.add_attachment(sheet, maintype="application", subtype="octet-stream", filename="budget.xlsx")
    message.add_attachment(b"PK\x03\x04 broken", maintype="application", subtype="octet-stream", filename="bad.docx")
    message.add_attachment(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", filename="logo.png")
    return bytes(message)


def make_csv(word: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["name", "city", "note"])
    writer.writerow(["Ann", "Lisbon", f'said "{word}"\nthen left'])
    writer.writerow(["Bob", "Porto", "nothing"])
    return buffer.getvalue().encode("utf-8")


def make_rst(word: str) -> bytes:
    return (
        "=================\nInstallation Guide\n=================\n\n"
        f"Run the installer, then the *{word}* step.\n\n"
        "Options\n-------\n\n.. note:: Read this first.\n"
    ).encode()


# format -> (file name, builder, the title it should get)
FORMATS = {
    "odt": ("report.odt", make_odt, "Harbour report"),
    "ods": ("stock.ods", make_ods, "item count"),  # a row is a line
    "odp": ("plan.odp", make_odp, "Launch plan"),
    "pptx": ("roadmap.pptx", make_pptx, "Roadmap review"),
    "xlsx": ("sales.xlsx", make_xlsx, "Quarterly figures"),
    "epub": ("voyage.epub", make_epub, "Voyage of the Seed"),
    "rtf": ("minutes.rtf", make_rtf, "Café minutes"),
    "eml": ("budget.eml", make_eml, "Budget for the Lisbon office"),
    "csv": ("people.csv", make_csv, "name city note"),
    "rst": ("install.rst", make_rst, "Installation Guide"),
}
ZIP_FORMATS = ["odt", "ods", "odp", "pptx", "xlsx", "epub", "docx"]


def unique_word(kind: str) -> str:
    """Return a word only the file of `kind` holds (letters only, so every analyzer keeps it whole)."""
    return "zq" + "".join(chr(ord("a") + (ord(ch) - ord("a")) % 26) for ch in kind if ch.isalpha()) + "plover"


def search(index_dir, q: str, **kwargs):
    return query.search(query.Searchers(index_dir), query.SearchRequest(q=q, **kwargs), load({}, environ={}))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    corpus, index_dir = root / "corpus", root / "index"
    for kind, (name, build, _) in FORMATS.items():
        write(corpus, f"{kind}/{name}", build(unique_word(kind)))
    summary = indexer.reindex(corpus, index_dir)
    return index_dir, summary


def test_every_format_is_indexed(site):
    _, summary = site
    assert summary.failures == [] and summary.added == len(FORMATS)


@pytest.mark.parametrize("kind", FORMATS)
def test_a_word_only_that_file_holds_finds_it(site, kind):
    index_dir, _ = site
    name, _, title = FORMATS[kind]
    result = search(index_dir, unique_word(kind))
    assert [hit.path for hit in result.hits] == [f"{kind}/{name}"]
    assert result.hits[0].title == title
    assert result.hits[0].type == kind


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("odt", "dawn left"),  # a span after a run of (compressed) spaces
        ("pptx", "milestones speaker"),  # a placeholder, and the notes
        ("xlsx", "quarterly north 1250"),  # the title property, and a number
        ("rtf", "naïve bold"),  # a \u escape and formatting
        ("eml", "ann attached"),  # a header and the plain body
        ("csv", "lisbon porto"),
    ],
)
def test_more_of_the_text_is_searchable(site, kind, words):
    index_dir, _ = site
    # Documents with every word come first; the file of this kind is the only one with them all.
    result = search(index_dir, words)
    assert result.relaxed is None and result.hits[0].path.split("/")[0] == kind
    assert [hit.path.split("/")[0] for hit in search(index_dir, " AND ".join(words.split())).hits] == [kind]


@pytest.mark.parametrize(
    ("kind", "lines"),
    [
        ("pptx", ["Roadmap review", "Milestones", "and owners"]),
        ("ods", ["item count", "zqbuiltplover 12"]),
        ("odt", ["Harbour", "The zqbuiltplover arrived at dawn. Then it left."]),
    ],
)
def test_lines_come_out_as_people_read_them(kind, lines):
    assert extract(f"x.{kind}", build(kind)).text.split("\n")[: len(lines)] == lines


@pytest.mark.parametrize(("kind", "found"), [("ods", 1), ("xlsx", 0)])
def test_type_filter_knows_the_new_types(site, kind, found):
    index_dir, _ = site
    request = query.parse_request({"q": unique_word("ods"), "type": kind})
    assert query.search(query.Searchers(index_dir), request, load({}, environ={})).total == found
    assert set(FORMATS) <= set(documents.TYPES)


# --- e-mail -------------------------------------------------------------------------------------


def extract(name: str, data: bytes, max_bytes: int = 20 * MB) -> documents.Document:
    kind = documents.SUPPORTED[name[name.rfind(".") :].lower()]
    return documents.extract(documents.SourceFile(name, "/nowhere/" + name, kind, len(data), 0, max_bytes), data)


def test_docx_headers_and_footers_are_read_once_after_the_body():
    document = docx.Document()
    document.add_paragraph("The body comes first.")
    document.sections[0].header.paragraphs[0].text = "Quarterly zebra report"
    document.sections[0].footer.paragraphs[0].text = "Page footer quokka"
    document.add_section()  # its header and footer are the first section's (linked): not read twice
    buffer = io.BytesIO()
    document.save(buffer)
    text = extract("r.docx", buffer.getvalue()).text
    assert text.index("The body comes first.") < text.index("Quarterly zebra report")
    assert text.count("Quarterly zebra report") == 1 and text.count("Page footer quokka") == 1


def test_a_spreadsheet_or_a_message_without_a_title_is_titled_by_its_first_text():
    book = openpyxl.Workbook()
    book.active["B3"] = "Quarterly budget by region"
    buffer = io.BytesIO()
    book.save(buffer)
    assert extract("b.xlsx", buffer.getvalue()).title == "Quarterly budget by region"  # not `Sheet`
    message = b"From: a@example.org\nTo: b@example.org\n\n\nLunch on Friday?\nAt noon.\n"
    assert extract("m.eml", message).title == "Lunch on Friday?"  # not `From: a@example.org`


def test_mail_reads_plain_body_and_readable_attachments():
    document = extract("m.eml", make_eml("zqmailplover"))
    assert "Hello team,\nthe numbers are attached." in document.text
    assert "<b>" not in document.text and document.text.count("Hello team") == 1  # the plain part only
    assert "zqmailplover deal" in document.text  # inside the attached spreadsheet
    for name in ("budget.xlsx", "bad.docx", "logo.png"):
        assert f"Attachment: {name}" in document.text


def test_mail_with_only_html_and_a_legacy_charset():
    message = EmailMessage()
    message["Subject"] = "=?iso-8859-1?q?R=E9union?="
    message.set_content("<html><body><p>Ordre du jour&nbsp;: caf\xe9</p><script>x()</script></body></html>", "html")
    message.replace_header("Content-Type", 'text/html; charset="iso-8859-1"')
    message.set_payload(
        "<html><body><p>Ordre du jour : caf\xe9</p><script>x()</script></body></html>".encode("latin-1")
    )
    document = extract("m.eml", bytes(message))
    assert document.title == "Réunion"
    assert "Ordre du jour : café" in document.text and "x()" not in document.text


def test_attached_message_is_read():
    inner = EmailMessage()
    inner["Subject"] = "Original question"
    inner.set_content("The zqinnerplover question.")
    outer = EmailMessage()
    outer["Subject"] = "Fwd: question"
    outer.set_content("See below.")
    outer.add_attachment(inner)
    document = extract("fwd.eml", bytes(outer))
    assert document.title == "Fwd: question"
    assert "Attached message: Original question" in document.text and "zqinnerplover" in document.text


# --- failures: each reported with a reason, never a crash ---------------------------------------


@functools.cache
def zip_bomb() -> bytes:
    """Return a 40 KB zip whose one member unpacks to 40 MB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("content.xml", bytes(40 * MB))
    return buffer.getvalue()


def lying_zip(kind: str) -> bytes:
    """Return a zip of `kind` with a 40 MB member whose headers declare 1 KB (the libraries would inflate it all)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(build(kind))) as real,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for member in real.infolist():
            archive.writestr(member.filename, real.read(member.filename))
        archive.writestr("padding.xml", bytes(40 * MB))
    data = bytearray(buffer.getvalue())
    # The uncompressed size, in the local header (offset 22) and the central directory's (offset 24).
    for signature, at, name_length, header in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        offset = data.find(signature)
        while offset != -1:
            length = int.from_bytes(data[offset + name_length : offset + name_length + 2], "little")
            if data[offset + header : offset + header + length] == b"padding.xml":
                data[offset + at : offset + at + 4] = (1024).to_bytes(4, "little")
            offset = data.find(signature, offset + 4)
    return bytes(data)


def build(kind: str) -> bytes:
    if kind == "docx":
        buffer = io.BytesIO()
        document = docx.Document()
        document.add_paragraph("A real DOCX.")
        document.save(buffer)
        return buffer.getvalue()
    return FORMATS[kind][1]("zqbuiltplover")


def encrypted_zip(kind: str) -> bytes:
    """Return a zip of `kind` whose members are flagged encrypted, as a password-protected one's are."""
    data = bytearray(build(kind))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        local_headers, directory = [m.header_offset for m in archive.infolist()], archive.start_dir
    # zipfile cannot write encrypted members; bit 0 of the flags says "encrypted" in both headers.
    for offset in local_headers:
        data[offset + 6] |= 0x1
    offset = data.find(b"PK\x01\x02", directory)
    while offset != -1:
        data[offset + 8] |= 0x1
        offset = data.find(b"PK\x01\x02", offset + 46)
    return bytes(data)


@pytest.mark.parametrize("kind", ZIP_FORMATS)
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("truncated", "could not read {KIND}: not a valid zip archive"),
        ("not a zip", "could not read {KIND}: not a valid zip archive"),
        ("empty zip", "could not read {KIND}: "),
        ("zip bomb", "could not read {KIND}: it would unpack to 40 MB, over the 32 MB limit (a zip bomb?)"),
        ("lying zip bomb", "could not read {KIND}: 'padding.xml' is damaged or lies about its size"),
        ("encrypted zip", "could not read {KIND}: it is password-protected"),
        ("office encrypted", "could not read {KIND}: it is password-protected, or in the older binary format"),
    ],
)
def test_broken_zip_documents_are_reported(tmp_path, kind, damage, reason):
    data = {
        "truncated": lambda: build(kind)[: len(build(kind)) // 2],
        "not a zip": lambda: b"PK\x03\x04" + b"\x00" * 200,
        "empty zip": lambda: zipfile_bytes({}),
        "zip bomb": zip_bomb,
        "lying zip bomb": lambda: lying_zip(kind),
        "encrypted zip": lambda: encrypted_zip(kind),
        "office encrypted": lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000),
    }[damage]()
    corpus = tmp_path / "corpus"
    write(corpus, f"broken.{kind}", data)
    write(corpus, "fine.txt", "Still indexed.")
    summary = indexer.reindex(corpus, tmp_path / "ix", max_bytes=MB)
    assert summary.added == 1 and summary.failed == 1
    (failure,) = summary.failures
    assert failure["path"] == f"broken.{kind}"
    assert failure["reason"].startswith(reason.replace("{KIND}", kind.upper()))


def zipfile_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_cap_follows_the_size_limit():
    assert documents.unpacked_cap(20 * MB) == 100 * MB
    assert documents.unpacked_cap(MB) == 32 * MB  # small limits still read ordinary documents
    with pytest.raises(documents.ExtractionError, match="unpack to 40 MB, over the 32 MB limit"):
        extract("b.xlsx", zip_bomb(), max_bytes=MB)
    assert "zqbuiltplover" in extract("b.xlsx", build("xlsx"), max_bytes=MB).text


def test_encrypted_opendocument_is_reported():
    with zipfile.ZipFile(io.BytesIO(build("odt"))) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["META-INF/manifest.xml"] = re.sub(
        rb'(<manifest:file-entry [^>]*full-path="content.xml"[^>]*)/>',
        rb'\1><manifest:encryption-data manifest:checksum="x"/></manifest:file-entry>',
        members["META-INF/manifest.xml"],
    )
    assert b"encryption-data" in members["META-INF/manifest.xml"]
    with pytest.raises(documents.ExtractionError, match="ODT: it is password-protected"):
        extract("secret.odt", zipfile_bytes(members))


@pytest.mark.parametrize(("uri", "refused"), [("EPUB/one.xhtml", True), ("EPUB/fonts/serif.otf", False)])
def test_drm_epub_is_reported_but_obfuscated_fonts_are_not(uri, refused):
    with zipfile.ZipFile(io.BytesIO(build("epub"))) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["META-INF/encryption.xml"] = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
        'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
        f'<enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData>'
        "</enc:EncryptedData></encryption>"
    ).encode()
    if refused:
        with pytest.raises(documents.ExtractionError, match="EPUB: it is DRM-protected"):
            extract("book.epub", zipfile_bytes(members))
    else:
        assert "zqbuiltplover" in extract("book.epub", zipfile_bytes(members)).text


@pytest.mark.parametrize("kind", ["rtf", "eml", "csv", "rst"])
def test_binary_junk_in_text_formats_is_reported(kind):
    with pytest.raises(documents.ExtractionError):
        extract(f"junk.{kind}", bytes(range(256)) * 64)


def test_rtf_without_its_header_is_reported():
    with pytest.raises(documents.ExtractionError, match="could not read RTF: it does not start with"):
        extract("fake.rtf", b"Just some text pretending to be RTF.")


def test_rst_include_is_not_followed(tmp_path):
    secret = write(tmp_path, "secret.rst", "Secret Title\n============\n\nzqsecretplover\n")
    document = extract("doc.rst", f".. include:: {secret}\n\nPublic text.\n".encode())
    assert "Secret" not in document.title and "zqsecretplover" not in document.text


def test_rst_without_a_title_uses_its_first_line():
    assert extract("notes.rst", b"Just some notes\nacross lines.\n").title == "Just some notes"


# --- bounds: text, and the work a small file can cause -------------------------------------------


@pytest.mark.parametrize("name", ["big.csv", "big.xlsx", "big.rst"])
def test_text_is_bounded_by_the_size_limit(name):
    rows = [[f"row{i}", "some words in a cell"] for i in range(20_000)]
    if name.endswith(".xlsx"):
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        data = buffer.getvalue()
    else:
        data = "\n".join(" ".join(row) for row in rows).encode()
    document = extract(name, data, max_bytes=10_000)
    assert 9_000 < len(document.text) <= 10_000 and "row0 some words" in document.text[:30]


def test_far_flung_cells_count_against_the_budget():
    # Each row of a read-only sheet comes padded to its last cell, 16384 columns here: a sheet of
    # a few such rows per KB could otherwise cost hours. The padding counts as text read.
    book = openpyxl.Workbook()
    for row in range(1, 3001):
        book.active.cell(row=row, column=16384, value=f"far{row}")
    buffer = io.BytesIO()
    book.save(buffer)
    document = extract("wide.xlsx", buffer.getvalue(), max_bytes=MB)
    lines = document.text.split("\n")
    assert lines[:3] == ["Sheet", "far1", "far2"]
    assert 50 < len(lines) < 70  # 1 MB of budget at 16 K cells a row


# --- scratch files and unsupported types --------------------------------------------------------


SCRATCH = [".notes.txt.swp", "notes.txt.swp", "notes.txt~", ".#notes.txt", "~$report.docx", "#notes.txt#"]
SCRATCH += ["movie.mp4.part", "book.pdf.crdownload", "notes.txt.swo"]


@pytest.mark.parametrize("name", SCRATCH)
def test_scratch_files_are_neither_indexed_nor_reported(tmp_path, name):
    write(tmp_path, name, "scratch")
    write(tmp_path, "kept.txt", "kept")
    found = documents.scan(tmp_path, MB)
    assert [f.path for f in found.files] == ["kept.txt"]
    assert found.skipped == [] and found.failures == []


def test_folders_named_like_scratch_files_are_walked(tmp_path):
    write(tmp_path, "backup~/notes.txt", "kept")
    assert [f.path for f in documents.scan(tmp_path, MB).files] == ["backup~/notes.txt"]


def test_unsupported_files_are_named_with_their_reason(tmp_path):
    corpus = tmp_path / "corpus"
    write(corpus, "photo.JPG", b"\xff\xd8\xff")
    write(corpus, "sub/LICENSE", "MIT")
    write(corpus, "notes.txt", "kept")
    summary = indexer.reindex(corpus, tmp_path / "ix")
    assert summary.skipped == 2
    assert summary.skipped_files == [
        {"path": "photo.JPG", "reason": "unsupported file type: .JPG"},
        {"path": "sub/LICENSE", "reason": "unsupported file type: no extension"},
    ]


@pytest.mark.parametrize("kind", ["odt", "ods", "odp"])
def test_opendocument_with_broken_content_is_reported_quietly(kind, capsys):
    with zipfile.ZipFile(io.BytesIO(build(kind))) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["content.xml"] = members["content.xml"][: len(members["content.xml"]) // 2]
    members["styles.xml"] = b'<?xml version="1.0"?><a x="1" x="2"/>'  # odfpy prints what it cannot parse
    with pytest.raises(
        documents.ExtractionError, match=f"could not read {kind.upper()}: content.xml is not well-formed"
    ):
        extract(f"broken.{kind}", zipfile_bytes(members))
    del members["content.xml"]
    with pytest.raises(documents.ExtractionError, match=f"could not read {kind.upper()}: it has no content.xml"):
        extract(f"broken.{kind}", zipfile_bytes(members))
    assert capsys.readouterr().out == ""


def test_opendocument_with_a_broken_styles_part_is_still_read(capsys):
    with zipfile.ZipFile(io.BytesIO(build("odt"))) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members["styles.xml"] = b'<?xml version="1.0"?><a x="1" x="2"/>'
    assert "zqbuiltplover" in extract("styled.odt", zipfile_bytes(members)).text
    assert capsys.readouterr().out == ""


XML_PARTS = {
    "docx": "word/document.xml",
    "pptx": "ppt/slides/slide1.xml",
    "xlsx": "xl/worksheets/sheet1.xml",
    "odt": "content.xml",
    "ods": "content.xml",
    "epub": "EPUB/content.opf",
}


@pytest.mark.parametrize("kind", XML_PARTS)
def test_an_external_entity_never_reads_a_local_file(tmp_path, kind):
    secret = write(tmp_path, "secret.txt", "zqsecretplover")
    with zipfile.ZipFile(io.BytesIO(build(kind))) as source:
        members = {name: source.read(name) for name in source.namelist()}
    doctype = f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'.encode()
    part = members[XML_PARTS[kind]]
    declaration = re.match(rb"<\?xml[^>]*\?>", part)
    at = declaration.end() if declaration else 0
    part = part[:at] + doctype + part[at:]
    for visible in (b"zqbuiltplover", b"A real DOCX.", b"Voyage of the Seed"):
        part = part.replace(visible, visible + b" &e;")
    members[XML_PARTS[kind]] = part
    try:
        document = extract(f"x.{kind}", zipfile_bytes(members))
    except documents.ExtractionError:
        return  # refusing the file is safe too
    assert "zqsecretplover" not in document.title + document.text


def test_a_message_that_is_all_an_enclosed_one():
    data = b"Content-Type: message/rfc822\nSubject: Outer\n\nSubject: Inner\n\nThe zqenclosedplover body.\n"
    document = extract("bounce.eml", data)
    assert document.title == "Outer" and "Attached message: Inner\nThe zqenclosedplover body." in document.text
