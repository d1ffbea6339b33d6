"""Defaults and the SEEDSEARCH_* environment variables, in one place."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from search.analysis import LANGUAGES
from search.contract import DEFAULT_PER_PAGE

PREFIX = "SEEDSEARCH_"


def flag(raw: str) -> bool:
    """Parse an on/off setting: 1/true/yes/on or 0/false/no/off."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


# Settings that must be more than 0: a size, a limit or a time of 0 would refuse or drop everything.
POSITIVE = ("MAX_FILE_MB", "MAX_QUERY_CHARS", "SEARCH_TIME_LIMIT")
# name -> (default, parser); every setting is documented in the README.
SETTINGS: dict[str, tuple[Any, type]] = {
    "CORPUS_DIR": ("seeds", str),
    "INDEX_DIR": ("index", str),
    "ADMIN_TOKEN": ("", str),
    "MAX_FILE_MB": (20.0, float),
    "DEFAULT_LANGUAGE": ("en", str),
    "MAX_QUERY_CHARS": (10_000, int),
    "MAX_PER_PAGE": (100, int),
    "MAX_RESULTS_WINDOW": (1000, int),
    "SEARCH_TIME_LIMIT": (5.0, float),
    "INDEX_PROCS": (0, int),
    "RESULT_CACHE": (256, int),
    "ARRAY_CACHE_MB": (128, int),
    "KEYS_FILE": ("instance/keys.json", str),
    "SECRET_KEY": ("", str),
    "WATCH": (False, flag),
}


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Return the settings: defaults, then SEEDSEARCH_* variables, then overrides."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for name, (default, kind) in SETTINGS.items():
        raw = environ.get(PREFIX + name)
        if raw is None or raw == "":
            config[name] = default
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{PREFIX}{name}={raw!r} is not a valid {kind.__name__}") from None
        if kind is float and not math.isfinite(value):
            raise ValueError(f"{PREFIX}{name}={raw!r} must be a finite number")
        if kind is not str and value < 0:
            raise ValueError(f"{PREFIX}{name}={raw!r} must not be negative")
        if name in POSITIVE and value <= 0:
            raise ValueError(f"{PREFIX}{name}={raw!r} must be more than 0")
        config[name] = value
    for name, value in (overrides or {}).items():
        config[name.upper()] = value
    if max_file_bytes(config) < 1:  # every file "too big": an index would drop every document
        raise ValueError(f"{PREFIX}MAX_FILE_MB={config['MAX_FILE_MB']} is below one byte")
    if config["DEFAULT_LANGUAGE"] not in LANGUAGES:
        raise ValueError(
            f"{PREFIX}DEFAULT_LANGUAGE={config['DEFAULT_LANGUAGE']!r} is not one of {', '.join(LANGUAGES)}"
        )
    for name in ("MAX_PER_PAGE", "MAX_RESULTS_WINDOW"):
        # Every search without a per_page asks for the default page: a smaller bound refuses them all.
        if config[name] < DEFAULT_PER_PAGE:
            raise ValueError(f"{PREFIX}{name}={config[name]} is below the default page size of {DEFAULT_PER_PAGE}")
    return config


def max_file_bytes(config: Mapping[str, Any]) -> int:
    """Return the per-file size limit in bytes."""
    return int(float(config["MAX_FILE_MB"]) * 1024 * 1024)
