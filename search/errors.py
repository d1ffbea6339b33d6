"""What the user is told when a query or its parameters cannot be answered."""

from __future__ import annotations


class QueryError(ValueError):
    """The user's query or parameters cannot be answered; the message says why."""


class TooBroad(QueryError):
    """The query's wildcard and fuzzy terms together match too many words."""
