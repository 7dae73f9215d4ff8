"""Bounds on input (R-LIM): the limits, and the small checks every entry point calls.

Each check returns the value it accepted (so a caller writes ``key = bounds.identifier(key,
"key")``) or raises the typed refusal R-LIM names, before anything is read or written:

- money: ``|amount| <= MAX_AMOUNT`` -> :class:`~subkit.errors.InvalidAmount` (the check itself
  lives in :class:`~subkit.money.Money`, so no amount beyond it exists at all);
- counts and quantities: an ``int`` (never ``bool``, ``float`` or ``str``) in
  ``1..MAX_COUNT`` -> :class:`~subkit.errors.InvalidQuantity`;
- identifiers (account ids, keys, event ids, references, invoice codes): a non-blank ``str``
  of at most ``MAX_IDENTIFIER`` characters, valid Unicode, no control characters ->
  :class:`~subkit.errors.InvalidArgument` naming the argument;
- host text (profile, seller, plan and add-on names, reasons): a ``str`` of at most
  ``MAX_TEXT`` characters (an address ``MAX_ADDRESS``), no control characters, line breaks
  only in an address -> :class:`~subkit.errors.InvalidArgument`.

Pure: no I/O; the stores and the facade both rely on it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final

from subkit.errors import InvalidArgument, InvalidQuantity

#: The largest magnitude of any amount, in the currency's unit (R-LIM-1): 10**15 rupiah is a
#: thousand times any real invoice and far inside SQLite's and PostgreSQL's 64-bit integers,
#: also after summing a few lines or multiplying by a quantity.
MAX_AMOUNT: Final = 10**15
#: The most replies, recipients or units one call may count (R-LIM-1).
MAX_COUNT: Final = 1_000_000
#: The longest identifier: account id, idempotency key, charge key, event id, reference.
MAX_IDENTIFIER: Final = 255
#: The longest host text (a name, an e-mail, a tax number, a reason), and an address.
MAX_TEXT: Final = 500
MAX_ADDRESS: Final = 1000
#: Catalogue limits (R-LIM-5).
MAX_GRACE_DAYS: Final = 366
MAX_PAYMENT_WINDOW_HOURS: Final = 720
CODE_PATTERN: Final = r"[a-z][a-z0-9_]{0,39}"

# Characters that could change how a document or a terminal shows text: C0/C1 controls (ESC
# starts terminal escapes), and the separators that start a new line without being "\n".
_LINE_BREAKS: Final = frozenset("\n\r\u2028\u2029\x85\x0b\x0c")


def _problem(value: str, *, lines: bool) -> str | None:
    """What is wrong with the characters of ``value``, or ``None``."""
    if value.isascii() and value.isprintable():  # the common case, without a loop
        return None
    for char in value:
        if char in "\n\r" and lines:
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            return "holds a lone surrogate (not valid Unicode)"
        if char in _LINE_BREAKS:
            return "holds a line break"
        if category == "Cc":
            return f"holds the control character U+{ord(char):04X}"
    return None


def string(value: object, name: str, *, none: bool = False) -> None:
    """Refuse a value that is not a ``str`` (nor ``None`` when ``none``): ``InvalidArgument``."""
    if not isinstance(value, str) and not (none and value is None):
        raise InvalidArgument(
            f"{name} must be a string, not {type(value).__name__}", argument=name, value=value
        )


def identifier(value: object, name: str) -> str:
    """Accept an identifier (R-LIM-2) or raise ``InvalidArgument`` naming ``name``."""
    if not isinstance(value, str):
        raise InvalidArgument(
            f"{name} must be a string, not {type(value).__name__}", argument=name, value=value
        )
    if not value.strip():
        raise InvalidArgument(f"{name} must not be empty", argument=name, value=value)
    if len(value) > MAX_IDENTIFIER:
        raise InvalidArgument(
            f"{name} is {len(value)} characters long; at most {MAX_IDENTIFIER} are allowed",
            argument=name,
            value=value,
        )
    problem = _problem(value, lines=False)
    if problem is not None:
        raise InvalidArgument(f"{name} {problem}", argument=name, value=value)
    return value


def optional_identifier(value: object, name: str) -> str | None:
    """``None``, or an identifier as :func:`identifier` accepts it."""
    return None if value is None else identifier(value, name)


def text(
    value: object,
    name: str,
    *,
    required: bool = False,
    maximum: int = MAX_TEXT,
    lines: bool = False,
) -> str:
    """Accept host text (R-LIM-3) or raise ``InvalidArgument`` naming ``name``.

    ``required`` text must not be blank; ``lines`` allows ``"\\n"`` and ``"\\r"`` (an
    address), no other control character is ever allowed.
    """
    if not isinstance(value, str):
        raise InvalidArgument(
            f"{name} must be a string, not {type(value).__name__}", argument=name, value=value
        )
    if required and not value.strip():
        raise InvalidArgument(f"{name} must not be empty", argument=name, value=value)
    if len(value) > maximum:
        raise InvalidArgument(
            f"{name} is {len(value)} characters long; at most {maximum} are allowed",
            argument=name,
            value=value,
        )
    problem = _problem(value, lines=lines)
    if problem is not None:
        raise InvalidArgument(f"{name} {problem}", argument=name, value=value)
    return value


def optional_text(
    value: object, name: str, *, maximum: int = MAX_TEXT, lines: bool = False
) -> str | None:
    """``None``, or host text as :func:`text` accepts it."""
    return None if value is None else text(value, name, maximum=maximum, lines=lines)


def count(value: object, name: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """Accept a count (R-LIM-1): an ``int`` in ``minimum..maximum``, else ``InvalidQuantity``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{name} must be an int, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InvalidQuantity(
            f"{name} must be between {minimum} and {maximum}, got {value}",
            quantity=value,
            maximum=maximum,
        )
    return value


def quantities(value: object, name: str, *, minimum: int = 1) -> dict[str, int]:
    """Accept add-on quantities: a mapping of add-on codes to ints (R-LIM-1, R-ADD-1).

    A string, a list or a mapping with non-string keys is ``InvalidArgument``; a quantity
    that is not an int in ``minimum..MAX_COUNT`` is ``InvalidQuantity`` naming the add-on.
    The catalogue checks each code and its ``max_quantity`` afterwards.
    """
    if not isinstance(value, Mapping):
        raise InvalidArgument(
            f"{name} must be a mapping of add-on codes to quantities, not {type(value).__name__}",
            argument=name,
            value=value,
        )
    accepted: dict[str, int] = {}
    for code, quantity in value.items():
        identifier(code, f"{name} key")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise InvalidQuantity(
                f"quantity of {code!r} must be an int, not {type(quantity).__name__}", addon=code
            )
        if not minimum <= quantity <= MAX_COUNT:
            raise InvalidQuantity(
                f"quantity of {code!r} must be between {minimum} and {MAX_COUNT}, got {quantity}",
                addon=code,
                quantity=quantity,
                maximum=MAX_COUNT,
            )
        accepted[code] = quantity
    return accepted


__all__ = [
    "CODE_PATTERN",
    "MAX_ADDRESS",
    "MAX_AMOUNT",
    "MAX_COUNT",
    "MAX_GRACE_DAYS",
    "MAX_IDENTIFIER",
    "MAX_PAYMENT_WINDOW_HOURS",
    "MAX_TEXT",
    "count",
    "identifier",
    "optional_identifier",
    "optional_text",
    "quantities",
    "string",
    "text",
]
