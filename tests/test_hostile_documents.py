"""Hostile documents, end to end: one corpus of everything the issue lists, reindexed over HTTP.

Markup in titles, bodies, file names and folder names (raw, and as entities that decode to
tags) must come back as text on the results page, the document page and in the JSON. Files that
cannot be indexed must each be reported with a reason and skipped, and the rest indexed.
test_documents.py checks each extractor on its own; this checks the whole path.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
from pathlib import Path

import docx
import pytest
from conftest import TOKEN, assert_no_active_markup, write
from fpdf import FPDF

from search import config, create_app

KB = 1024
# probe word -> (corpus path, text that must be shown literally, as text)
HOSTILE = {
    "hostileone": ("xss/script.txt", "<script>alert('t1')</script>"),
    "hostiletwo": ("xss/entities.html", "<img src=x onerror=alert(5)>"),
    "hostilethree": ("xss/readme.md", "<img src=x onerror=alert(11)>"),
    "hostilefour": ("names/<img src=x onerror=alert(15)> hostilefour.txt", None),
    "hostilefive": ("<svg onload=alert(16)>/doc.txt", None),
    "hostilesix": ("names/javascript:alert(17).md", None),
    "hostileseven": ("names/&lt;script&gt;alert(18)&lt;/script&gt;.txt", None),
    "hostileeight": ("pdf/report.pdf", "<script>alert(19)</script>"),
    "hostilenine": ("docx/notes.docx", "<img src=x onerror=alert(20)>"),
    "hostileten": ("names/line\nbreak.txt", None),
    "hostileeleven": ("names/Отчёт 漢字 تقرير.txt", None),
}


def _pdf(title: str, text: str) -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def _docx(title: str, text: str) -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _build(root: Path, outside: Path) -> None:
    write(
        root,
        "xss/script.txt",
        "<script>alert('t1')</script> hostileone\n"
        '<img src=x onerror=alert(1)> <svg onload=alert(2)> <a href="javascript:alert(3)">x</a>\n'
        "&lt;script&gt;alert(4)&lt;/script&gt; stays as typed\n",
    )
    write(
        root,
        "xss/entities.html",
        "<html><head><title>&lt;img src=x onerror=alert(5)&gt; hostiletwo</title></head><body>"
        "<p>&lt;script&gt;alert(6)&lt;/script&gt; &#60;svg onload=alert(7)&#62; hostiletwo "
        '<a href="javascript:alert(8)">link</a><svg onload="alert(9)"><title>icon</title></svg></p>'
        "<script>alert(10)</script></body></html>",
    )
    write(
        root,
        "xss/readme.md",
        "# &lt;img src=x onerror=alert(11)&gt; hostilethree\n\n"
        "[click](javascript:alert(12)) <script>alert(13)</script> &lt;iframe src=javascript:alert(14)&gt;\n",
    )
    for probe, (path, _) in HOSTILE.items():
        if path.startswith(("names/", "<svg")):
            write(root, path, f"A document called {path} with the word {probe}.\n")
    write(root, "pdf/report.pdf", _pdf("<script>alert(19)</script>", "Quarterly hostileeight figures."))
    write(root, "docx/notes.docx", _docx("<img src=x onerror=alert(20)>", "Meeting hostilenine notes."))
    # Files that are not what they claim, or cannot be read at all.
    write(root, "good/plain.txt", "An ordinary zebrafinch document.\n")
    write(root, "odd/binary.txt", os.urandom(4096))
    write(root, "odd/empty.txt", b"")
    write(root, "odd/big.txt", "too big " * (12 * KB))  # 96 KB against a 64 KB limit
    write(root, "odd/damaged-utf8.txt", "Москва — столица России, оттуда пишет кириллица.\n".encode() + b"\xff\n")
    write(root, "odd/utf16-nobom.txt", "Plain utf16nobom text without a byte order mark.\n".encode("utf-16-le"))
    write(root, "odd/utf16-cyrillic-nobom.txt", "Текст в UTF-16 без метки порядка байтов.\n".encode("utf-16-le"))
    write(root, "odd/unreadable.txt", "secret unreadableword\n")
    (root / "odd/loop-a.txt").symlink_to(root / "odd/loop-b.txt")
    (root / "odd/loop-b.txt").symlink_to(root / "odd/loop-a.txt")
    secret = write(outside, "secret.txt", "password=hunter2 outsideword\n")
    (root / "odd/outside.txt").symlink_to(secret)
    (root / "odd/outside-folder").symlink_to(outside, target_is_directory=True)
    write(root, "odd/fake.pdf", b"this is not a pdf at all")
    write(root, "odd/fake.docx", b"PK\x03\x04 not really a zip")
    os.mkfifo(root / "odd/fifo.txt")
    with open(os.path.join(os.fsencode(root / "odd"), b"caf\xe9.txt"), "wb") as f:
        f.write(b"latin-1 file name")


EXPECTED_FAILURES = {
    "odd/binary.txt": "looks like binary data",
    "odd/empty.txt": "empty file",
    "odd/big.txt": "larger than the 64 KB limit",
    "odd/unreadable.txt": "permission denied",
    "odd/loop-a.txt": "symlink loop",
    "odd/loop-b.txt": "symlink loop",
    "odd/outside.txt": "symlink points outside the corpus",
    "odd/outside-folder": "symlink points outside the corpus",
    "odd/fake.pdf": "could not read PDF",
    "odd/fake.docx": "could not read DOCX",
    "odd/fifo.txt": "not a regular file",
    "odd/caf\ufffd.txt": "file name is not valid UTF-8",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    corpus, outside = root / "corpus", root / "outside"
    _build(corpus, outside)
    unreadable = str(corpus / "odd/unreadable.txt")
    os.chmod(unreadable, 0)
    real_open = builtins.open

    def guarded(file, *args, **kwargs):  # root ignores file modes; refuse as the kernel would
        if str(file) == unreadable:
            raise PermissionError(13, "Permission denied", unreadable)
        return real_open(file, *args, **kwargs)

    app = create_app(
        {"CORPUS_DIR": str(corpus), "INDEX_DIR": str(root / "index"), "ADMIN_TOKEN": TOKEN, "MAX_FILE_MB": 64 / 1024}
    )
    client = app.test_client()
    builtins.open = guarded
    try:
        summary = client.post("/api/reindex", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        builtins.open = real_open
    assert summary.status_code == 200
    return client, summary.get_json()


def test_default_size_limit_is_sensible():
    assert config.max_file_bytes(config.load({}, environ={})) == 20 * 1024 * 1024


def test_each_bad_file_is_reported_and_skipped(site):
    _, summary = site
    reasons = {failure["path"]: failure["reason"] for failure in summary["failures"]}
    assert set(reasons) == set(EXPECTED_FAILURES)
    for path, reason in EXPECTED_FAILURES.items():
        assert reasons[path].startswith(reason), (path, reasons[path])
    assert summary["failed"] == len(EXPECTED_FAILURES)
    json.dumps(summary)  # every path, however odd, is valid JSON


def test_the_rest_is_indexed(site):
    client, summary = site
    # + plain, damaged UTF-8, ASCII and Cyrillic UTF-16 without a BOM
    assert summary["added"] == len(HOSTILE) + 4
    for q, path in [
        ("zebrafinch", "good/plain.txt"),
        ("кириллица", "odd/damaged-utf8.txt"),
        ("utf16nobom", "odd/utf16-nobom.txt"),
        ("порядка", "odd/utf16-cyrillic-nobom.txt"),
        *((probe, path) for probe, (path, _) in HOSTILE.items()),
    ]:
        hits = client.get("/api/search", query_string={"q": q}).get_json()["results"]
        assert [hit["path"] for hit in hits] == [path], q


def test_nothing_outside_the_corpus_or_unreadable_is_searchable(site):
    client, _ = site
    for q in ("hunter2", "outsideword", "unreadableword"):
        assert client.get("/api/search", query_string={"q": q}).get_json()["total"] == 0


@pytest.mark.parametrize("probe", HOSTILE)
def test_hostile_markup_is_text_everywhere(site, probe):
    client, _ = site
    path, shown = HOSTILE[probe]
    response = client.get("/api/search", query_string={"q": probe})
    assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
    (hit,) = response.get_json()["results"]
    assert hit["path"] == path  # JSON carries the name as data, exactly
    assert not re.search(r"<(?!/?mark>)", hit["snippet"])  # the snippet is HTML: only <mark> is markup
    if shown:
        assert shown in hit["title"] + client.get(f"/api/documents/{hit['id']}").get_json()["text"]

    for page_url in (f"/search?q={probe}", hit["url"]):
        page = client.get(page_url).get_data(as_text=True)
        assert_no_active_markup(page)
        assert "&lt;" in page or "<" not in path + (shown or "")
        if "<" in path:
            assert path.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page
        if shown:
            assert shown.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;") in page
