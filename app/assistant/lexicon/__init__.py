"""The intent parser's word lists, as data: `<language>.toml` in this package, read once.

A list is data, not code: adding a synonym or a stop word is an edit to the TOML file, checked
by the parser's tests and measured by the intent eval (docs/assistant.md).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

WORD_LISTS = (
    "generic",
    "modifier_cues",
    "negation",
    "only",
    "common_word_brands",
    "brand_cues",
    "stop",
    "refine_cues",
    "refine_pronouns",
)


class LexiconError(ValueError):
    """A lexicon file is missing or malformed: the parser cannot start without it."""


@dataclass(frozen=True, slots=True)
class Lexicon:
    synonyms: Mapping[str, str]  # shopper word -> the word a catalog category is likely to use
    generic: frozenset[str]  # category stems too generic to decide a product type on their own
    modifier_cues: frozenset[str]
    negation: frozenset[str]
    only: frozenset[str]
    common_word_brands: frozenset[str]
    brand_cues: frozenset[str]
    stop: frozenset[str]
    refine_cues: frozenset[str]
    refine_pronouns: frozenset[str]


def _words(data: Any, name: str) -> frozenset[str]:
    raw = data.get(name)
    if not isinstance(raw, list) or not all(isinstance(w, str) and w for w in raw):
        raise LexiconError(f"[words].{name} must be a list of words")
    return frozenset(raw)


@functools.cache
def load_lexicon(language: str = "en") -> Lexicon:
    try:
        text = resources.files(__package__).joinpath(f"{language}.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise LexiconError(f"cannot read the {language!r} lexicon: {e}") from e
    synonyms, words = data.get("synonyms"), data.get("words")
    if not isinstance(synonyms, dict) or not all(isinstance(v, str) for v in synonyms.values()):
        raise LexiconError("[synonyms] must map words to words")
    if not isinstance(words, dict):
        raise LexiconError("[words] is missing")
    return Lexicon(dict(synonyms), *(_words(words, name) for name in WORD_LISTS))
