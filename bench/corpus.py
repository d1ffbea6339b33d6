"""Generate a synthetic document folder for the performance benchmarks.

Documents are sentence-level recombinations of a source collection (Cranfield by default), so
they have a real vocabulary and real term statistics, in the mix of formats and sizes a shared
folder has: mostly plain text, some Markdown, some HTML, from a few lines to tens of KB, in
nested folders. The same seed always gives byte-identical output.

    python -m bench.corpus --docs 100000 [--seed 0] [--source corpus.jsonl] OUT_DIR

HTML files carry a `<script>` and a `<style>` block whose text holds `SCRIPT_MARKER` and
`STYLE_MARKER`; an indexer that extracts text properly never makes those words searchable.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from random import Random

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "eval" / "cranfield" / "corpus.jsonl"

SCRIPT_MARKER = "scriptonlysentinel"
STYLE_MARKER = "styleonlysentinel"

FILES_PER_FOLDER = 100
FOLDERS_PER_PART = 100

# Sentences per document: log-normal, so most files are small and a few are large. A median of
# 10 sentences is ~1.5 KB; sigma 1.1 puts the 99.9th percentile near 300 sentences (~45 KB).
MEDIAN_SENTENCES = 10
SIGMA_SENTENCES = 1.1
MIN_SENTENCES = 2
MAX_SENTENCES = 400

_DETACHED_PUNCT = re.compile(r"\s+([.,;:!?])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def load_sentences(source: Path) -> tuple[list[str], list[str]]:
    """Return (sentences, titles) split out of a JSONL file of {"title", "text"} records."""
    sentences: dict[str, None] = {}
    titles: dict[str, None] = {}
    with source.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            # Cranfield writes " ." between sentences; glue punctuation back so both it and
            # ordinary prose split the same way.
            text = _DETACHED_PUNCT.sub(r"\1", record.get("text") or "")
            for sentence in _SENTENCE_END.split(text):
                sentence = sentence.strip()
                if len(sentence.split()) >= 3:
                    sentences[_capitalise(sentence)] = None
            title = _DETACHED_PUNCT.sub(r"\1", record.get("title") or "").strip().rstrip(".")
            if title:
                titles[_capitalise(title)] = None
    # Short sentences make plausible titles too, and widen the pool beyond one per source doc.
    for sentence in sentences:
        if 20 <= len(sentence) <= 90:
            titles[sentence.rstrip(".")] = None
    if not sentences:
        raise ValueError(f"no sentences found in {source}")
    return list(sentences), list(titles) or [s.rstrip(".") for s in sentences]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _paragraphs(rng: Random, body: list[str]) -> list[str]:
    paragraphs = []
    i = 0
    while i < len(body):
        k = rng.randint(1, 6)
        paragraphs.append(" ".join(body[i : i + k]))
        i += k
    return paragraphs


def _render_txt(rng: Random, title: str, body: list[str], titles: list[str]) -> str:
    return title + "\n\n" + "\n\n".join(_paragraphs(rng, body)) + "\n"


def _render_md(rng: Random, title: str, body: list[str], titles: list[str]) -> str:
    parts = [f"# {title}"]
    for n, paragraph in enumerate(_paragraphs(rng, body)):
        if n and n % 4 == 0:
            parts.append(f"## {rng.choice(titles)}")
        if rng.random() < 0.1:
            # An occasional bullet list, one sentence per item, as notes tend to have.
            items = paragraph.split(". ")
            parts.append("\n".join(f"- {item.rstrip('.')}" for item in items))
        else:
            parts.append(paragraph)
    return "\n\n".join(parts) + "\n"


def _render_html(rng: Random, title: str, body: list[str], titles: list[str]) -> str:
    escaped = html.escape(title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escaped}</title>",
        f"<style>/* {STYLE_MARKER} */ body {{ font-family: sans-serif; max-width: 40em; }}</style>",
        "</head>",
        "<body>",
        f"<h1>{escaped}</h1>",
    ]
    for n, paragraph in enumerate(_paragraphs(rng, body)):
        if n and n % 5 == 0:
            parts.append(f"<h2>{html.escape(rng.choice(titles))}</h2>")
        parts.append(f"<p>{html.escape(paragraph)}</p>")
    parts += [
        f'<script>window.{SCRIPT_MARKER} = "{SCRIPT_MARKER}";</script>',
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _progress(items: range, enabled: bool) -> Iterable[int]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # the generator needs only the standard library; the bar is a nicety
        return items
    return tqdm(items, unit="doc", mininterval=0.5)


_FORMATS = (
    ("txt", 0.75, _render_txt),
    ("md", 0.90, _render_md),
    ("html", 1.0, _render_html),
)


def generate(
    out_dir: Path,
    docs: int,
    seed: int = 0,
    source: Path | None = None,
    *,
    progress: bool = False,
) -> dict:
    """Write `docs` synthetic documents under `out_dir` and return counts and bytes."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        # Writing over an older corpus would leave its extra files behind and break determinism.
        raise FileExistsError(f"{out_dir} is not empty")
    sentences, titles = load_sentences(Path(source) if source else DEFAULT_SOURCE)
    rng = Random(seed)
    mu = math.log(MEDIAN_SENTENCES)
    counts = {"txt": 0, "md": 0, "html": 0}
    total_bytes = 0
    folder = ""
    started = time.perf_counter()
    for i in _progress(range(docs), progress):
        if i % FILES_PER_FOLDER == 0:
            leaf = i // FILES_PER_FOLDER
            folder = os.path.join(
                out_dir,
                f"part-{leaf // FOLDERS_PER_PART:03d}",
                f"section-{leaf % FOLDERS_PER_PART:02d}",
            )
            os.makedirs(folder, exist_ok=True)
        n = min(
            MAX_SENTENCES,
            max(MIN_SENTENCES, round(rng.lognormvariate(mu, SIGMA_SENTENCES))),
        )
        title = rng.choice(titles)
        body = rng.choices(sentences, k=n)
        r = rng.random()
        ext, render = next((e, f) for e, p, f in _FORMATS if r < p)
        data = render(rng, title, body, titles).encode("utf-8")
        slug = _NOT_SLUG.sub("-", " ".join(title.lower().split()[:5])).strip("-")[:40]
        with open(os.path.join(folder, f"{slug or 'doc'}-{i:06d}.{ext}"), "wb") as f:
            f.write(data)
        counts[ext] += 1
        total_bytes += len(data)
    return {
        "docs": docs,
        **counts,
        "bytes": total_bytes,
        "folders": math.ceil(docs / FILES_PER_FOLDER),
        "seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the command line: generate a corpus and print a one-line summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--docs", type=int, required=True, help="number of documents to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=f"JSONL source of sentences (default {DEFAULT_SOURCE})",
    )
    args = parser.parse_args(argv)
    if args.docs < 0:
        parser.error("--docs must be >= 0")
    try:
        stats = generate(
            args.out_dir,
            args.docs,
            args.seed,
            args.source,
            progress=sys.stderr.isatty(),
        )
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {stats['docs']} docs ({stats['txt']} txt, {stats['md']} md, {stats['html']} html), "
        f"{stats['bytes'] / 1e6:.1f} MB in {stats['folders']} folders to {args.out_dir} "
        f"in {stats['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
