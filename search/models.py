"""What a search is asked and what it answers: plain data, rendered by the web page, the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from search.contract import DEFAULT_PER_PAGE, MATCHES, SORTS
from search.snippets import Snippet


@dataclass(frozen=True)
class Filters:
    types: tuple[str, ...] = ()  # any of these file types
    folder: str | None = None
    after: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class SearchRequest:
    q: str
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str = SORTS[0]
    match: str = MATCHES[0]
    filters: Filters = Filters()
    highlight: bool = True


@dataclass
class Hit:
    id: str
    title: str
    path: str
    score: float
    snippet: Snippet  # the passages that show why it matched (rendered at the edge)
    modified: str
    size: int
    type: str
    lang: str


@dataclass
class SearchResult:
    query: str
    total: int
    page: int
    per_page: int
    took_ms: float
    suggestion: str | None
    relaxed: str | None
    hits: list[Hit] = field(default_factory=list)
    # The words a long query was ranked by, when some of its words were left out (see focus.focus()).
    used_words: list[str] | None = None

    @property
    def pages(self) -> int:
        """Return the number of result pages."""
        return max(1, -(-self.total // self.per_page))
