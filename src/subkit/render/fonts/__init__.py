"""The TrueType fonts PDF invoices are set in: DejaVu Sans, regular and bold.

Why DejaVu Sans: it covers Latin (every Indonesian and European name), Greek, Cyrillic,
Arabic, Hebrew, Georgian and Armenian in ~1.5 MB for two weights, its licence (Bitstream
Vera, see ``LICENSE-DejaVu.txt``) allows redistribution, and Debian ships the same files
(fonts-dejavu-core). fpdf2 embeds only the glyphs a document uses, so a PDF stays small.
It has no CJK glyphs: a fallback CJK font weighs 10+ MB, so Chinese, Japanese and Korean
characters print as empty boxes (the layout holds, the text layer keeps the characters).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF

#: The font family name PDF invoices use.
FAMILY = "dejavu-sans"

_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


def font_path(style: str = "") -> str:
    """The file of the regular (``""``) or bold (``"B"``) face, installed with subkit."""
    return str(resources.files(__name__).joinpath(_FILES[style]))


def add_fonts(pdf: FPDF) -> None:
    """Register both faces on ``pdf`` as :data:`FAMILY`."""
    for style in _FILES:
        pdf.add_font(FAMILY, style=style, fname=font_path(style))


__all__ = ["FAMILY", "add_fonts", "font_path"]
