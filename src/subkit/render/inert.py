"""Host-supplied text made inert before it reaches a document (R-LIM-3).

A billing-profile name, an address, a seller's details, a plan name: the host supplies them
and a document prints them. None of them may add a line, a status word or a terminal command
of its own, so every such text is passed through :func:`one_line` (names, e-mails, numbers)
or :func:`address_lines` (the only text allowed to span lines) when the document is built;
all three formats lay out the cleaned text, and HTML escapes it on top.
"""

from __future__ import annotations

import re
import unicodedata

# ANSI/ECMA-48 escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and
# any other two-character ESC sequence. Removed whole so no parameter bytes are left behind.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI, e.g. "\x1b[2J"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, e.g. a terminal title or hyperlink
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x1b[@-_]?"  # any other escape
)
# Bidirectional embeddings, overrides and isolates can make text read in another order
# than it is stored; zero-width joiners (which Indic and Arabic scripts need) stay.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = re.compile(r"\s+")


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


def one_line(text: str | None) -> str:
    """``text`` on one line: escape sequences removed, every control or line break a space.

    >>> one_line("PT X\\nLUNAS / PAID")
    'PT X LUNAS / PAID'
    >>> one_line("\\x1b[2JBudi\\x1b[31m Santoso\\x07")
    'Budi Santoso'
    """
    if not text:
        return ""
    cleaned = _ESCAPES.sub("", text)
    cleaned = "".join(" " if _is_control(char) else char for char in cleaned)
    return _SPACES.sub(" ", cleaned).strip()


def address_lines(text: str | None) -> tuple[str, ...]:
    """An address's non-empty lines, each made inert with :func:`one_line`."""
    if not text:
        return ()
    lines = (one_line(line) for line in _ESCAPES.sub("", text).splitlines())
    return tuple(line for line in lines if line)


__all__ = ["address_lines", "one_line"]
