"""A partial update of one product, pure: the fields a request names, merged into the stored
product. Price, stock, currency and attributes that are not embedded change the payload only; a
change to the embedded text (title, brand, category, description, a text attribute the template
reads) makes the service embed that one product again."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

from app.domain.errors import InvalidRequest
from app.domain.models import AttributeValue, Product


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class ProductChanges:
    """UNSET: leave the field as stored. `price` None clears it; an attribute set to None is
    removed, the others named are set, the rest kept."""

    title: str | _Unset = UNSET
    brand: str | _Unset = UNSET
    description: str | _Unset = UNSET
    category: str | _Unset = UNSET
    price: float | _Unset | None = UNSET
    currency: str | _Unset = UNSET
    in_stock: bool | _Unset = UNSET
    attributes: Mapping[str, AttributeValue | None] | _Unset = UNSET

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is UNSET for name in self.__dataclass_fields__)


def _finite(field: str, value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(field, "must be a finite number")


def apply_changes(product: Product, changes: ProductChanges) -> Product:
    """The product with `changes` applied, normalised as the readers normalise a row (title
    whitespace collapsed, the other texts stripped). Raises InvalidRequest naming the field."""
    updated = product
    if not isinstance(changes.title, _Unset):
        title = " ".join(changes.title.split())
        if not title:
            raise InvalidRequest("title", "must not be blank")
        updated = replace(updated, title=title)
    for name in ("brand", "description", "category"):
        value = getattr(changes, name)
        if not isinstance(value, _Unset):
            updated = replace(updated, **{name: value.strip()})
    if not isinstance(changes.price, _Unset):
        _finite("price", changes.price)
        if changes.price is not None and changes.price < 0:
            raise InvalidRequest("price", "must be 0 or more")
        updated = replace(updated, price=changes.price)
    if not isinstance(changes.currency, _Unset):
        updated = replace(updated, currency=changes.currency)
    if not isinstance(changes.in_stock, _Unset):
        updated = replace(updated, in_stock=changes.in_stock)
    if not isinstance(changes.attributes, _Unset):
        attributes = dict(updated.attributes)
        for key, value in changes.attributes.items():
            _finite(f"attributes.{key}", value)
            if value is None:
                attributes.pop(key, None)
            else:
                attributes[key] = value
        updated = replace(updated, attributes=attributes)
    return updated
