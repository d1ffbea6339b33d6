"""Every endpoint's answers, success and error, validated in full against the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from conftest import TOKEN
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from search import contract, create_app, indexer, openapi
from search.config import load

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED_ID = "{seed}"  # replaced by the id of the seed article

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
    ("ok", "get", "/api/suggest", "/api/suggest?q=" + "x" * 501, {}, 400),
    ("missing", "get", "/api/suggest", "/api/suggest?q=wi", {}, 503),
    ("ok", "get", "/api/documents/{doc_id}", f"/api/documents/{SEED_ID}", {}, 200),
    ("ok", "get", "/api/documents/{doc_id}", "/api/documents/0123456789abcdef", {}, 404),
    ("missing", "get", "/api/documents/{doc_id}", "/api/documents/0123456789abcdef", {}, 503),
    ("ok", "post", "/api/reindex", "/api/reindex", AUTH, 200),
    ("ok", "post", "/api/reindex", "/api/reindex", {}, 401),
    ("no_token", "post", "/api/reindex", "/api/reindex", AUTH, 403),
    ("busy", "post", "/api/reindex", "/api/reindex", AUTH, 409),
    ("no_corpus", "post", "/api/reindex", "/api/reindex", AUTH, 500),
    ("ok", "get", "/api/openapi.json", "/api/openapi.json", {}, 200),
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
        return create_app(settings).test_client()

    return client


@pytest.mark.parametrize(("kind", "method", "template", "url", "headers", "status"), CASES)
def test_every_answer_matches_the_document(make_client, index_dir, kind, method, template, url, headers, status):
    client = make_client(kind)
    if SEED_ID in url:
        seed = client.get("/api/search?q=putin").get_json()["results"][0]["id"]
        url = url.replace(SEED_ID, seed)
    if kind == "busy":
        with indexer.writer_lock(index_dir):
            response = getattr(client, method)(url, headers=headers)
    else:
        response = getattr(client, method)(url, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
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
    assert documented == exercised


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
        if rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/livez")
    }
    assert routes == set(DOCUMENT["paths"])
