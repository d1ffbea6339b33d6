"""API keys: the keys file, the CLI, enforcement, folder scoping through every route, sign-in.

The corpus has two teams' folders side by side. Each has words the other lacks (`severance`
only in HR, `kubernetes` only in Eng), so a leak through results, totals, did-you-mean or
completions shows up as a word a key must never see.
"""

from __future__ import annotations

import io
import json
import logging
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import TOKEN, write
from hypothesis import given
from hypothesis import strategies as st

from search import auth, cli, create_app, indexer, keys
from search.indexer import doc_id

HR_ONLY = "severance"
ENG_ONLY = "kubernetes"


def build_corpus(root: Path) -> None:
    """Write two teams' folders, a look-alike folder name, and a document at the top."""
    write(root, "HR/pay.txt", f"Salary bands\n\nThe {HR_ONLY} policy and the budget for salaries in 2026.\n")
    write(root, "HR/private/review.md", f"# Reviews\n\nConfidential {HR_ONLY} cases; budget notes.\n")
    write(root, "Eng/cluster.txt", f"Cluster notes\n\nThe {ENG_ONLY} cluster budget and its upgrade plan.\n")
    write(root, "Eng/runbook.md", f"# Runbook\n\nRestart the {ENG_ONLY} nodes in order.\n")
    write(root, "HRX/lookalike.txt", f"Look-alike\n\nA folder whose name starts like HR: {HR_ONLY} budget.\n")
    for lookalike in LOOKALIKES[1:]:  # named HR but for spaces or case: other folders
        write(root, lookalike, f"Look-alike\n\nA folder named nearly HR: {HR_ONLY} budget.\n")
    write(root, "readme.txt", "Company handbook\n\nThe budget of the whole company.\n")


LOOKALIKES = ("HRX/lookalike.txt", "HR /trailing.txt", " HR/leading.txt", "hr/lower.txt")
HR_DOCS = {"HR/pay.txt", "HR/private/review.md"}
ENG_DOCS = {"Eng/cluster.txt", "Eng/runbook.md"}


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("teams")
    corpus, index_dir = root / "corpus", root / "index"
    build_corpus(corpus)
    indexer.reindex(corpus, index_dir)
    return corpus, index_dir


@pytest.fixture
def store(tmp_path) -> keys.KeyStore:
    return keys.KeyStore(tmp_path / "instance" / "keys.json")


@pytest.fixture
def tokens(store) -> dict[str, str]:
    """Create the keys: one per team, one for everything, one admin; return name -> key."""
    made = {}
    for name, folders, admin in [("hr", ["HR"], False), ("eng", ["Eng/"], False), ("all", [], False)]:
        made[name] = store.create(name, folders, admin)[1]
    made["admin"] = store.create("admin", [], admin=True)[1]
    return made


@pytest.fixture
def app(index, store, tokens):
    corpus, index_dir = index
    config = {"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN}
    config |= {"KEYS_FILE": str(store.path), "SECRET_KEY": "test-secret"}
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_search(client, token: str, **params) -> dict:
    response = client.get("/api/search", query_string=params, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# The keys file and the command line


def test_the_keys_file_holds_only_hashes(store, tokens):
    text = store.path.read_text()
    for token in tokens.values():
        assert token not in text and token[4:] not in text
        assert keys.digest(token) in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.find(tokens["hr"]).name == "hr"
    assert store.find(tokens["hr"] + "x") is None
    assert store.find("") is None


def test_cli_create_list_revoke(tmp_path, monkeypatch, capsys):
    path = tmp_path / "keys.json"
    monkeypatch.setenv("SEEDSEARCH_KEYS_FILE", str(path))
    assert cli.main(["keys", "create", "hr", "--folders", "HR,/Payroll/2026/"]) == 0
    created = capsys.readouterr().out.strip().splitlines()
    token = created[-1]
    assert re.fullmatch(r"ssk_[A-Za-z0-9_-]{43}", token)
    assert keys.KeyStore(path).find(token).folders == ("HR", "Payroll/2026")
    assert cli.main(["keys", "create", "ops", "--admin"]) == 0
    capsys.readouterr()

    assert cli.main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert "hr\tsearch, folders HR, Payroll/2026\tcreated " in listed and "ops\tadmin, all folders" in listed
    assert token not in listed and keys.digest(token) not in listed

    assert cli.main(["keys", "create", "hr"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: a key called 'hr' already exists; revoke it first or choose another name"
    ]
    assert cli.main(["keys", "revoke", "nobody"]) == 1
    assert capsys.readouterr().err.strip() == "error: no key called 'nobody'"
    assert cli.main(["keys", "create", "../bad name"]) == 1
    assert cli.main(["keys", "create", "x", "--folders", "a/../b"]) == 2
    capsys.readouterr()
    for empty in ("", ","):  # --folders "$TEAM" with TEAM unset: not a key that sees everything
        assert cli.main(["keys", "create", "x", "--folders", empty]) == 2
        assert "--folders names no folder" in capsys.readouterr().err
    for bad in (".", "..", "a/..", " / "):  # a bad argument: exit 2, as argparse's own
        assert cli.main(["keys", "create", "x", "--folders", bad]) == 2
        assert "not a folder inside the corpus" in capsys.readouterr().err
    assert [key.name for key in keys.KeyStore(path).entries()] == ["hr", "ops"]

    assert cli.main(["keys", "revoke", "hr"]) == 0
    assert keys.KeyStore(path).find(token) is None
    assert cli.main(["keys", "revoke", "ops"]) == 0
    assert "no keys left" in capsys.readouterr().err


def test_writes_keep_each_other(store):
    """Two stores on one file (two `keys` commands) see each other's keys."""
    other = keys.KeyStore(store.path)
    first = store.create("one")[1]
    second = other.create("two")[1]
    assert store.find(first).name == "one" and store.find(second).name == "two"
    assert sorted(key.name for key in other.entries()) == ["one", "two"]


@pytest.mark.parametrize(
    "damage", ["{not json", "", "[]", '{"keys": [{"name": "x"}]}', '{"keys": [{"name": "x", "sha256": "é"}]}']
)
def test_a_damaged_keys_file_closes_the_service(app, store, client, damage):
    store.path.write_text(damage)
    response = client.get("/api/search?q=budget")
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"
    assert client.get("/").status_code == 500
    assert client.get("/livez").status_code == 200


@pytest.mark.parametrize(
    "host, warned", [("127.0.0.1", False), ("localhost", False), ("::1", False), ("0.0.0.0", True), ("10.1.2.3", True)]
)
def test_serve_warns_when_open_beyond_loopback(tmp_path, monkeypatch, capsys, host, warned):
    monkeypatch.setenv("SEEDSEARCH_KEYS_FILE", str(tmp_path / "keys.json"))
    started = []
    monkeypatch.setattr(cli.os, "execv", lambda program, command: started.append(command))
    monkeypatch.setattr(cli, "_port_taken", lambda host, port: None)  # an address this machine may not have
    assert cli.main(["serve", "--host", host, "--port", "8123"]) == 0
    assert started
    assert ("warning: serving on" in capsys.readouterr().err) is warned
    keys.KeyStore(tmp_path / "keys.json").create("someone")
    assert cli.main(["serve", "--host", host]) == 0
    assert "warning" not in capsys.readouterr().err


# Enforcement


def test_open_without_keys(index, tmp_path):
    corpus, index_dir = index
    client = create_app({"INDEX_DIR": str(index_dir), "KEYS_FILE": str(tmp_path / "none.json")}).test_client()
    assert client.get("/api/search?q=budget").get_json()["total"] == 5 + len(LOOKALIKES) - 1
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 302  # nothing to sign in to
    assert client.post("/logout").status_code == 302  # nor to sign out of (no secret key needed)


def test_signing_in_works_at_once_when_the_first_key_is_created_on_a_running_server(index, tmp_path):
    corpus, index_dir = index
    store = keys.KeyStore(tmp_path / "instance" / "keys.json")
    client = create_app({"INDEX_DIR": str(index_dir), "KEYS_FILE": str(store.path)}).test_client()
    assert client.get("/login").status_code == 302  # open: nothing to sign in to
    token = store.create("first", [], False)[1]  # `keys create` while it runs; no SEEDSEARCH_SECRET_KEY
    assert client.get("/login").status_code == 200
    response = sign_in(client, token, "/search?q=budget")
    assert response.status_code == 302 and response.headers["Location"] == "/search?q=budget"
    assert "Signed in as first" in client.get("/search?q=budget").get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/api/search?q=budget",
        "/api/suggest?q=bud",
        "/api/openapi.json",
        "/api/documents/0000000000000000",
        f"/files/{doc_id('Eng/runbook.md')}",  # a download, fetched by scripts: JSON too
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer ", "Basic abc", "Bearer ssk_" + "A" * 43])
def test_api_needs_a_key(client, path, header):
    response = client.get(path, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/", "/search?q=budget", f"/doc/{doc_id('Eng/runbook.md')}", "/nowhere"])
def test_pages_send_you_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/static/style.css", "/login"])
def test_open_routes(client, path):
    with client.get(path) as response:  # closes the static file
        assert response.status_code == 200


def test_health_is_open_and_counts_everything(client):
    assert client.get("/healthz").get_json()["documents"] == 6 + len(LOOKALIKES) - 1


def test_repeated_wrong_keys_get_429(client, tokens):
    for _ in range(auth.FAILURE_LIMIT.amount):
        assert client.get("/api/search?q=budget", headers=bearer("ssk_wrong")).status_code == 401
    response = client.get("/api/search?q=budget", headers=bearer("ssk_wrong"))
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_requests"
    assert int(response.headers["Retry-After"]) >= 1
    # While it lasts, even a right key from that address waits: guessing must not go on. The
    # admin token too, or a right guess would stand out from the 429s.
    assert client.get("/api/search?q=budget", headers=bearer(tokens["hr"])).status_code == 429
    assert client.post("/api/reindex", headers=bearer(TOKEN)).status_code == 429
    assert client.get("/healthz", headers=bearer(TOKEN)).status_code == 200  # open routes stay open
    other = client.get("/api/search?q=budget", headers=bearer(tokens["hr"]), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_right_keys_are_not_counted(client, tokens):
    for _ in range(auth.FAILURE_LIMIT.amount * 2):
        assert client.get("/api/search?q=budget", headers=bearer(tokens["eng"])).status_code == 200


def test_revoking_takes_effect_on_the_running_app(client, tokens, store):
    assert client.get("/api/search?q=budget", headers=bearer(tokens["eng"])).status_code == 200
    keys.KeyStore(store.path).revoke("eng")  # as `python -m search keys revoke eng` would
    assert client.get("/api/search?q=budget", headers=bearer(tokens["eng"])).status_code == 401
    assert client.get("/api/search?q=budget", headers=bearer(tokens["hr"])).status_code == 200


def test_keys_are_never_logged(client, tokens, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/api/search?q=budget", headers=bearer(tokens["hr"]))
    client.get("/api/search?q=budget", headers=bearer(tokens["hr"] + "x"))
    sign_in(client, tokens["eng"])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert tokens["hr"] not in logged and tokens["eng"] not in logged


def test_admin_routes(client, tokens):
    for name in ("hr", "eng", "all"):
        response = client.post("/api/reindex", headers=bearer(tokens[name]))
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert client.post("/api/reindex", headers=bearer("ssk_nope")).status_code == 401
    assert client.post("/api/reindex").status_code == 401
    assert client.post("/api/reindex", headers=bearer(tokens["admin"])).status_code == 200
    # The admin token is an admin key too, and searches everything.
    assert client.post("/api/reindex", headers=bearer(TOKEN)).status_code == 200
    assert api_search(client, TOKEN, q="budget")["total"] == 5 + len(LOOKALIKES) - 1


def test_a_session_cannot_change_the_index(client, tokens):
    sign_in(client, tokens["admin"])
    assert client.get("/api/search?q=budget").status_code == 200  # the page's completions use the cookie
    assert client.post("/api/reindex").status_code == 401  # changes need the header, not a cookie


def test_a_scoped_admin_key_changes_only_its_folders(tmp_path):
    corpus, index_dir, store = tmp_path / "corpus", tmp_path / "index", keys.KeyStore(tmp_path / "keys.json")
    build_corpus(corpus)
    indexer.reindex(corpus, index_dir)
    token = store.create("hr-admin", ["HR"], admin=True)[1]
    config = {"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "KEYS_FILE": str(store.path)}
    client = create_app(config | {"SECRET_KEY": "test-secret"}).test_client()
    before = {path: path.read_bytes() for path in corpus.rglob("*") if path.is_file()}

    def upload(folder: str, name: str, replace: str = "false"):
        body = {"file": (io.BytesIO(b"Planted\n\nwritten by the HR admin key\n"), name), "replace": replace}
        body |= {"folder": folder} if folder is not None else {}
        return client.post("/api/documents", data=body, headers=bearer(token), content_type="multipart/form-data")

    # Outside its folders: refused before anything is looked at, so an existing name answers alike.
    for folder, name, replace in [("Eng", "new.txt", "false"), ("Eng", "runbook.md", "false"),
                                  ("Eng", "cluster.txt", "true"), (None, "top.txt", "false"),
                                  ("HRX", "lookalike.txt", "true"), ("HR/../Eng", "x.txt", "false")]:  # fmt: skip
        response = upload(folder, name, replace)
        assert response.status_code in (400, 403), (folder, name, response.get_data(as_text=True))
        if response.status_code == 403:
            assert response.get_json()["error"]["code"] == "forbidden"
    assert {path: path.read_bytes() for path in corpus.rglob("*") if path.is_file()} == before
    # Inside them: written and indexed; a search with the key finds it.
    assert upload("HR/private", "new.txt").status_code == 201
    assert (corpus / "HR/private/new.txt").exists()
    assert paths(api_search(client, token, q="planted")) == {"HR/private/new.txt"}
    # Deleting outside its folders: as if the document did not exist.
    assert client.delete(f"/api/documents/{doc_id('Eng/runbook.md')}", headers=bearer(token)).status_code == 404
    # Reindexing: its folders alone, so the summary names nothing of another folder's.
    write(corpus, "Eng/layoffs-plan.png", "not a document")
    (corpus / "Eng/resignation.txt").write_bytes(b"")
    write(corpus, "HR/new-hire.txt", "Welcome\n\nA new hire's notes.\n")
    summary = client.post("/api/reindex", headers=bearer(token)).get_json()
    assert summary["added"] == 1 and "Eng" not in json.dumps(summary), summary
    assert summary["unchanged"] == 3  # HR's three documents, not the corpus's


# Folder scoping, route by route


def paths(result: dict) -> set[str]:
    return {hit["path"] for hit in result["results"]}


@pytest.mark.parametrize(
    "name, mine, theirs, their_word",
    [("hr", HR_DOCS, ENG_DOCS, ENG_ONLY), ("eng", ENG_DOCS, HR_DOCS, HR_ONLY)],
)
def test_a_scoped_key_sees_only_its_folders(client, tokens, name, mine, theirs, their_word):
    token = tokens[name]
    # Results and totals.
    result = api_search(client, token, q="budget", per_page=100)
    assert paths(result) <= mine and result["total"] == len(paths(result))
    assert api_search(client, token, q=their_word)["total"] == 0
    assert api_search(client, token, q=their_word, match="any")["total"] == 0
    # Filters cannot widen a scope: another folder, or the look-alike one.
    for folder in ("HR", "Eng", "HRX", "HR ", " HR", "hr", ""):
        assert paths(api_search(client, token, q="budget", folder=folder)) <= mine
    assert api_search(client, token, q="budget", sort="date")["total"] == result["total"]
    # Relaxed queries: no document has both words, so the query is relaxed, within the scope.
    relaxed = api_search(client, token, q=f"budget {their_word}")
    assert relaxed["relaxed"] == "any" and paths(relaxed) <= mine
    fuzzy = api_search(client, token, q=their_word[:-1] + "x")
    assert fuzzy["total"] == 0 and fuzzy["relaxed"] is None
    # Did you mean: a misspelling of a word only the other folder has.
    misspelt = their_word[:3] + their_word[4:]
    assert their_word not in (api_search(client, token, q=misspelt)["suggestion"] or "")
    # Completions.
    completions = client.get(f"/api/suggest?q={their_word[:3]}", headers=bearer(token)).get_json()
    assert not any(their_word in word for word in completions["suggestions"])
    # Documents: their own 200, the others' 404 on the API and the page.
    for path in mine:
        assert client.get(f"/api/documents/{doc_id(path)}", headers=bearer(token)).status_code == 200
    for path in theirs | {*LOOKALIKES, "readme.txt"}:
        response = client.get(f"/api/documents/{doc_id(path)}", headers=bearer(token))
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
        assert client.get(f"/doc/{doc_id(path)}", headers=bearer(token)).status_code == 404


def test_the_other_folder_is_what_leaks_without_a_scope(client, tokens):
    """The words the scoped keys must not see are there: an unscoped key sees them."""
    token = tokens["all"]
    assert api_search(client, token, q=HR_ONLY)["total"] == 2 + len(LOOKALIKES)
    assert api_search(client, token, q="sevrance")["suggestion"] == HR_ONLY
    completions = client.get("/api/suggest?q=kub", headers=bearer(token)).get_json()["suggestions"]
    assert completions == [ENG_ONLY]
    assert api_search(client, tokens["hr"], q="sevrance")["suggestion"] == HR_ONLY
    assert client.get("/api/suggest?q=sev", headers=bearer(tokens["hr"])).get_json()["suggestions"] == [HR_ONLY]


def test_scoped_pages(client, tokens):
    sign_in(client, tokens["eng"])
    home = client.get("/").get_data(as_text=True)
    assert "2 documents indexed" in home
    folders = re.findall(r'<option value="([^"]*)">', home.split('id="folders"')[1].split("</datalist>")[0])
    assert folders == ["Eng"]
    page = client.get("/search?q=budget").get_data(as_text=True)
    assert "Eng/cluster.txt" in page and "HR/" not in page and "readme.txt" not in page
    assert HR_ONLY not in client.get("/search?q=sevrance").get_data(as_text=True)
    assert client.get(f"/doc/{doc_id('HR/pay.txt')}").status_code == 404
    assert client.get(f"/doc/{doc_id('Eng/runbook.md')}").status_code == 200
    sign_out(client)
    sign_in(client, tokens["hr"])
    home = client.get("/").get_data(as_text=True)
    assert "2 documents indexed" in home
    folders = re.findall(r'<option value="([^"]*)">', home.split('id="folders"')[1].split("</datalist>")[0])
    assert folders == ["HR", "HR/private"]


# Signing in and out (the browser does it for real in test_sign_in_with_chromium)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def sign_in(client, token: str, next_page: str = "/"):
    form = client.get(f"/login?next={next_page}").get_data(as_text=True)
    return client.post("/login", data={"key": token, "csrf_token": csrf(form), "next": next_page})


def sign_out(client):
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf(page)}).status_code == 302


def test_sign_in_sets_a_safe_cookie(client, tokens):
    response = sign_in(client, tokens["hr"], "/search?q=budget")
    assert response.status_code == 302 and response.headers["Location"] == "/search?q=budget"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert tokens["hr"] not in cookie
    page = client.get("/search?q=budget").get_data(as_text=True)
    assert "Signed in as hr" in page
    sign_out(client)
    assert client.get("/").status_code == 302


def test_the_cookie_is_secure_over_https(app, tokens):
    client = app.test_client()
    form = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    response = client.post(
        "/login", base_url="https://localhost", data={"key": tokens["hr"], "csrf_token": csrf(form), "next": "/"}
    )
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]


def test_sign_in_refuses_wrong_keys_and_forged_forms(client, tokens):
    form = client.get("/login").get_data(as_text=True)
    wrong = client.post("/login", data={"key": "ssk_wrong", "csrf_token": csrf(form)})
    assert wrong.status_code == 401 and "That key is not valid" in wrong.get_data(as_text=True)
    assert "ssk_wrong" not in wrong.get_data(as_text=True)
    forged = client.post("/login", data={"key": tokens["hr"]})  # no CSRF token: another site's form
    assert forged.status_code == 400 and client.get("/").status_code == 302
    sign_in(client, tokens["hr"])
    assert client.post("/logout").status_code == 400  # signing out needs the token too
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_sign_in_goes_nowhere_else(client, tokens, target):
    response = sign_in(client, tokens["hr"], target)
    assert response.status_code == 302 and response.headers["Location"] == "/search"


def test_signing_out_ends_the_session_not_only_the_cookie(app, tokens, store):
    client, elsewhere = app.test_client(), app.test_client()
    sign_in(client, tokens["hr"])
    sign_in(elsewhere, tokens["hr"])  # the same key signed in on another device
    copied = client.get_cookie("session").value  # taken before signing out (a stolen cookie)
    sign_out(client)
    assert client.get("/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", copied)
    assert replay.get("/").status_code == 302
    assert replay.get("/api/search?q=budget").status_code == 401
    assert elsewhere.get("/").status_code == 200  # that one session ended, not the key's others
    # Every server process reads the ended sessions from the keys file.
    fresh = keys.KeyStore(store.path)
    entries = json.loads(store.path.read_text())["ended_sessions"]
    assert len(entries) == 1 and copied not in store.path.read_text()
    assert fresh.entries() == store.entries()


def test_a_sign_out_the_server_cannot_record_still_signs_this_browser_out(client, tokens, monkeypatch, caplog):
    sign_in(client, tokens["hr"])

    def read_only(*args):
        raise keys.KeysError("cannot write the keys file: read-only file system")

    monkeypatch.setattr(keys.KeyStore, "end_session", read_only)
    page = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf(page)})
    assert response.status_code == 500 and "signed out in this browser" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # the cookie is cleared all the same
    assert "sign-out not recorded" in caplog.text


def test_ended_sessions_are_bounded_without_forgetting_any(store, monkeypatch):
    monkeypatch.setattr(keys, "MAX_ENDED_SESSIONS", 2)
    later = datetime.now(UTC) + timedelta(days=1)
    store.end_session("one", later)
    store.end_session("two", later)
    with pytest.raises(keys.KeysError, match="no more are recorded"):
        store.end_session("three", later)
    assert store.session_ended("one") and store.session_ended("two") and not store.session_ended("three")


def test_ended_sessions_are_forgotten_once_expired(store):
    store.create("hr", ["HR"])
    past = datetime.now(UTC) - timedelta(days=1)
    store.end_session("old-session", past)
    store.end_session("new-session", datetime.now(UTC) + timedelta(days=1))
    assert store.session_ended("new-session") and not store.session_ended("old-session")
    assert len(json.loads(store.path.read_text())["ended_sessions"]) == 1


def test_revoking_ends_sessions(client, tokens, store):
    sign_in(client, tokens["hr"])
    assert client.get("/").status_code == 200
    store.revoke("hr")
    assert client.get("/").status_code == 302
    store.create("hr", ["HR"])  # the same name again is another key
    assert client.get("/").status_code == 302


# Fuzzing the authenticated routes

ROUTES = ["/", "/search", "/api/search", "/api/suggest", "/api/documents/{id}", "/doc/{id}", "/login", "/logout"]
ROUTES += ["/api/reindex", "/healthz", "/api/openapi.json"]
header_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
some_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


@pytest.fixture(scope="module")
def fuzzed(index, tmp_path_factory):
    """Return an app with keys, shared by every generated request, and its keys by name."""
    corpus, index_dir = index
    store = keys.KeyStore(tmp_path_factory.mktemp("fuzz") / "keys.json")
    made = {name: store.create(name, folders, name == "admin")[1] for name, folders in FUZZ_KEYS}
    app = create_app(
        {"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "KEYS_FILE": str(store.path), "SECRET_KEY": "s"}
    )
    return app, made


FUZZ_KEYS = [("hr", ["HR"]), ("eng", ["Eng"]), ("all", []), ("admin", [])]


@given(
    route=st.sampled_from(ROUTES),
    method=st.sampled_from(["GET", "POST", "HEAD"]),
    who=st.sampled_from(["hr", "eng", "all", "admin", None]),
    authorization=st.one_of(st.none(), header_value, header_value.map("Bearer ".__add__)),
    params=st.dictionaries(st.sampled_from(["q", "page", "folder", "next", "key", "csrf_token"]), some_text),
    doc=st.one_of(st.sampled_from(sorted(HR_DOCS | ENG_DOCS)).map(doc_id), some_text),
    # Many addresses, so that wrong keys do not turn every later example into a 429.
    address=st.integers(0, 255).map("10.0.0.{}".format),
)
def test_fuzz_authenticated_routes_never_500(fuzzed, route, method, who, authorization, params, doc, address):
    app, tokens = fuzzed
    client = app.test_client()
    headers = {}
    if who is not None:
        headers["Authorization"] = f"Bearer {tokens[who]}"
    elif authorization is not None:
        headers["Authorization"] = authorization
    path = route.replace("{id}", quote(doc, safe="") or "x")
    response = client.open(
        path, method=method, headers=headers, query_string=params, data=params, environ_base={"REMOTE_ADDR": address}
    )
    assert response.status_code < 500, (path, response.get_data(as_text=True)[:300])
    if response.status_code == 401 and path.startswith("/api/") and method != "HEAD":
        assert json.loads(response.get_data(as_text=True))["error"]["code"] == "unauthorized"
