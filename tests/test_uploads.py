"""Documents through the API: upload, delete and download, and never a byte outside the corpus."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import TOKEN, write
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from search import create_app, files, indexer

ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def upload(client, name: str, data: bytes | str, folder: str | None = None, replace: str | None = None, **kwargs):
    """POST /api/documents with `data` as the file `name`."""
    form = {"file": FileStorage(io.BytesIO(data.encode() if isinstance(data, str) else data), name)}
    if folder is not None:
        form["folder"] = folder
    if replace is not None:
        form["replace"] = replace
    headers = kwargs.pop("headers", ADMIN)
    # Encoded here, in memory: the test client spools bodies over 500 KB to a file it never closes.
    boundary, body = encode_multipart(form)
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.post("/api/documents", data=body, headers=headers, content_type=content_type, **kwargs)


def download(client, doc_id: str):
    """GET /files/<doc_id>, read the body and close the response (and with it the file)."""
    with client.get(f"/files/{doc_id}") as response:
        response.get_data()
        return response


def files_in(root: Path) -> set[str]:
    """Return every file under `root`, hidden ones included, as relative paths."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if not path.is_dir()}


def test_an_upload_is_written_indexed_and_answered(client, corpus):
    response = upload(client, "minutes.txt", "The quarterly zeppelin minutes.\n", folder="team/2026")
    assert response.status_code == 201
    body = response.get_json()
    assert body["path"] == "team/2026/minutes.txt" and body["type"] == "text"
    assert body["text"] == "The quarterly zeppelin minutes.\n"
    assert response.headers["Location"] == f"/api/documents/{body['id']}"
    assert client.get(f"/api/documents/{body['id']}").get_json() == body
    assert (corpus / "team/2026/minutes.txt").read_text() == "The quarterly zeppelin minutes.\n"
    hits = client.get("/api/search?q=zeppelin").get_json()["results"]
    assert [hit["path"] for hit in hits] == ["team/2026/minutes.txt"]
    assert not [name for name in files_in(corpus) if ".upload-" in name]  # no temporary file left


def test_an_existing_path_is_a_conflict_unless_replaced(client, corpus):
    assert upload(client, "note.md", "# Note\n\nFirst kestrel version.\n").status_code == 201
    again = upload(client, "note.md", "# Note\n\nSecond version.\n")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "exists"
    assert "kestrel" in (corpus / "note.md").read_text()
    replaced = upload(client, "note.md", "# Note\n\nSecond osprey version.\n", replace="true")
    assert replaced.status_code == 201 and "osprey" in replaced.get_json()["text"]
    assert client.get("/api/search?q=kestrel").get_json()["total"] == 0
    assert client.get("/api/search?q=osprey").get_json()["total"] == 1


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("..", "escape.txt"),
        ("../..", "escape.txt"),
        ("a/../../b", "escape.txt"),
        ("/etc", "escape.txt"),
        ("/", "escape.txt"),
        ("a\\..\\..", "escape.txt"),
        ("ok\x00", "escape.txt"),
        (".git", "escape.txt"),
        ("", "../escape.txt"),
        ("", "..\\escape.txt"),
        ("", "/etc/escape.txt"),
        ("", ".."),
        ("", "..."),
        ("", "nul\x00.txt"),
        ("", "line\nbreak.txt"),
        ("", ".hidden.txt"),
        ("", "draft.txt~"),
        ("", "~$report.docx"),
        ("", "x" * 300 + ".txt"),
        ("team\u202e", "escape.txt"),  # a right-to-left override: the rest of a name shown backwards
        ("", "invoice\u202etxt.exe"),
        ("", "a\u2066b.txt"),
        ("HR\ufffd", "escape.txt"),  # bytes that were not UTF-8, as the form parser reads them
        ("", "caf\ufffd.txt"),
    ],
)
def test_names_that_would_leave_the_corpus_or_hide_are_refused(client, corpus, tmp_path, folder, name):
    before = files_in(tmp_path)
    response = upload(client, name, "Escaped text.\n", folder=folder)
    assert response.status_code == 400, response.get_json()
    assert response.is_json and response.get_json()["error"]["message"]
    assert files_in(tmp_path) == before


@pytest.mark.parametrize(
    ("folder", "name"),
    [("a\\..\\..", "x.txt"), ("", "C:\\Windows\\x.txt"), ("", "..\\x.txt"), ("a/../b", "x.txt"), ("/abs", "x.txt")],
)
def test_backslashes_and_dot_dot_are_refused_whatever_the_client_sends(folder, name):
    # Werkzeug's multipart parser already unescapes backslashes in a quoted file name; a raw one is refused here.
    with pytest.raises(files.Refused) as refused:
        files.corpus_path(folder, name)
    assert refused.value.status == 400


def test_a_symlinked_folder_is_not_followed(client, corpus, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (corpus / "link").symlink_to(outside, target_is_directory=True)
    response = upload(client, "escape.txt", "Escaped text.\n", folder="link")
    assert response.status_code == 400 and "symlink" in response.get_json()["error"]["message"]
    response = upload(client, "escape.txt", "Escaped text.\n", folder="link/deeper")
    assert response.status_code == 400
    assert list(outside.iterdir()) == []


def test_a_file_in_the_way_of_a_folder_is_refused(client, corpus):
    response = upload(client, "inside.txt", "Text.\n", folder="hostile.txt")
    assert response.status_code == 400


def test_auth_is_required(corpus, index_dir):
    open_app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": ""})
    client = open_app.test_client()
    assert upload(client, "a.txt", "Text.\n", headers={}).status_code == 403
    locked = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN}).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = upload(locked, "a.txt", "Text.\n", headers=headers)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    doc_id = indexer.doc_id("hostile.txt")
    assert locked.delete(f"/api/documents/{doc_id}").status_code == 401
    assert client.delete(f"/api/documents/{doc_id}").status_code == 403
    assert not (corpus / "a.txt").exists() and (corpus / "hostile.txt").exists()


def test_a_type_the_indexer_does_not_read_is_415(client, corpus):
    for name in ("program.exe", "archive.zip", "no-suffix"):
        response = upload(client, name, b"MZ\x00\x01")
        assert response.status_code == 415 and response.is_json
        assert ".txt" in response.get_json()["error"]["message"]
        assert not (corpus / name).exists()


def test_content_the_indexer_cannot_read_is_refused_and_not_kept(client, corpus):
    before = files_in(corpus)
    for name, data in (("fake.pdf", b"not a pdf at all"), ("empty.txt", b""), ("binary.txt", bytes(range(256)) * 4)):
        response = upload(client, name, data, folder="new/deeper")
        assert response.status_code == 422, name
        assert response.get_json()["error"]["code"] == "unreadable_document"
    assert files_in(corpus) == before
    assert not (corpus / "new").exists()  # the folders made for it are gone too


def test_a_file_over_the_limit_is_413_and_not_kept(corpus, index_dir):
    app = create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN, "MAX_FILE_MB": 2})
    client = app.test_client()
    # Over the app's 1 MB request limit, under the file limit: accepted.
    ok = upload(client, "big.txt", ("word " * 300_000).encode())
    assert ok.status_code == 201
    too_big = upload(client, "huge.txt", b"word " * (500_000))  # 2.4 MB
    assert too_big.status_code == 413 and too_big.get_json()["error"]["code"] == "payload_too_large"
    assert not (corpus / "huge.txt").exists()


def test_a_missing_file_field_or_bad_replace_is_400(client):
    response = client.post("/api/documents", data={"folder": "x"}, headers=ADMIN, content_type="multipart/form-data")
    assert response.status_code == 400 and response.is_json
    assert upload(client, "a.txt", "Text.\n", replace="perhaps").status_code == 400


def test_delete_removes_the_file_and_the_document(client, corpus):
    doc_id = upload(client, "gone-soon.txt", "A pelican document.\n", folder="tmp").get_json()["id"]
    response = client.delete(f"/api/documents/{doc_id}", headers=ADMIN)
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers  # no body, no type
    assert not (corpus / "tmp/gone-soon.txt").exists()
    assert client.get(f"/api/documents/{doc_id}").status_code == 404
    assert client.get("/api/search?q=pelican").get_json()["total"] == 0
    again = client.delete(f"/api/documents/{doc_id}", headers=ADMIN)
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "not_found"


def test_delete_of_a_file_already_gone_drops_it_from_the_index(client, corpus):
    doc_id = indexer.doc_id("notes/moving.md")
    (corpus / "notes/moving.md").unlink()
    assert client.delete(f"/api/documents/{doc_id}", headers=ADMIN).status_code == 204
    assert client.get(f"/api/documents/{doc_id}").status_code == 404


def test_delete_of_a_path_that_is_now_a_folder_or_behind_a_link_drops_it(client, corpus, tmp_path):
    # Whatever is at the path now, it is not the document: the document leaves the index.
    moving, page = indexer.doc_id("notes/moving.md"), indexer.doc_id("web/page.html")
    (corpus / "notes/moving.md").unlink()
    (corpus / "notes/moving.md").mkdir()
    assert client.delete(f"/api/documents/{moving}", headers=ADMIN).status_code == 204
    assert client.get(f"/api/documents/{moving}").status_code == 404
    (corpus / "web/page.html").rename(tmp_path / "page.html")
    (corpus / "web").rmdir()
    (corpus / "web").symlink_to(tmp_path, target_is_directory=True)
    assert client.delete(f"/api/documents/{page}", headers=ADMIN).status_code == 204
    assert client.get(f"/api/documents/{page}").status_code == 404
    assert (tmp_path / "page.html").exists()  # nothing is deleted through the link


def test_download_gives_the_original_bytes_as_an_attachment(client, corpus):
    doc_id = indexer.doc_id("notes/moving.md")
    response = download(client, doc_id)
    assert response.status_code == 200
    assert response.data == (corpus / "notes/moving.md").read_bytes()
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "moving.md" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_download_serves_the_ranges_it_offers(client, corpus):
    doc_id = indexer.doc_id("notes/moving.md")
    whole = (corpus / "notes/moving.md").read_bytes()
    with client.get(f"/files/{doc_id}", headers={"Range": "bytes=2-9"}) as part:
        assert part.status_code == 206 and part.data == whole[2:10]
        assert part.headers["Content-Range"] == f"bytes 2-9/{len(whole)}"
    with client.get(f"/files/{doc_id}") as full:
        assert full.headers["Accept-Ranges"] == "bytes" and int(full.headers["Content-Length"]) == len(whole)
        etag = full.headers["ETag"]
    with client.get(f"/files/{doc_id}", headers={"If-None-Match": etag}) as unchanged:
        assert unchanged.status_code == 304
    with client.get(f"/files/{doc_id}", headers={"Range": f"bytes={len(whole) + 5}-"}) as past:
        assert past.status_code == 416 and past.get_json()["error"]["code"] == "range_not_satisfiable"
    # Any other Range is ignored (RFC 9110): another unit, several ranges, one that cannot be read;
    # and an unchanged file is a 304 whatever range is asked.
    for other in ("items=0-3", "bytes=abc", "bytes=0-0,5-6"):
        with client.get(f"/files/{doc_id}", headers={"Range": other}) as ignored:
            assert ignored.status_code == 200 and ignored.data == whole, other
    with client.get(f"/files/{doc_id}", headers={"Range": "bytes=2-", "If-None-Match": etag}) as same:
        assert same.status_code == 304


def test_html_is_downloaded_so_that_it_cannot_run_script_here(client, corpus):
    response = download(client, indexer.doc_id("web/page.html"))
    assert response.status_code == 200 and b"<script>" in response.data
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none' covers it
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("doc_id", ["0123456789abcdef", "..%2F..%2Fetc%2Fpasswd", "x" * 100])
def test_only_indexed_files_are_downloaded(client, doc_id):
    response = download(client, doc_id)
    assert response.status_code == 404 and response.is_json


def test_a_file_gone_from_the_corpus_is_404(client, corpus):
    (corpus / "hostile.txt").unlink()
    response = download(client, indexer.doc_id("hostile.txt"))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_a_file_swapped_for_a_link_outside_is_not_served(client, corpus, tmp_path):
    secret = write(tmp_path, "secret.txt", "Secret.\n")
    os.unlink(corpus / "hostile.txt")
    (corpus / "hostile.txt").symlink_to(secret)
    response = download(client, indexer.doc_id("hostile.txt"))
    assert response.status_code == 404 and b"Secret" not in response.data


def test_a_file_swapped_for_a_link_inside_is_not_served(client, corpus):
    os.unlink(corpus / "hostile.txt")
    (corpus / "hostile.txt").symlink_to(corpus / "notes/moving.md")  # never read through, as the indexer
    response = download(client, indexer.doc_id("hostile.txt"))
    assert response.status_code == 404


def test_paths_too_deep_or_too_long_are_refused_and_leave_nothing(client, corpus):
    before = files_in(corpus)
    deep = "/".join(["d"] * (files.MAX_FOLDER_DEPTH + 1))
    long = "/".join(["f" * 200] * 6)  # each name allowed, the whole over MAX_PATH_BYTES
    for folder in (deep, long):
        response = upload(client, "x.txt", "Some words.\n", folder=folder)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_path"
    assert files_in(corpus) == before and not (corpus / "d").exists()


def test_a_name_in_another_unicode_form_is_the_same_name(client, corpus):
    composed, decomposed = "caf\u00e9.txt", "cafe\u0301.txt"
    first = upload(client, decomposed, "Espresso notes.\n", folder="menu")
    assert first.status_code == 201 and first.get_json()["path"] == "menu/" + composed
    assert upload(client, composed, "Other.\n", folder="menu").status_code == 409
    # A file saved in decomposed form by another program, then uploaded composed: one name, refused.
    (corpus / "cafe\u0301s").mkdir()  # a folder in decomposed form: an upload into `cafés` is refused, not a twin
    response = upload(client, "list.txt", "Two.\n", folder="caf\u00e9s")
    assert response.status_code == 409 and "another Unicode form" in response.get_json()["error"]["message"]
    assert not (corpus / "caf\u00e9s").exists()
    write(corpus, "menu/th\u00e9\u0301.txt", "Tea.\n")
    (corpus / "menu/th\u00e9\u0301.txt").rename(corpus / "menu/the\u0301.txt")
    response = upload(client, "th\u00e9.txt", "Tea again.\n", folder="menu", replace="true")
    assert response.status_code == 409 and "another Unicode form" in response.get_json()["error"]["message"]


def test_the_document_page_links_to_the_original(client):
    doc_id = indexer.doc_id("notes/moving.md")
    page = client.get(f"/doc/{doc_id}").get_data(as_text=True)
    assert f'href="/files/{doc_id}"' in page


def test_openapi_describes_the_new_routes(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert {"post", "delete"} <= set(paths["/api/documents"]) | set(paths["/api/documents/{doc_id}"])
    assert "get" in paths["/files/{doc_id}"]


def test_a_full_disk_is_507_and_says_what_was_kept(client, corpus, monkeypatch):
    import errno

    before = files_in(corpus)
    real_copy = files._copy

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_copy", full)
    response = upload(client, "minutes.txt", "The zeppelin minutes.\n", folder="new/team")
    assert response.status_code == 507 and response.get_json()["error"]["code"] == "insufficient_storage"
    assert "nothing was saved" in response.get_json()["error"]["message"]
    assert files_in(corpus) == before and not (corpus / "new").exists()
    monkeypatch.setattr(files, "_copy", real_copy)
    monkeypatch.setattr(files, "_reindex", full)  # the index's disk full, after the file is in place
    response = upload(client, "minutes.txt", "The zeppelin minutes.\n")
    assert response.status_code == 507 and "is saved" in response.get_json()["error"]["message"]
    assert (corpus / "minutes.txt").is_file()
