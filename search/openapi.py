"""The OpenAPI 3 description of the JSON API, built from the contract and the app's limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search import contract

ERROR = {"$ref": "#/components/schemas/Error"}
MOMENT = (
    ": a date (YYYY-MM-DD, the whole day) or an ISO 8601 date and time (with an offset, or UTC without one);"
    " empty for none"
)
INDEX_MISSING = (
    "no index has been built yet (code index_missing): run `python -m search index`;"
    " or the index folder cannot be read (code index_unreadable)"
)
FORBIDDEN = "a key that is not an admin key, or no admin token or key configured"
TOO_MANY = "too many wrong keys from this address; see Retry-After"
DOC_ID = {"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict:
    return _json(description, ERROR)


def _keyed() -> dict:
    """Return the answers of a route that needs a key once the server has keys."""
    return {
        "401": _error_response("the server has keys, and none or a wrong one was sent"),
        "429": _error_response(TOO_MANY),
    }


def _query_param(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def _object(fields: Mapping[str, dict]) -> dict:
    """Return the schema of an object that always has exactly `fields`."""
    return {"type": "object", "required": list(fields), "properties": dict(fields), "additionalProperties": False}


def document(config: Mapping[str, Any]) -> dict:
    """Return the OpenAPI document for the API of an app with settings `config`."""
    max_chars, max_per_page, window = (config[name] for name in contract.LIMITS)
    # Empty, as a form sends it, means no limit.
    moment = {"type": "string", "anyOf": [{"maxLength": 0}, {"format": "date"}, {"format": "date-time"}]}
    query_text = {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": contract.QUERY_PATTERN}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Seedsearch API",
            "version": "1.0.0",
            "description": "Once the server has API keys, every route but /healthz and /livez needs "
            "'Authorization: Bearer KEY' (401 without a valid one, 429 after repeated wrong ones); "
            "a key with folders sees only the documents under them, through every route.",
        },
        # A key when the server has keys; nothing when it has none.
        "security": [{"bearer": []}, {}],
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "Search the documents",
                    "parameters": [
                        _query_param(
                            "q",
                            'the query: words, "phrases", OR, -word, NOT, prefix*, fuzzy~, title:word',
                            query_text,
                            True,
                        ),
                        _query_param(
                            "page",
                            f"result page, from 1; a page past the last result is empty (with the total), and"
                            f" one whose results go on past the first {window} is refused",
                            {"type": "integer", "minimum": 1, "default": 1},
                        ),
                        _query_param(
                            "per_page",
                            "results per page",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": max_per_page,
                                "default": contract.DEFAULT_PER_PAGE,
                            },
                        ),
                        _query_param(
                            "sort",
                            "relevance or date (newest first)",
                            {"type": "string", "enum": list(contract.SORTS), "default": contract.SORTS[0]},
                        ),
                        _query_param(
                            "match",
                            "all: any of the words, documents with every word first (default); "
                            "any: any word, ranked by DFR (In_expB2), no tier",
                            {"type": "string", "enum": list(contract.MATCHES), "default": contract.MATCHES[0]},
                        ),
                        {
                            **_query_param(
                                "type",
                                f"only these file types ({', '.join(contract.TYPES)}; any case): repeat the "
                                "parameter or separate types with commas; empty for all",
                                {"type": "array", "items": {"type": "string", "pattern": contract.types_pattern()}},
                            ),
                            "style": "form",
                            "explode": True,
                        },
                        _query_param("folder", "only documents under this folder (empty for all)", {"type": "string"}),
                        _query_param("after", "modified on or after this day or moment" + MOMENT, moment),
                        _query_param("before", "modified on or before this day or moment" + MOMENT, moment),
                    ],
                    "responses": {
                        "200": _json("one page of ranked results", _ref("SearchResult")),
                        "400": _error_response("a query or parameter that cannot be answered (code bad_query)"),
                        **_keyed(),
                        "503": _error_response(INDEX_MISSING),
                    },
                }
            },
            "/api/suggest": {
                "get": {
                    "summary": "Complete the last word of a query from the index vocabulary",
                    "parameters": [
                        _query_param(
                            "q",
                            "the query typed so far (may be empty)",
                            {"type": "string", "maxLength": max_chars},
                            True,
                        ),
                    ],
                    "responses": {
                        "200": _json(
                            "the query with its last word completed, most frequent words first", _ref("Suggestions")
                        ),
                        "400": _error_response("a missing or too long query (code bad_query)"),
                        **_keyed(),
                        "503": _error_response(INDEX_MISSING),
                    },
                }
            },
            "/api/documents": {
                "post": {
                    "summary": "Upload a document into the corpus and index it (admin)",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": {"type": "string", "format": "binary"},
                                        "folder": {"type": "string", "description": "corpus folder, e.g. team/2026"},
                                        "replace": {"type": "boolean", "default": False},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            **_json("the indexed document", _ref("Document")),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        "400": _error_response("no file, or a folder or file name that is not allowed"),
                        "401": _error_response("missing or wrong token"),
                        "403": _error_response(FORBIDDEN),
                        "409": _error_response("the path exists (send replace=true), or the index stayed busy"),
                        "413": _error_response("the file is larger than SEEDSEARCH_MAX_FILE_MB"),
                        "415": _error_response("a file type the indexer does not read"),
                        "422": _error_response("the file cannot be read as a document of its type"),
                        "429": _error_response(TOO_MANY),
                        "500": _error_response("the corpus folder is missing (code corpus_missing)"),
                        "507": _error_response("the disk is full (nothing saved, or saved and not yet indexed)"),
                    },
                }
            },
            "/api/documents/{doc_id}": {
                "get": {
                    "summary": "One document's metadata and text",
                    "parameters": [DOC_ID],
                    "responses": {
                        "200": _json("the document", _ref("Document")),
                        **_keyed(),
                        "404": _error_response("no such document"),
                        "503": _error_response(INDEX_MISSING),
                    },
                },
                "delete": {
                    "summary": "Delete the document's file from the corpus and the document from the index (admin)",
                    "security": [{"bearer": []}],
                    "parameters": [DOC_ID],
                    "responses": {
                        "204": {"description": "deleted"},
                        "401": _error_response("missing or wrong token"),
                        "403": _error_response(FORBIDDEN),
                        "404": _error_response("no such document"),
                        "409": _error_response("the index stayed busy"),
                        "429": _error_response(TOO_MANY),
                        "503": _error_response(INDEX_MISSING),
                    },
                },
            },
            "/files/{doc_id}": {
                "get": {
                    "summary": "The document's original file, as a download",
                    "parameters": [DOC_ID],
                    "responses": {
                        "200": {
                            "description": "the file (Content-Disposition: attachment; Content-Security-Policy: sandbox)",
                            # The file's own type, guessed from its name (text/plain, application/pdf, ...).
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "206": {
                            "description": "the bytes a Range header asked for (Content-Range)",
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "304": {
                            "description": "unchanged since the ETag or date given (If-None-Match, If-Modified-Since)"
                        },
                        **_keyed(),
                        "404": _error_response("no such document, or its file is gone"),
                        "416": _error_response("a Range past the end of the file"),
                        "503": _error_response(INDEX_MISSING),
                    },
                }
            },
            "/api/reindex": {
                "post": {
                    "summary": "Run the incremental reindex",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _json("the reindex summary", _ref("Summary")),
                        "401": _error_response("missing or wrong token"),
                        "403": _error_response(FORBIDDEN),
                        "409": _error_response("a reindex (or the watcher) is already writing"),
                        "429": _error_response(TOO_MANY),
                        "500": _error_response("the corpus folder is missing (code corpus_missing)"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json("the OpenAPI document", {"type": "object"}), **_keyed()},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health and document count",
                    "security": [],
                    "responses": {
                        "200": _json("healthy: the index is open", _ref("Health")),
                        "503": _error_response(INDEX_MISSING),
                    },
                }
            },
            "/livez": {
                "get": {
                    "summary": "Liveness: the server answers (does not open the index)",
                    "security": [],
                    "responses": {"200": _json("alive", _ref("Live"))},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _object({"error": _object(contract.ERROR_FIELDS)}),
                "Match": _object(contract.MATCH_FIELDS),
                "Hit": _object(contract.HIT_FIELDS),
                "SearchResult": _object(contract.RESULT_FIELDS),
                "Suggestions": _object(contract.SUGGESTIONS_FIELDS),
                "Document": _object(contract.DOCUMENT_FIELDS),
                "Failure": _object(contract.FAILURE_FIELDS),
                "Summary": _object(contract.SUMMARY_FIELDS),
                "Health": _object(contract.HEALTH_FIELDS),
                "Live": _object(contract.LIVE_FIELDS),
            },
        },
    }
