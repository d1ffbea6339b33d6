"""What the user is told when a query or its parameters cannot be answered."""

from __future__ import annotations


class QueryError(ValueError):
    """The user's query or parameters cannot be answered; the message says why."""


class ParameterError(QueryError):
    """A search parameter other than the query text (a page, a date, a type, a sort) cannot be answered."""


class TooBroad(QueryError):
    """The query's wildcard and fuzzy terms together match too many words."""
