"""The JSON shape of search results and documents, for the API and the CLI's --json (see contract.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from search import snippets
from search.models import Hit, SearchResult


def error_json(code: str, message: str) -> dict:
    """Return the one JSON shape of an error: {"error": {"code", "message"}} (the API's, and the CLI's with --json)."""
    return {"error": {"code": code, "message": message}}


def result_json(result: SearchResult) -> dict:
    """Return `result` in the JSON shape of /api/search."""
    return {
        "query": result.query,
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
        "took_ms": result.took_ms,
        "suggestion": result.suggestion,
        "relaxed": result.relaxed,
        "used_words": result.used_words,
        "results": [
            _hit_json(hit, result.query, markup)
            for hit, markup in zip(result.hits, snippets.page_html([hit.snippet for hit in result.hits]), strict=True)
        ],
    }


def _hit_json(hit: Hit, q: str, snippet_html: str) -> dict:
    return {
        "id": hit.id,
        "title": hit.title,
        "path": hit.path,
        # The document's page, with the query's matches highlighted.
        "url": f"/doc/{hit.id}?{urlencode({'q': q})}",
        "score": hit.score,
        "snippet": snippet_html,
        "matches": [{"start": start, "end": end} for start, end in hit.snippet.matches],
        "modified": hit.modified,
        "size": hit.size,
        "type": hit.type,
        "lang": hit.lang,
    }


def document_json(stored: dict) -> dict:
    """Return a document's stored fields in the JSON shape of /api/documents/<id>."""
    return {
        "id": stored["id"],
        "title": stored["title"],
        "path": stored["path"],
        "modified": stored["modified"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "size": stored["size"],
        "type": stored["type"],
        "lang": stored["lang"],
        "text": stored["body"],
    }
