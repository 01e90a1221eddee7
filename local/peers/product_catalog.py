"""The enrichment provider's product database: deterministic, derived from a hash of each id.

Every well-formed id is known, with attributes the same in every run and process, except an
ASIN whose last character is ``Z`` and an EAN whose check digit is wrong. :func:`requested_ids`
reads which ids a lookup asks for, refusing what the provider refuses with a 400.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

MAX_IDS: Final = 20
ID_TYPES: Final = ("asin", "ean")
_ASIN: Final = re.compile(r"[A-Z0-9]{10}")
_EAN: Final = re.compile(r"[0-9]{13}")
_MAX_SHOWN_ID: Final = 40

_BRANDS: Final = ("Acme", "Globex", "Initech", "Umbrella", "Soylent", "Hooli", "Vandelay", "Wonka")
_CATEGORIES: Final = ("Kitchen", "Garden", "Toys", "Electronics", "Books", "Sports", "Office")
_ADJECTIVES: Final = ("Compact", "Deluxe", "Classic", "Smart", "Eco", "Pro", "Mini", "Ultra")
_NOUNS: Final = ("Kettle", "Lamp", "Backpack", "Speaker", "Notebook", "Bottle", "Drill", "Mug")


class InvalidLookupError(ValueError):
    """A lookup that asks for no ids, both id types, too many ids or a malformed one."""


def ean_check_digit(first_twelve: str) -> int:
    """The EAN-13 check digit of twelve digits (weights 1, 3, 1, 3, ... from the left).

    >>> ean_check_digit("400638133393")
    1
    """
    if not re.fullmatch(r"[0-9]{12}", first_twelve):
        raise ValueError(f"not twelve digits: {first_twelve!r}")
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first_twelve))
    return (10 - total % 10) % 10


def valid_ean(first_twelve: str) -> str:
    """Twelve digits completed with their check digit: an EAN the provider knows by default.

    >>> valid_ean("400638133393")
    '4006381333931'
    """
    return first_twelve + str(ean_check_digit(first_twelve))


def id_type_of(identifier: str) -> str | None:
    """``"asin"``, ``"ean"`` or ``None`` for a string that is neither.

    >>> id_type_of("B000123456"), id_type_of("4006381333931"), id_type_of("x")
    ('asin', 'ean', None)
    """
    if _ASIN.fullmatch(identifier):
        return "asin"
    if _EAN.fullmatch(identifier):
        return "ean"
    return None


def known_by_default(id_type: str, identifier: str) -> bool:
    """The default rule: ASINs not ending in ``Z`` and EANs with a right check digit are known.

    >>> known_by_default("asin", "B000123456"), known_by_default("asin", "B00012345Z")
    (True, False)
    >>> known_by_default("ean", "4006381333931"), known_by_default("ean", "4006381333932")
    (True, False)
    """
    if id_type == "asin":
        return bool(_ASIN.fullmatch(identifier)) and not identifier.endswith("Z")
    if id_type == "ean":
        return bool(_EAN.fullmatch(identifier)) and (
            ean_check_digit(identifier[:12]) == int(identifier[12])
        )
    return False


def derived_product(id_type: str, identifier: str) -> dict[str, Any]:
    """The attributes the provider gives an id it knows by default, derived from a hash of it.

    >>> product = derived_product("asin", "B000123456")
    >>> product == derived_product("asin", "B000123456"), sorted(product)
    (True, ['asin', 'brand', 'category', 'price', 'salesRank', 'title'])
    >>> product["price"]["currency"], derived_product("ean", "4006381333931")["price"]["currency"]
    ('USD', 'EUR')
    """
    digest = hashlib.sha256(f"{id_type}:{identifier}".encode()).digest()
    n = int.from_bytes(digest[:8], "big")
    brand = _BRANDS[n % len(_BRANDS)]
    noun = _NOUNS[(n >> 8) % len(_NOUNS)]
    adjective = _ADJECTIVES[(n >> 16) % len(_ADJECTIVES)]
    return {
        id_type: identifier,
        "title": f"{brand} {adjective} {noun}",
        "brand": brand,
        "category": _CATEGORIES[(n >> 24) % len(_CATEGORIES)],
        "price": {
            "amount": round(((n >> 32) % 50_000 + 99) / 100, 2),
            "currency": "USD" if id_type == "asin" else "EUR",
        },
        "salesRank": (n >> 40) % 1_000_000 + 1,
    }


def requested_ids(query: Mapping[str, list[str]]) -> tuple[str, tuple[str, ...]]:
    present = [id_type for id_type in ID_TYPES if id_type in query]
    if len(present) != 1:
        raise InvalidLookupError("give exactly one of asin= or ean=")
    id_type = present[0]
    values = query[id_type]
    if len(values) != 1:
        raise InvalidLookupError(f"{id_type}= given {len(values)} times; list the ids once")
    ids = tuple(dict.fromkeys(part.strip() for part in values[0].split(",")))
    if not ids or "" in ids:
        raise InvalidLookupError(f"{id_type}= holds an empty id")
    if len(ids) > MAX_IDS:
        raise InvalidLookupError(f"at most {MAX_IDS} ids per request, got {len(ids)}")
    pattern = _ASIN if id_type == "asin" else _EAN
    for identifier in ids:
        if not pattern.fullmatch(identifier):
            shown = identifier[:_MAX_SHOWN_ID]
            raise InvalidLookupError(f"invalid {id_type} {shown!r}")
    return id_type, ids
