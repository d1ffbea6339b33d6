"""bench.mix: the query mix derived for a corpus made from another collection than Cranfield."""

from __future__ import annotations

import json
import re
from collections import Counter
from random import Random

from bench import mix, perf
from bench.corpus import load_sentences


def _collection(count: int = 3000) -> list[str]:
    """Return distinct English sentences whose words have frequencies from very common to rare."""
    rng = Random(0)
    pool = [f"{stem}{suffix}" for stem in ("catalog", "journal", "citation", "archive", "thesaurus", "reader")
            for suffix in ("", "ing", "ers", "ation", "ology", "ist", "ment", "ness", "ward", "ship")]  # fmt: skip
    weights = [1 / (rank + 1) for rank in range(len(pool))]  # Zipf: a few words everywhere, most rare
    rare = ["serendipity", "bibliometrics", "palimpsest", "incunabula"]  # three sentences each
    sentences = []
    for n in range(count):
        words = rng.choices(pool, weights, k=4)
        lead = "the library shelves" if n % 4 else "a reader"
        extra = f" and {rare[n // 3 % 4]}" if n < 12 else ""
        sentences.append(f"In {lead} of the {words[0]} {words[1]} is a {words[2]} for {words[3]}{extra} {n}.")
    return sentences


def test_the_mix_has_each_kind_from_the_collections_own_words():
    sentences = _collection()
    derived = mix.derive(sentences)
    assert list(derived) == list(mix.KINDS)
    assert all(1 <= len(queries) <= mix.PER_KIND for queries in derived.values()), derived
    tokens = [re.findall(r"[a-z]+", sentence.lower()) for sentence in sentences]
    held = Counter(word for words in tokens for word in set(words))
    pairs = {" ".join(pair) for words in tokens for pair in zip(words, words[1:], strict=False)}
    for kind, queries in derived.items():
        for q in queries:
            if kind == "prefix":
                assert any(word.startswith(q.rstrip("*")) for word in held), q
            else:
                assert set(re.findall(r"[a-z]+", q)) <= held.keys(), q  # every query word is the collection's
    assert set(derived["common word"][:2]) == {"library", "shelves"}  # in 3/4 of the sentences: the commonest
    assert all(held[word] >= held[derived["mid word"][0]] for word in derived["common word"])
    low, high = (share * len(sentences) for share in mix.MID_SHARE)
    assert all(low <= held[word] <= high for word in derived["mid word"])
    assert all(mix.RARE_SENTENCES[0] <= held[word] <= mix.RARE_SENTENCES[1] for word in derived["rare word"])
    assert all(q.strip('"') in pairs for q in derived["phrase"] + derived["two words"][:-1])  # the last: two mid words
    phrases = {" ".join(words[i : i + 3]) for words in tokens for i in range(len(words))} | pairs
    assert all(q.strip('"') in phrases for q in derived["stop phrase"])
    assert derived["phrase"][0] == '"library shelves"'
    assert derived["stop words"][0] in {"the", "a", "of", "in", "is", "for"}
    assert '"the library shelves"' in derived["stop phrase"]  # the commonest stop word before the commonest pair
    assert all(q.endswith("*") and len(q) >= 5 for q in derived["prefix"])


def test_a_kind_the_collection_has_no_words_for_is_left_out():
    derived = mix.derive([f"Gliders soar over the ridge {n}." for n in range(50)])
    assert derived and all(derived.values()) and "rare word" not in derived


def test_the_default_source_keeps_the_fixed_mix_and_another_gets_its_own(tmp_path, monkeypatch):
    cranfield, other = tmp_path / "cranfield.jsonl", tmp_path / "other.jsonl"
    for path in (cranfield, other):
        path.write_text("".join(json.dumps({"title": "", "text": text}) + "\n" for text in _collection(600)))
    monkeypatch.setattr(perf, "DEFAULT_SOURCE", cranfield)
    assert perf.query_mix(cranfield) is mix.CRANFIELD_MIX
    derived = perf.query_mix(other)
    assert derived == mix.derive(load_sentences(other)[0]) != mix.CRANFIELD_MIX
