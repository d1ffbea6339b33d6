"""Parse the Seedsearch query language safely into a language-neutral query, and relax it.

A query is parsed once against a neutral schema whose fields keep the user's words as
typed (lowercased); expansion.py then turns it into one over the index's languages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from whoosh import fields, qparser, query

from search import ranking
from search.analysis import INVISIBLE, word_analyzer
from search.errors import QueryError

log = logging.getLogger(__name__)

MAX_FUZZY_CHARS = 40  # the edit-distance automaton grows with the word; no real word is longer
# A '?' is a wildcard only inside a word ("wo?d"): right after a word it is punctuation ("what is
# lift?"), and so it is before one ("the ?slip? effect", '?' for quotes), as Lucene refuses a leading
# wildcard by default; "?lip" would otherwise ask for one more letter than "lip" and find neither.
TRAILING_QUESTION = re.compile(r"(?<=\w)\?+(?=[\s)\"]|$)")
LEADING_QUESTION = re.compile(r"(?<!\w)\?+(?=\w)")
# A '*' or '?' touching no letter ("(MEDLARS)?", a pasted list's "* item") is punctuation too,
# when the query has words besides; a lone '*' is still refused as a wildcard without letters.
LOOSE_WILDCARD = re.compile(r"(?<!\w)[*?]+(?!\w)")
WORD = re.compile(r"\w")
# '-word' excludes; a '-' inside a word or standing alone is text.
MINUS = re.compile(r"(?<![^\s(])-(?=[\w\"(])")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # line breaks and tabs too: a phrase may be pasted across lines
# A word with both a wildcard and a '~' ("wing*~", "w?ng~1"): Whoosh would drop one or match nothing.
PATTERN_AND_FUZZY = re.compile(r'"[^"]*"|([^\s"]*[*?][^\s"]*~[^\s"]*|[^\s"]*~[^\s"]*[*?][^\s"]*)')
DOTTED_NUMBER = re.compile(r"\d+(?:\.\d+)+")
HYPHENS = {0x2010: "-", 0x2011: "-"}  # Unicode's hyphen and non-breaking hyphen, as typed by some keyboards and editors
HYPHENATED = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")
# A pattern or fuzzy mark on a word inside quotes ("boundary lay*"): a phrase is matched exactly,
# and Whoosh would search the letters alone ("boundary lay"), finding nothing without a word.
QUOTED = re.compile(r'"([^"]*)"')
MARKED_WORD = re.compile(r"[^\s\"]*(?:[^\W\d_][*?~]|[*?][^\W\d_])[^\s\"]*")  # on letters: `"5* hotel"` is a rating
FIELD_NAME = re.compile(r"(?<![\w\"])title:", re.IGNORECASE)
# An operator written against a bracket or a phrase (`(a OR b)AND c`, `AND(c)`, `"a b"AND c`,
# `(a b)-c`): Whoosh reads it only between spaces.
OPERATOR_AFTER_BRACKET = re.compile(r"\)(?=(?:AND|OR|NOT)\b)")
OPERATOR_BEFORE_BRACKET = re.compile(r"(?<![\w\"])(AND|OR|NOT)(?=\()")
MINUS_AFTER_BRACKET = re.compile(r"\)-(?=[\w\"(])")
OPERATOR_AFTER_PHRASE = re.compile(r"^(?:(AND|OR|NOT)(?!\w)|-(?=[\w\"(]))")
OPERATOR_BEFORE_PHRASE = re.compile(r"(?:^|(?<=\W))(AND|OR|NOT)$")
# NOT twice or more in a row before what it excludes: Whoosh's parser fails on `NOT NOT word`. Each pair cancels.
# (A phrase is matched first, to be kept as it is: "not not" in quotes is words.)
REPEATED_NOT = re.compile(r"\"[^\"]*\"|(?<![^\s(\"])NOT(?:\s+NOT)+(?=\s*[(\"]|\s+[^\s)])")


class SplitWord(query.Phrase):
    """A word the analyzer splits into several ("shock-sound", "IL-6", "U.S."): expansion.py ranks it by its parts.

    `hyphenated`: typed as letters joined by hyphens ("e-mail", "x-ray"), which may be written as one word.
    """

    hyphenated = False

    def normalize(self):
        # Whoosh's Phrase.normalize builds a new phrase; keep where the word was typed (focus lists it so).
        found = super().normalize()
        if found is not self and isinstance(found, (query.Phrase, query.Term)):  # never the shared NullQuery
            for name in ("startchar", "endchar", "hyphenated"):
                if hasattr(self, name):
                    setattr(found, name, getattr(self, name))
        return found


class _QueryParser(qparser.QueryParser):
    def multitoken_query(self, spec, texts, fieldname, termclass, boost):
        # Whoosh would make a plain Phrase, as for a quoted one: a split word is told apart.
        return SplitWord(fieldname, texts, boost=boost)

    def term_query(self, fieldname, text, termclass, boost=1.0, tokenize=True, removestops=True):
        found = super().term_query(fieldname, text, termclass, boost, tokenize, removestops)
        if isinstance(found, SplitWord):
            found.hyphenated = HYPHENATED.fullmatch(text) is not None
        return found


class CoordinatedGroup(qparser.syntax.GroupNode):
    """Words side by side (no operator between them) make a Coordinated query; an explicit AND stays And.

    Not an AndGroup: Whoosh's AND merges its right side into a left side that is one, so the AND in
    `(wing OR flap) AND lift` would be lost into the bracket's group.
    """

    qclass = ranking.Coordinated


def _parser(group) -> qparser.QueryParser:
    # A word the analyzer splits ("IL-6", "U.S.") is a SplitWord of its parts, so "IL-6" never matches IL-1 alone.
    text = fields.TEXT(analyzer=word_analyzer(), multitoken_query="phrase")
    neutral = fields.Schema(text=text, title=fields.TEXT(analyzer=word_analyzer(), multitoken_query="phrase"))
    parser = _QueryParser("text", neutral, group=group)
    for plugin in (qparser.RangePlugin, qparser.EveryPlugin, qparser.SingleQuotePlugin, qparser.BoostPlugin):
        parser.remove_plugin_class(plugin)
    parser.add_plugin(qparser.FuzzyTermPlugin())
    return parser


_PARSERS = {"all": _parser(CoordinatedGroup), "any": _parser(qparser.OrGroup)}


def clean(text: str) -> str:
    """Return the query text with control characters and punctuation-only marks neutralised."""
    text = CONTROL.sub(" ", text.translate(INVISIBLE).translate(HYPHENS))
    text = TRAILING_QUESTION.sub("", text)
    text = LEADING_QUESTION.sub(" ", text)
    # Boosts are not part of the query language: "wing^3" is the words wing and 3, not a phrase of them.
    text = text.replace("^", " ")
    if WORD.search(text):
        text = LOOSE_WILDCARD.sub(" ", text)
    text = MINUS.sub("NOT ", text)
    text = OPERATOR_BEFORE_BRACKET.sub(r"\1 ", OPERATOR_AFTER_BRACKET.sub(") ", text))
    text = _operators_at_phrases(MINUS_AFTER_BRACKET.sub(") NOT ", text))
    text = FIELD_NAME.sub("title:", text)  # Title: as title: (field names are lowercase)
    return REPEATED_NOT.sub(_cancel_nots, text)


def _operators_at_phrases(text: str) -> str:
    """Return `text` with an operator or `-` written against a phrase's quotes set apart (`"a b"-c`: `"a b" NOT c`)."""
    parts = text.split('"')
    if len(parts) < 3:
        return text
    # Even parts are outside quotes: each after the first follows a closing quote, each before
    # the last (of a balanced count) precedes an opening one.
    for i in range(0, len(parts), 2):
        if i > 0:
            parts[i] = OPERATOR_AFTER_PHRASE.sub(lambda found: f" {found.group(1) or 'NOT'} ", parts[i])
        if i + 1 < len(parts):
            parts[i] = OPERATOR_BEFORE_PHRASE.sub(r"\1 ", parts[i])
    return '"'.join(parts)


def _simplify(node: query.Query) -> query.Query:
    # -(-word) and NOT (NOT word): the word itself, as NOT NOT word is (clean()).
    if isinstance(node, query.Not) and isinstance(node.query, query.Not):
        return node.query.query
    # word~0: no edit allowed, the word itself (as Lucene reads it).
    if isinstance(node, query.FuzzyTerm) and node.maxdist == 0:
        word = query.Term(node.fieldname, node.text, boost=node.boost)
        for name in ("startchar", "endchar"):
            if hasattr(node, name):
                setattr(word, name, getattr(node, name))
        return word
    return node


def _versions(node: query.Query) -> query.Query:
    # A dotted number is one word ("3.11.7"), and typed short it finds the longer ones too:
    # `3.11` finds 3.11 and 3.11.7, as a version is looked for (`3.1` does not find 3.11).
    if type(node) is query.Term and DOTTED_NUMBER.fullmatch(node.text):
        return query.Or([node, query.Prefix(node.fieldname, node.text + ".", boost=node.boost)])
    return node


def _cancel_nots(run: re.Match) -> str:
    found = run.group()
    if found.startswith('"'):
        return found  # a phrase
    return "NOT" if found.count("NOT") % 2 else " "


def parse(text: str, match: str = "all") -> query.Query:
    """Parse `text` in the Seedsearch query language into a language-neutral query."""
    cleaned = clean(text)
    for found in PATTERN_AND_FUZZY.finditer(cleaned):
        if found.group(1):  # not a phrase
            raise QueryError(f"{found.group(1)[:40]!r} is both a pattern (* or ?) and fuzzy (~): use one of them")
    for phrase in QUOTED.findall(cleaned):
        if found := MARKED_WORD.search(phrase):
            raise QueryError(
                f"{found.group()[:40]!r} is inside quotes, where words are matched exactly:"
                " * ? and ~ work outside a phrase"
            )
    try:
        parsed = _PARSERS[match].parse(cleaned).accept(_simplify).accept(_versions)
    except Exception as error:  # Whoosh's parser raises assorted errors on odd nesting.
        log.debug("query not parsed (%s: %s): %r", type(error).__name__, error, text[:200])
        raise QueryError("could not understand this query; check its quotes, brackets and AND, OR, NOT") from None
    return parsed


def positive(q: query.Query) -> bool:
    """Return whether `q` can match anything on its own (is not purely negative)."""
    return not isinstance(q, query.Not)


def plain_terms(q: query.Query) -> list[query.Term]:
    """Return the plain word terms of the neutral query that are not excluded."""
    if isinstance(q, query.Not):
        return []
    if isinstance(q, query.AndNot):
        return plain_terms(q.a)
    if type(q) is query.Term:
        return [q]
    if q.is_leaf():
        return []
    return [term for sub in q.children() for term in plain_terms(sub)]


def fuzzy(q: query.Query, unknown: Callable[[str], bool] = lambda word: True) -> query.Query:
    """Return `q` with its plain words made fuzzy, for zero-result recovery: those `unknown` says the index lacks.

    A word the index holds is left as typed: when it finds nothing, an exclusion or a filter
    removed its documents, and its close spellings (`wind` for `wing`) are not what was asked.
    """

    def soften(node):
        if isinstance(node, query.Not):
            return node  # what is excluded stays as typed: its close spellings would exclude more
        if isinstance(node, query.AndNot):
            return query.AndNot(soften(node.a), node.b)
        if type(node) is query.Term and 4 <= len(node.text) <= MAX_FUZZY_CHARS and unknown(node.text):
            return query.FuzzyTerm(node.fieldname, node.text, maxdist=1 if len(node.text) < 7 else 2, prefixlength=1)
        return node if node.is_leaf() else node.apply(soften)

    return soften(q)
