"""Analyzers, language detection and the Whoosh schema.

Each document is analysed in its own language: its title and body go into the
`title_<lang>` and `body_<lang>` fields, whose analyzer stems in that language.
A query is expanded over the languages the index holds (see expansion.py), so one
English query still finds English documents in a mixed corpus, and a Russian
query finds Russian ones across inflections.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from itertools import islice

from whoosh import columns, fields, formats
from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
)
from whoosh.lang import has_stemmer, has_stopwords, stopwords_for_language
from whoosh.support.charset import accent_map

from search.fastanalysis import WordFilter

# The Snowball languages Whoosh ships stemmers for.
LANGUAGES: tuple[str, ...] = tuple(
    lang
    for lang in ("en", "ru", "de", "fr", "es", "it", "pt", "nl", "sv", "no", "da", "fi", "hu", "ro", "tr", "ar")
    if has_stemmer(lang)
)
SCHEMA_VERSION = 6
# Chinese and Japanese are written without spaces: each ideograph or kana is a token of its own,
# as Lucene's StandardTokenizer makes them, and a word of several is found as a phrase of them
# (`北京` in `我爱北京天安门`). Every other run of letters and digits is a token: Hangul is written
# with spaces between words and stays whole. A dot, an underscore or an @ separates tokens, as
# Meilisearch splits them (Lucene's StandardTokenizer keeps `config.yaml` whole): `config` finds
# config.yaml, `john` finds john.doe@example.com, `3.11` finds 3.11.7, and a query of the whole
# (`report_2024.pdf`) is the phrase of its parts.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FOLDER_SEPARATOR = "\x00"
FOLDER_PATTERN = r"[^\x00]+"
TOKEN_PATTERN = (  # the common case first: as fast as \w+
    rf"\d+(?:\.\d+)+(?![^\W_])|[^\W_{CJK}]{{2,}}|[^\W\d_{CJK}](?:\.[^\W\d_{CJK}])+(?![^\W_])|[^\W_{CJK}]|[{CJK}]"
)
# Marks that are not text: a soft hyphen (HTML's &shy;), zero-width spaces and joiners, a byte order
# mark inside text. Documents and queries drop them, so `non&shy;breaking` is the word *nonbreaking*.
INVISIBLE = dict.fromkeys(map(ord, "\x00\u00ad\u200b\u2060\ufeff"))


def _greek_folded() -> dict[int, str]:
    """Return Greek letters with a tonos or dialytika mapped to the bare letter, and final sigma to sigma."""
    found = {ord("ς"): "σ"}
    for code in (*range(0x370, 0x400), *range(0x1F00, 0x2000)):
        bare = "".join(c for c in unicodedata.normalize("NFD", chr(code)) if not unicodedata.combining(c))
        if len(bare) == 1 and bare != chr(code) and unicodedata.name(bare, "").startswith("GREEK"):
            found[code] = bare
    return found


# Letters folded to two, as Lucene's ASCIIFoldingFilter does (Whoosh's map has ß as one s, the others not
# at all): `Torstrasse` is *Torstraße* whatever language the document was read as.
LIGATURES = {"ß": "ss", "ẞ": "ss", "æ": "ae", "œ": "oe"}
# Accents folded away: Whoosh's map covers Latin letters; Greek is written with and without its
# accents too (`Αθήνα`, `ΑΘΗΝΑ`, `αθηνα`), as Lucene's GreekLowerCaseFilter has it.
FOLDED = {**accent_map, **_greek_folded(), **{ord(letter): folded for letter, folded in LIGATURES.items()}}
# Russian stemming expects ё spelled as е; accents are folded only after stemming
# because Snowball's suffix rules for French, German, etc. need them.
YO_MAP = {ord("ё"): "е", ord("Ё"): "Е"}
MIN_DETECT_CHARS = 40
MIN_DETECT_CONFIDENCE = 0.8
# A confident answer on this much text is taken as final. On 4,498 samples of 200 to 4,000
# characters in 18 languages (translated messages) 300 was as often right as 1,000 (4,235 and
# 4,234, differing on 8), and detection took 0.14 ms a document instead of 0.37-0.56.
QUICK_DETECT_CHARS = 300


class GermanUmlauts(WordFilter):
    """Read German `ae`, `oe` and `ue` as the umlauts they stand for, as Lucene's GermanNormalizationFilter.

    After folding (`ä` is `a`): `Muenchen`, `Koeln` and `Kaesespaetzle`, typed where umlauts are
    not at hand, are *München*, *Köln* and *Käsespätzle*. A `ue` after a vowel or `q` (`Bauer`,
    `Quelle`) is two letters.
    """

    PATTERN = re.compile(r"(?<=[ao])e|(?<=u)(?<![aeiouyq]u)e")

    def word(self, text: str) -> str:
        return self.PATTERN.sub("", text) if "e" in text else text


@functools.cache
def language_analyzer(lang: str) -> Analyzer:
    """Return the analyzer that tokenises, folds and stems text in `lang`."""
    chain = RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()
    if lang == "ru":
        chain = chain | CharsetFilter(YO_MAP)
    # No stop words and no minimum length: every word is indexed at its position, so phrases
    # are exact ("moved in Moscow"), common words are answered ("the who") and short tokens
    # keep their meaning ("vitamin d", "type 2"). The ranking makes common words count little.
    chain = chain | StemFilter(lang=lang, cachesize=100_000) | CharsetFilter(FOLDED)
    return chain | GermanUmlauts() if lang == "de" else chain


@functools.cache
def word_analyzer() -> Analyzer:
    """Return the analyzer for the unstemmed vocabulary used by suggestions and wildcards."""
    return RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()


def title_field(lang: str) -> str:
    """Return the name of the title field for `lang`."""
    return f"title_{lang}"


def body_field(lang: str) -> str:
    """Return the name of the body field for `lang`."""
    return f"body_{lang}"


def pairs_field(lang: str) -> str:
    """Return the name of the field of neighbouring common words in `lang`'s bodies (see PairsField)."""
    return f"pairs_{lang}"


@functools.cache
def common_terms(lang: str) -> frozenset[str]:
    """Return the index terms of `lang`'s stop words (one-letter ones included): what PairsField pairs."""
    if not has_stopwords(lang):
        return frozenset()
    return frozenset(term for word in stopwords_for_language(lang) for term in analyze(word, lang))


def pairs_of(schema: fields.Schema, fieldname: str) -> PairsField | None:
    """Return the PairsField of body field `fieldname` in `schema`, or None (another field, or an index made before them)."""
    if not fieldname.startswith("body_"):
        return None
    name = pairs_field(fieldname[len("body_") :])
    try:
        field = schema[name]
    except KeyError:
        return None
    return field if isinstance(field, PairsField) and field.base == fieldname else None


def phrase_units(words: list[str], pairs: PairsField | None) -> list[tuple[int, int]]:
    """Return how a phrase of `words` is matched: (offset, 2) for a pair in `pairs`, (offset, 1) for a word.

    Every word is covered, pairs first from the left: `to be or not to be` is three pairs,
    `in the middle of the` the pair `in the`, the word `middle` and the pair `of the`.
    """
    common = pairs.common if pairs is not None else frozenset()
    units, at = [], 0
    while at < len(words):
        if at + 1 < len(words) and words[at] in common and words[at + 1] in common:
            units.append((at, 2))
            at += 2
        else:
            units.append((at, 1))
            at += 1
    return units


class CommonPairs(Filter):
    """Keep each two neighbouring tokens that are both common words, as one token "first second" at the first's place.

    Lucene's CommonGrams: a phrase of common words ("of the", "to be or not to be") is then
    matched on these few occurrences instead of merging the positions of words that every
    document holds many times.
    """

    def __init__(self, common: frozenset[str]):
        self.common = common

    def __call__(self, tokens):
        common = self.common
        before, place = None, None
        for token in tokens:
            text = token.text
            if text in common:
                if before is not None and token.pos == place + 1:
                    pos = token.pos
                    token.text, token.pos = f"{before} {text}", place
                    yield token
                    token.pos = pos
                before, place = text, token.pos
            else:
                before = None


class PairsField(fields.FieldType):
    """The body field `base`'s neighbouring common words (CommonPairs), with positions; neither scored nor stored.

    Every such pair is indexed, so a phrase whose neighbours are both in `common` holds exactly
    where these tokens are (search.evaluate matches it so). The buffered writer derives them from
    `base`'s tokens; Whoosh's own writer from the same text, through the analyzer.
    """

    def __init__(self, base: str, lang: str):
        self.name = pairs_field(lang)
        self.base = base
        self.common = common_terms(lang)
        self.analyzer = language_analyzer(lang) | CommonPairs(self.common)
        self.format = formats.Positions(field_boost=1.0)
        self.scorable = False
        self.stored = False
        self.unique = False
        self.vector = None


def _not_indexed(field: fields.FieldType) -> fields.FieldType:
    """Return `field` stored and kept as a column as configured, but not indexed (no terms)."""
    field.indexed = False
    return field


def _one_term(field: fields.NUMERIC) -> fields.NUMERIC:
    """Return a numeric (or date) `field` indexed as one term per value, not one per precision tier.

    Tiers let Whoosh match a range with few terms; search.evaluate matches a date range on the
    column instead, so DATETIME's eight terms a document were written for nothing (a date range
    that Whoosh walks itself still matches, term by term).
    """
    field.shift_step = 0
    return field


def build_schema() -> fields.Schema:
    """Return the index schema."""
    schema = fields.Schema(
        id=fields.ID(stored=True, unique=True),
        path=_not_indexed(fields.ID(stored=True, sortable=True)),
        # Every ancestor folder of the document, exactly as named (spaces, commas and case kept: a
        # key limited to `HR` must not see `HR ` or `hr`), separated by NUL, which no name holds.
        folder=fields.KEYWORD(analyzer=RegexTokenizer(FOLDER_PATTERN)),
        type=fields.ID(stored=True),
        lang=fields.ID(stored=True),
        modified=_one_term(fields.DATETIME(stored=True, sortable=True)),
        # Bookkeeping for incremental reindexing (and, with the path, shown in results), read
        # as columns and never searched: a term of its own per document in `path` and `size`
        # was a quarter of a segment's terms, each written as a block of one posting.
        mtime_ns=fields.COLUMN(columns.NumericColumn("q")),
        ctime_ns=fields.COLUMN(columns.NumericColumn("q")),
        size=_not_indexed(fields.NUMERIC(int, bits=64, stored=True, sortable=True)),
        hash=fields.COLUMN(columns.VarBytesColumn()),
        title=fields.STORED(),
        body=fields.STORED(),
        words=fields.TEXT(analyzer=word_analyzer(), phrase=False),
    )
    for lang in LANGUAGES:
        schema.add(title_field(lang), fields.TEXT(analyzer=language_analyzer(lang)))
        schema.add(body_field(lang), fields.TEXT(analyzer=language_analyzer(lang)))
        if common_terms(lang):
            schema.add(pairs_field(lang), PairsField(body_field(lang), lang))
    return schema


_identifier = None
_identifier_lock = threading.Lock()


def _language_identifier():
    # Loading the model takes about a second, so do it once and only when needed.
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(LANGUAGES))
            _identifier = identifier
    return _identifier


def detect_language(text: str, default: str = "en") -> str:
    """Return the Snowball language of `text`, or `default` when unsure."""
    sample = text[:4000]
    # Stop counting letters at the threshold: counting all 4000 took a fifth of detection's time.
    if next(islice(filter(str.isalpha, sample), MIN_DETECT_CHARS - 1, None), None) is None:
        return default
    identifier = _language_identifier()
    if len(sample) > QUICK_DETECT_CHARS:
        # The classifier walks the text byte by byte in Python (on 1,000 characters, a fifth of
        # the indexing time); most documents are settled by their beginning, and only an unsure
        # answer reads on.
        lang, confidence = identifier.classify(sample[:QUICK_DETECT_CHARS])
        if confidence >= MIN_DETECT_CONFIDENCE and lang in LANGUAGES:
            return lang
    lang, confidence = identifier.classify(sample)
    if confidence < MIN_DETECT_CONFIDENCE or lang not in LANGUAGES:
        return default
    return lang


def analyze(text: str, lang: str) -> list[str]:
    """Return the index terms of `text` in `lang`, in order."""
    return [token.text for token in language_analyzer(lang)(text, mode="query")]
