"""A small text classifier for product categories: multinomial naive Bayes over a product's words,
trained on the catalog itself (no shipped weights), in numpy.

Features (binary, weighted per kind): title words and word pairs; the title's lower-case phrase
(Icecat titles carry their category in lower case between the model and the specs: "HP C8091A
power adapter/inverter Indoor 50 W"); description words; which attributes a product has (a toner
has a page yield, a notebook a display diagonal); its type attributes; its brand. Numbers are
reduced to their shape ("c9726a" -> "a0a") so model numbers generalise across a product line.

`fit` takes products with labels; `predict` gives each product's most likely label and its
posterior probability, the confidence embeddings/categorize.py thresholds on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from app.domain.models import Product

_WORD = re.compile(r"[a-z0-9][a-z0-9+#/&.-]*[a-z0-9+#]|[a-z0-9]")
_DIGITS = re.compile(r"\d+")
_PHRASE_WORD = re.compile(r"[a-z][a-z/&-]*[a-z]")
# Lower-case title words that are units, colours or glue, not a category phrase.
_NOT_PHRASE_WORDS = (
    "cm mm m x gb mb tb kb w v ppm dpi with and for of the in to on or over pages sheets pcs ft kg g "
    "mah wh mhz ghz hz ml gen black white grey gray silver blue red green yellow cyan magenta pink "
    "orange purple brown beige matt matte glossy original compatible"
)
_NOT_PHRASE = frozenset(_NOT_PHRASE_WORDS.split())
# Attributes every kind of product has say nothing about its category.
_COMMON_ATTRIBUTE = re.compile(r"weight|package|pallet|master|temperature|humidity|country|certification")
_TYPE_KEYS = ("product_type", "type")

Array = npt.NDArray[np.float64]

WEIGHTS = {"w": 1.0, "bi": 1.0, "phrase": 3.0, "d": 0.3, "k": 0.5, "t": 2.0, "b": 0.5}


def _shape(token: str) -> str:
    return _DIGITS.sub("0", token) if any(c.isdigit() for c in token) else token


def _words(text: str) -> list[str]:
    return [_shape(t) for t in _WORD.findall(text.casefold())]


def title_phrase(title: str) -> str | None:
    """The longest run of lower-case words after the first word, Icecat's category phrase."""
    best: list[str] = []
    run: list[str] = []
    for n, word in enumerate(title.split()):
        if n > 0 and word == word.lower() and _PHRASE_WORD.fullmatch(word) and word not in _NOT_PHRASE:
            run.append(word)
            continue
        if len(run) > len(best):
            best = run
        run = []
    if len(run) > len(best):
        best = run
    return " ".join(best) or None


def features(product: Product) -> dict[str, float]:
    """Feature name -> weight for one product."""
    out: dict[str, float] = {}

    def add(kind: str, values: Iterable[str]) -> None:
        for value in values:
            out[f"{kind}:{value}"] = WEIGHTS[kind]

    title = _words(product.title)
    add("w", title)
    add("bi", (f"{a}_{b}" for a, b in pairwise(title)))
    phrase = title_phrase(product.title)
    if phrase:
        add("phrase", [phrase])
    add("d", _words(product.description[:300]))
    add("k", (k for k in product.attributes if not _COMMON_ATTRIBUTE.search(k)))
    add(
        "t",
        (
            f"{k}={v.strip().casefold()}"
            for k in _TYPE_KEYS
            if isinstance(v := product.attributes.get(k), str) and v.strip()
        ),
    )
    if product.brand:
        add("b", [product.brand.casefold()])
    return out


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    probability: float


class CategoryModel:
    """Multinomial naive Bayes with additive smoothing; labels are plain strings."""

    def __init__(
        self, labels: Sequence[str], vocabulary: dict[str, int], log_prior: Array, log_likelihood: Array
    ) -> None:
        self.labels = list(labels)
        self._vocabulary = vocabulary
        self._log_prior = log_prior  # (labels,)
        self._log_likelihood = log_likelihood  # (features, labels)

    @classmethod
    def fit(
        cls,
        rows: Sequence[Mapping[str, float]],
        labels: Sequence[str],
        *,
        sample_weights: Sequence[float] | None = None,
        alpha: float = 0.1,
    ) -> CategoryModel:
        if not rows:
            raise ValueError("nothing to learn from")
        names = sorted(set(labels))
        index = {name: n for n, name in enumerate(names)}
        vocabulary: dict[str, int] = {}
        features, columns, weights = [], [], []
        scales = [1.0] * len(rows) if sample_weights is None else sample_weights
        for row, label, scale in zip(rows, labels, scales, strict=True):
            for feature, weight in row.items():
                features.append(vocabulary.setdefault(feature, len(vocabulary)))
                columns.append(index[label])
                weights.append(weight * scale)
        counts = np.full((len(vocabulary), len(names)), alpha)
        np.add.at(counts, (np.array(features), np.array(columns)), np.array(weights))
        log_likelihood = np.log(counts / counts.sum(axis=0, keepdims=True))
        prior = np.bincount([index[x] for x in labels], weights=scales, minlength=len(names))
        return cls(names, vocabulary, np.log(prior / prior.sum()), log_likelihood)

    def predict(self, rows: Sequence[Mapping[str, float]], *, chunk: int = 2048) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(rows), chunk):
            out += self._predict(rows[start : start + chunk])
        return out

    def _predict(self, rows: Sequence[Mapping[str, float]]) -> list[Prediction]:
        owners, features, weights = [], [], []
        for n, row in enumerate(rows):
            for feature, weight in row.items():
                column = self._vocabulary.get(feature)
                if column is not None:
                    owners.append(n)
                    features.append(column)
                    weights.append(weight)
        scores = np.tile(self._log_prior, (len(rows), 1))
        if features:
            contributions = self._log_likelihood[np.array(features)] * np.array(weights)[:, None]
            np.add.at(scores, np.array(owners), contributions)
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return [Prediction(self.labels[b], float(probabilities[n, b])) for n, b in enumerate(best)]
