"""The OpenAPI 3 description of the JSON API."""

from __future__ import annotations

from search.documents import TYPES

ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _query_param(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def document() -> dict:
    """Return the OpenAPI document for /api/."""
    return {
        "openapi": "3.0.3",
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
                            {"type": "string", "maxLength": 500},
                            True,
                        ),
                        _query_param("page", "result page, from 1", {"type": "integer", "minimum": 1, "default": 1}),
                        _query_param(
                            "per_page",
                            "results per page",
                            {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                        ),
                        _query_param(
                            "sort",
                            "relevance or date (newest first)",
                            {"type": "string", "enum": ["relevance", "date"]},
                        ),
                        _query_param(
                            "match",
                            "all: any of the words, documents with every word first (default); any: any word, ranked by BM25 with feedback",
                            {"type": "string", "enum": ["all", "any"]},
                        ),
                        _query_param(
                            "type",
                            "only this file type",
                            {"type": "string", "enum": list(TYPES)},
                        ),
                        _query_param("folder", "only documents under this folder", {"type": "string"}),
                        _query_param(
                            "after", "modified on or after this date (YYYY-MM-DD)", {"type": "string", "format": "date"}
                        ),
                        _query_param(
                            "before",
                            "modified on or before this date (YYYY-MM-DD)",
                            {"type": "string", "format": "date"},
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "one page of ranked results",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResult"}}},
                        },
                        "400": _error_response("a query or parameter that cannot be answered"),
                    },
                }
            },
            "/api/suggest": {
                "get": {
                    "summary": "Complete the last word of a query from the index vocabulary",
                    "parameters": [
                        _query_param("q", "the query typed so far", {"type": "string", "maxLength": 500}, True),
                    ],
                    "responses": {
                        "200": {
                            "description": "the query with its last word completed, most frequent words first",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Suggestions"}}},
                        },
                        "400": _error_response("a query that is too long"),
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
                            "description": "the indexed document",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}},
                        },
                        "400": _error_response("no file, or a folder or file name that is not allowed"),
                        "401": _error_response("missing or wrong token"),
                        "403": _error_response("no admin token is configured"),
                        "409": _error_response("the path exists (send replace=true), or the index stayed busy"),
                        "413": _error_response("the file is larger than SEEDSEARCH_MAX_FILE_MB"),
                        "415": _error_response("a file type the indexer does not read"),
                        "422": _error_response("the file cannot be read as a document of its type"),
                    },
                }
            },
            "/api/documents/{id}": {
                "get": {
                    "summary": "One document's metadata and text",
                    "parameters": [_ID],
                    "responses": {
                        "200": {
                            "description": "the document",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Document"}}},
                        },
                        "404": _error_response("no such document"),
                    },
                },
                "delete": {
                    "summary": "Delete the document's file from the corpus and the document from the index (admin)",
                    "security": [{"bearer": []}],
                    "parameters": [_ID],
                    "responses": {
                        "204": {"description": "deleted"},
                        "401": _error_response("missing or wrong token"),
                        "403": _error_response("no admin token is configured"),
                        "404": _error_response("no such document"),
                        "409": _error_response("the index stayed busy"),
                    },
                },
            },
            "/files/{id}": {
                "get": {
                    "summary": "The document's original file, as a download",
                    "parameters": [_ID],
                    "responses": {
                        "200": {
                            "description": "the file (Content-Disposition: attachment; Content-Security-Policy: sandbox)",
                            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "404": _error_response("no such document, or its file is gone"),
                    },
                }
            },
            "/api/reindex": {
                "post": {
                    "summary": "Run the incremental reindex",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": "the reindex summary",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Summary"}}},
                        },
                        "401": _error_response("missing or wrong token"),
                        "403": _error_response("a key that is not an admin key, or no admin token or key configured"),
                        "429": _error_response("too many wrong keys from this address; see Retry-After"),
                        "409": _error_response("a reindex (or the watcher) is already writing"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health and document count",
                    "security": [],
                    "responses": {"200": {"description": "healthy"}},
                }
            },
            "/livez": {
                "get": {
                    "summary": "Liveness: the server answers (does not open the index)",
                    "security": [],
                    "responses": {"200": {"description": "alive"}},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                },
                "Hit": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "path": {"type": "string"},
                        "url": {"type": "string"},
                        "score": {"type": "number"},
                        "snippet": {"type": "string", "description": "HTML: escaped text with <mark> around matches"},
                        "matches": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}},
                            },
                        },
                        "modified": {"type": "string", "format": "date-time"},
                        "size": {"type": "integer"},
                        "type": {"type": "string"},
                        "lang": {"type": "string"},
                    },
                },
                "SearchResult": {
                    "type": "object",
                    "required": ["query", "total", "page", "per_page", "took_ms", "results"],
                    "properties": {
                        "query": {"type": "string"},
                        "total": {"type": "integer"},
                        "page": {"type": "integer"},
                        "per_page": {"type": "integer"},
                        "took_ms": {"type": "number"},
                        "suggestion": {"type": "string", "nullable": True},
                        "relaxed": {"type": "string", "nullable": True, "enum": ["any", "fuzzy", None]},
                        "used_words": {
                            "type": "array",
                            "nullable": True,
                            "items": {"type": "string"},
                            "description": "the words a long query was ranked by, when some of its words were left out",
                        },
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                    },
                },
                "Suggestions": {
                    "type": "object",
                    "required": ["query", "suggestions"],
                    "properties": {
                        "query": {"type": "string"},
                        "suggestions": {"type": "array", "maxItems": 8, "items": {"type": "string"}},
                    },
                },
                "Document": {
                    "type": "object",
                    "properties": {
                        k: {"type": "string"} for k in ("id", "title", "path", "modified", "type", "lang", "text")
                    }
                    | {"size": {"type": "integer"}},
                },
                "Summary": {
                    "type": "object",
                    "properties": {
                        k: {"type": "integer"}
                        for k in ("added", "updated", "deleted", "unchanged", "skipped", "failed")
                    }
                    | {
                        "seconds": {"type": "number"},
                    }
                    | {
                        name: {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"path": {"type": "string"}, "reason": {"type": "string"}},
                            },
                        }
                        for name in ("failures", "skipped_files")
                    },
                },
            },
        },
    }
