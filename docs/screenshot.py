"""Make the README's screenshot of the results page from a dataset in the evaluation format.

    .venv/bin/python docs/screenshot.py ../shared/eval/cranfield docs/screenshot-results.png

Writes the first documents of DATASET/corpus.jsonl as text files in a temporary corpus, indexes
it, serves it on an ephemeral port, and saves the results page for QUERY as seen by Chromium,
reduced to a 128-colour PNG so the README stays light.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402  (fpdf2 brings Pillow into the dev environment)
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from search import create_app, indexer  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run"]


def write_corpus(dataset: Path, root: Path, limit: int) -> None:
    """Write the first `limit` documents of the dataset as `<folder>/<id>.txt`, title first."""
    start = datetime(2025, 1, 6, 9, tzinfo=UTC)
    with open(dataset / "corpus.jsonl", encoding="utf-8") as lines:
        for n, line in enumerate(lines):
            if n == limit:
                break
            doc = json.loads(line)
            title = doc["title"].removesuffix(" .").strip()
            if not title:
                continue
            text = doc["text"].removeprefix(doc["title"]).strip()  # the abstract repeats its title
            path = root / ("reports" if n % 3 else "notes") / f"{int(doc['id']):04d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{title[:1].upper()}{title[1:]}\n\n{text}\n", encoding="utf-8")
            stamp = (start + timedelta(days=n * 2, hours=n % 7)).timestamp()
            os.utime(path, (stamp, stamp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--query", default="boundary layer transition")
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        write_corpus(args.dataset, corpus, args.docs)
        indexer.reindex(corpus, index)
        httpd = make_server("127.0.0.1", 0, create_app({"CORPUS_DIR": str(corpus), "INDEX_DIR": str(index)}))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1100, "height": 780}, color_scheme="light")
                url = f"http://127.0.0.1:{httpd.server_port}/search?{urlencode({'q': args.query})}"
                page.goto(url)  # the first search of a fresh process warms caches; show a usual one
                page.goto(url)
                page.screenshot(path=Path(tmp) / "shot.png")
                browser.close()
        finally:
            httpd.shutdown()
        image = Image.open(Path(tmp) / "shot.png").convert("RGB")
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            args.output, optimize=True
        )
    print(f"{args.output}: {args.output.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
