"""One Deadline per search, and term matchers that watch it, so no query can run unbounded."""

from __future__ import annotations

import math
import time

from whoosh import query
from whoosh.matching import NullMatcher, NullMatcherClass, WrappingMatcher

from search.errors import QueryError

TOO_SLOW = "the query took too long; make it more specific"
CLOCK_EVERY = 64  # postings steps a term takes between two looks at the clock


class Deadline:
    """The moment by which a search must have finished."""

    def __init__(self, seconds: float = math.inf):
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        """Return the seconds still available."""
        return self.ends - time.monotonic()

    def check(self) -> None:
        """Raise QueryError if the time is up."""
        if self.left() <= 0:
            raise QueryError(TOO_SLOW)


class Clocked(WrappingMatcher):
    """A term's postings that stop the search once its deadline has passed.

    Whoosh's TimeLimitCollector only looks at the clock between collected documents;
    a phrase or a large conjunction can work for seconds before the first one. Every
    matcher moves by moving its terms, so a clock on each term bounds them all.
    """

    def __init__(self, child, deadline: Deadline, boost: float = 1.0):
        super().__init__(child, boost)
        self.deadline = deadline
        self.steps = 0

    def copy(self):
        return Clocked(self.child.copy(), self.deadline, self.boost)

    def _replacement(self, newchild):
        return Clocked(newchild, self.deadline, self.boost)

    def _tick(self) -> None:
        self.steps += 1
        if self.steps % CLOCK_EVERY == 0:
            self.deadline.check()

    def next(self):
        self._tick()
        return self.child.next()

    def skip_to(self, id):
        self._tick()
        return self.child.skip_to(id)

    def skip_to_quality(self, minquality):
        self._tick()
        return self.child.skip_to_quality(minquality / self.boost)

    def spans(self):
        self._tick()
        return self.child.spans()


class ClockedTerm(query.Term):
    """A term query whose postings watch the deadline the search context carries."""

    def matcher(self, searcher, context=None):
        found = super().matcher(searcher, context)
        deadline = getattr(context, "deadline", None)
        if deadline is None or isinstance(found, NullMatcherClass):
            return found
        return Clocked(found, deadline)


class ClockedPhrase(query.Phrase):
    """A phrase query whose words watch the deadline the search context carries."""

    def matcher(self, searcher, context=None):
        # Whoosh's Phrase.matcher, with clocked terms.
        field, reader = searcher.schema[self.fieldname], searcher.reader()
        if any((self.fieldname, field.to_bytes(word)) not in reader for word in self.words):
            return NullMatcher  # a word the index lacks: nothing to walk
        terms = [ClockedTerm(self.fieldname, word) for word in self.words]
        found = query.SpanNear2(terms, slop=self.slop, ordered=True, mindist=1).matcher(searcher, context)
        return WrappingMatcher(found, boost=self.boost) if self.boost != 1.0 else found
