"""Every endpoint's answers, success and error, validated in full against the OpenAPI document."""

from __future__ import annotations

import io
import re

import pytest
from conftest import TOKEN
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from search import auth, contract, create_app, indexer, keys, openapi
from search.config import load

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer not-the-key"}
SEED_ID = "{seed}"  # replaced by the id of the seed article
EXISTING = "{existing}"  # replaced by the seed article's file name
# Documented answers no case here reaches: the index staying busy for the whole wait of a delete,
# and a full disk (tests/test_uploads.py fills one by patching, which these live setups do not).
NOT_EXERCISED = {("/api/documents/{doc_id}", "delete", 409), ("/api/documents", "post", 507)}


def upload(name: str, data: bytes) -> dict:
    """Return the request arguments of a multipart upload of `data` as `name` (merged with the headers)."""
    return {"file": (name, data)}


# (app, method, path template, URL, headers, status): the app is one of the setups in `make_client`.
CASES = [
    ("ok", "get", "/api/search", "/api/search?q=putin", {}, 200),
    ("ok", "get", "/api/search", "/api/search?q=relocate OR lift&per_page=1&page=2", {}, 200),
    ("ok", "get", "/api/search", "/api/search?q=Rusia", {}, 200),  # relaxed and suggestion set
    ("ok", "get", "/api/search", "/api/search?q=zzqxv", {}, 200),  # no results
    ("ok", "get", "/api/search", "/api/search?q=wing&type=TEXT,markdown&type=html&sort=date", {}, 200),
    ("ok", "get", "/api/search", "/api/search?q=", {}, 400),
    ("ok", "get", "/api/search", "/api/search?q=wing&type=exe", {}, 400),
    ("ok", "get", "/api/search", "/api/search?q=wing&per_page=0", {}, 400),
    ("missing", "get", "/api/search", "/api/search?q=wing", {}, 503),
    ("ok", "get", "/api/suggest", "/api/suggest?q=moving rel", {}, 200),
    ("ok", "get", "/api/suggest", "/api/suggest?q=", {}, 200),
    ("ok", "get", "/api/suggest", "/api/suggest", {}, 400),
    ("ok", "get", "/api/suggest", "/api/suggest?q=" + "x" * 10_001, {}, 400),
    ("missing", "get", "/api/suggest", "/api/suggest?q=wi", {}, 503),
    ("ok", "get", "/api/documents/{doc_id}", f"/api/documents/{SEED_ID}", {}, 200),
    ("ok", "get", "/api/documents/{doc_id}", "/api/documents/0123456789abcdef", {}, 404),
    ("missing", "get", "/api/documents/{doc_id}", "/api/documents/0123456789abcdef", {}, 503),
    ("ok", "post", "/api/reindex", "/api/reindex", AUTH, 200),
    ("ok", "post", "/api/reindex", "/api/reindex", {}, 401),
    ("no_token", "post", "/api/reindex", "/api/reindex", AUTH, 403),
    ("busy", "post", "/api/reindex", "/api/reindex", AUTH, 409),
    ("no_corpus", "post", "/api/reindex", "/api/reindex", AUTH, 500),
    ("throttled", "post", "/api/reindex", "/api/reindex", WRONG, 429),
    ("ok", "post", "/api/documents", "/api/documents", AUTH | upload("note.txt", b"A new note."), 201),
    ("ok", "post", "/api/documents", "/api/documents", AUTH, 400),
    ("ok", "post", "/api/documents", "/api/documents", upload("note.txt", b"A new note."), 401),
    ("no_token", "post", "/api/documents", "/api/documents", AUTH | upload("note.txt", b"A new note."), 403),
    ("ok", "post", "/api/documents", "/api/documents", AUTH | upload(EXISTING, b"Again."), 409),
    ("small", "post", "/api/documents", "/api/documents", AUTH | upload("big.txt", b"x" * 4096), 413),
    ("ok", "post", "/api/documents", "/api/documents", AUTH | upload("tool.exe", b"MZ"), 415),
    ("ok", "post", "/api/documents", "/api/documents", AUTH | upload("broken.pdf", b"not a pdf"), 422),
    ("throttled", "post", "/api/documents", "/api/documents", WRONG, 429),
    ("no_corpus", "post", "/api/documents", "/api/documents", AUTH | upload("note.txt", b"A new note."), 500),
    ("ok", "delete", "/api/documents/{doc_id}", f"/api/documents/{SEED_ID}", AUTH, 204),
    ("ok", "delete", "/api/documents/{doc_id}", f"/api/documents/{SEED_ID}", {}, 401),
    ("no_token", "delete", "/api/documents/{doc_id}", f"/api/documents/{SEED_ID}", AUTH, 403),
    ("ok", "delete", "/api/documents/{doc_id}", "/api/documents/0123456789abcdef", AUTH, 404),
    ("throttled", "delete", "/api/documents/{doc_id}", f"/api/documents/{SEED_ID}", WRONG, 429),
    ("missing", "delete", "/api/documents/{doc_id}", "/api/documents/0123456789abcdef", AUTH, 503),
    ("ok", "get", "/files/{doc_id}", f"/files/{SEED_ID}", {}, 200),
    ("ok", "get", "/files/{doc_id}", "/files/0123456789abcdef", {}, 404),
    ("ok", "get", "/files/{doc_id}", f"/files/{SEED_ID}", {"Range": "bytes=0-9"}, 206),
    ("ok", "get", "/files/{doc_id}", f"/files/{SEED_ID}", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 304),
    ("ok", "get", "/files/{doc_id}", f"/files/{SEED_ID}", {"Range": "bytes=999999999-"}, 416),
    ("missing", "get", "/files/{doc_id}", "/files/0123456789abcdef", {}, 503),
    ("ok", "get", "/api/openapi.json", "/api/openapi.json", {}, 200),
]
# Once the server has keys, each reading route answers 401 without one and 429 after repeated wrong ones.
CASES += [
    (kind, "get", template, url, headers, status)
    for template, url in [
        ("/api/search", "/api/search?q=putin"),
        ("/api/suggest", "/api/suggest?q=pu"),
        ("/api/documents/{doc_id}", f"/api/documents/{SEED_ID}"),
        ("/files/{doc_id}", f"/files/{SEED_ID}"),
        ("/api/openapi.json", "/api/openapi.json"),
    ]
    for kind, headers, status in [("keyed", {}, 401), ("throttled", WRONG, 429)]
]
CASES += [
    ("ok", "get", "/healthz", "/healthz", {}, 200),
    ("missing", "get", "/healthz", "/healthz", {}, 503),
    ("ok", "get", "/livez", "/livez", {}, 200),
    ("missing", "get", "/livez", "/livez", {}, 200),
]
DOCUMENT = openapi.document(load({}, environ={}))


def response_schema(template: str, method: str, status: int) -> dict:
    """Return the documented JSON schema of an answer, with the document's components to resolve refs."""
    answer = DOCUMENT["paths"][template][method]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    return {**schema, "components": DOCUMENT["components"]}


def validate(body, schema: dict) -> None:
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(body)


@pytest.fixture
def make_client(tmp_path, corpus, index_dir):
    """Return a function giving a test client of one app setup."""

    def client(kind: str):
        settings = {"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index_dir), "ADMIN_TOKEN": TOKEN}
        if kind == "missing":
            settings["INDEX_DIR"] = str(tmp_path / "no-index")
        elif kind == "no_token":
            settings["ADMIN_TOKEN"] = ""
        elif kind == "no_corpus":
            settings["CORPUS_DIR"] = str(tmp_path / "no-corpus")
        elif kind == "small":
            settings["MAX_FILE_MB"] = 0.001
        elif kind in ("keyed", "throttled"):
            store = keys.KeyStore(tmp_path / "keys.json")
            store.create("reader")
            settings["KEYS_FILE"] = str(store.path)
        return create_app(settings).test_client()

    return client


@pytest.mark.parametrize(("kind", "method", "template", "url", "headers", "status"), CASES)
def test_every_answer_matches_the_document(make_client, index_dir, kind, method, template, url, headers, status):
    client = make_client(kind)
    headers = dict(headers)
    form = {name: headers.pop(name) for name in ("file",) if name in headers}
    if SEED_ID in url or any(EXISTING in value[0] for value in form.values()):
        with make_client("ok") as reader:
            seed = reader.get("/api/search?q=putin").get_json()["results"][0]
        url = url.replace(SEED_ID, seed["id"])
        form = {name: (value[0].replace(EXISTING, seed["path"]), value[1]) for name, value in form.items()}
    data = {name: (io.BytesIO(content), filename) for name, (filename, content) in form.items()} or None
    if kind == "throttled":
        for _ in range(auth.FAILURE_LIMIT.amount):
            getattr(client, method)(url, headers=headers)
    if kind == "busy":
        with indexer.writer_lock(index_dir):
            response = getattr(client, method)(url, headers=headers, data=data)
    else:
        response = getattr(client, method)(url, headers=headers, data=data)
    assert response.status_code == status, response.get_data(as_text=True)
    answer = DOCUMENT["paths"][template][method]["responses"][str(status)]
    if "application/json" not in answer.get("content", {}):
        # A deletion or an unchanged file (no body), a download or a part of one.
        assert not response.is_json and (status in (204, 304)) == (response.get_data() == b"")
        response.close()  # the download's file handle
        return
    assert response.mimetype == "application/json"
    validate(response.get_json(), response_schema(template, method, status))
    if status == 503:
        assert response.get_json()["error"]["code"] == "index_missing"
        assert "python -m search index" in response.get_json()["error"]["message"]


def test_every_documented_answer_is_exercised():
    documented = {
        (template, method, int(status))
        for template, operations in DOCUMENT["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
    }
    exercised = {(template, method, status) for _, method, template, _, _, status in CASES}
    assert documented - NOT_EXERCISED == exercised


def test_the_schemas_are_strict(client):
    # A field added to an answer but not to the contract, or one left out, fails validation.
    schema = response_schema("/api/search", "get", 200)
    body = client.get("/api/search?q=putin").get_json()
    validate(body, schema)
    with pytest.raises(ValidationError, match="Additional properties"):
        validate({**body, "results": [{**body["results"][0], "extra": 1}]}, schema)
    for name in ("relaxed", "suggestion", "took_ms"):
        with pytest.raises(ValidationError, match="required property"):
            validate({key: value for key, value in body.items() if key != name}, schema)
    with pytest.raises(ValidationError, match="is not one of"):
        validate({**body, "relaxed": "loose"}, schema)
    hit = body["results"][0]
    for name in ("matches", "lang"):
        with pytest.raises(ValidationError, match="required property"):
            validate({**body, "results": [{key: value for key, value in hit.items() if key != name}]}, schema)


@pytest.mark.parametrize("template", sorted(DOCUMENT["paths"]))
def test_undocumented_methods_are_405_with_allow(client, template):
    declared = {method.upper() for method in DOCUMENT["paths"][template]}
    url = template.replace("{doc_id}", "0123456789abcdef")
    for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - declared:
        response = client.open(url, method=method)
        assert response.status_code == 405
        allowed = set(re.split(r",\s*", response.headers["Allow"]))
        assert declared <= allowed <= declared | {"HEAD", "OPTIONS"}
        validate(response.get_json(), {"$ref": "#/components/schemas/Error", "components": DOCUMENT["components"]})


def test_every_page_route_answers_405_with_allow(client):
    for url in ("/", "/search", "/doc/0123456789abcdef"):
        response = client.post(url)
        assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_limits_come_from_the_settings():
    document = openapi.document(load({"MAX_QUERY_CHARS": 50, "MAX_PER_PAGE": 20}, environ={}))
    search = {p["name"]: p["schema"] for p in document["paths"]["/api/search"]["get"]["parameters"]}
    assert search["q"]["maxLength"] == 50 and search["per_page"]["maximum"] == 20
    assert search["sort"]["enum"] == list(contract.SORTS) and search["match"]["enum"] == list(contract.MATCHES)


@pytest.mark.parametrize(
    ("value", "types"),
    [
        ("pdf", ("pdf",)),
        ("PDF", ("pdf",)),
        ("docx,pdf", ("docx", "pdf")),
        (" Text , markdown ", ("text", "markdown")),
        ("", ()),
    ],
)
def test_type_filters_parse_and_match_the_documented_pattern(value, types):
    assert contract.parse_types([value]) == types
    assert re.search(contract.types_pattern(), value)


@pytest.mark.parametrize("value", ["exe", "pdf,", ",pdf", "pdf,,text", "pdfx", "text;pdf"])
def test_unknown_types_are_refused_by_both(value):
    with pytest.raises(ValueError, match=re.escape(f"type must be one of {', '.join(contract.TYPES)}")):
        contract.parse_types([value])
    assert not re.search(contract.types_pattern(), value)


def test_every_json_route_is_documented(app):
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/files/")) or rule.rule in ("/healthz", "/livez")
    }
    assert routes == set(DOCUMENT["paths"])
