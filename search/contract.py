"""The API's contract in one place: file types, sorts, match modes, defaults, limits and JSON fields.

The OpenAPI document (openapi.py) is built from these, and the views and the core read them;
the size limits themselves are settings (config.py), so the document is built per app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from search.documents import SUPPORTED

# The file types a filter may name: those the extractors produce, in their order.
TYPES: tuple[str, ...] = tuple(dict.fromkeys(SUPPORTED.values()))
SORTS = ("relevance", "date")  # the first is the default
MATCHES = ("all", "any")  # the first is the default
RELAXED = ("any", "fuzzy")  # how a search with no exact answer was widened
DEFAULT_PER_PAGE = 10
MAX_COMPLETIONS = 8  # search-as-you-type suggestions per request
# Settings that bound a request, and so appear in the OpenAPI document.
LIMITS = ("MAX_QUERY_CHARS", "MAX_PER_PAGE", "MAX_RESULTS_WINDOW")

# A query must have something besides spaces.
QUERY_PATTERN = r"\S"

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
DATE_TIME = {"type": "string", "format": "date-time"}

# The JSON fields of each response object, in the order they are sent. Every field is always sent.
MATCH_FIELDS = {"start": {"type": "integer", "minimum": 0}, "end": {"type": "integer", "minimum": 0}}
HIT_FIELDS = {
    "id": STRING,
    "title": STRING,
    "path": STRING,
    "url": STRING,
    "score": {"type": "number"},
    "snippet": {"type": "string", "description": "HTML: escaped text with <mark> around matches"},
    "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
    "modified": DATE_TIME,
    "size": {"type": "integer", "minimum": 0},
    "type": {"type": "string", "enum": list(TYPES)},
    "lang": STRING,
}
RESULT_FIELDS = {
    "query": STRING,
    "total": {"type": "integer", "minimum": 0},
    "page": {"type": "integer", "minimum": 1},
    "per_page": {"type": "integer", "minimum": 1},
    "took_ms": {"type": "number", "minimum": 0},
    "suggestion": {"type": ["string", "null"]},
    "relaxed": {"type": ["string", "null"], "enum": [*RELAXED, None]},
    "used_words": {
        "type": ["array", "null"],
        "items": STRING,
        "description": "the words a long query was ranked by, when some of its words were left out",
    },
    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
}
SUGGESTIONS_FIELDS = {
    "query": STRING,
    "suggestions": {"type": "array", "maxItems": MAX_COMPLETIONS, "items": STRING},
}
DOCUMENT_FIELDS = {
    "id": STRING,
    "title": STRING,
    "path": STRING,
    "modified": DATE_TIME,
    "size": {"type": "integer", "minimum": 0},
    "type": {"type": "string", "enum": list(TYPES)},
    "lang": STRING,
    "text": STRING,
}
FAILURE_FIELDS = {"path": STRING, "reason": STRING}
SUMMARY_FIELDS = {
    **{
        name: {"type": "integer", "minimum": 0}
        for name in ("added", "updated", "deleted", "unchanged", "skipped", "failed")
    },
    "seconds": {"type": "number", "minimum": 0},
    "failures": {"type": "array", "items": {"$ref": "#/components/schemas/Failure"}},
    "skipped_files": {"type": "array", "items": {"$ref": "#/components/schemas/Failure"}},
}
HEALTH_FIELDS = {"status": {"type": "string", "enum": ["ok"]}, "documents": INTEGER, "generation": INTEGER}
LIVE_FIELDS = {"status": {"type": "string", "enum": ["ok"]}}
ERROR_FIELDS = {"code": STRING, "message": STRING}


def types_pattern() -> str:
    """Return the regular expression of a type filter: types in any case, separated by commas."""
    one = "(?:" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in name) for name in TYPES) + ")"
    return rf"^ *(?:{one}(?: *, *{one})*)? *$"


def parse_types(values: Iterable[str]) -> tuple[str, ...]:
    """Return the file types named in `values` (each may list several, comma-separated, any case).

    Raise ValueError naming the allowed types when one is unknown; empty values mean no filter.
    """
    found: list[str] = []
    for value in values:
        if not value.strip():
            continue
        for name in re.split(r" *, *", value.strip()):
            if name.lower() not in TYPES:
                raise ValueError(f"type must be one of {', '.join(TYPES)}, not {name[:20]!r}")
            found.append(name.lower())
    return tuple(dict.fromkeys(found))
