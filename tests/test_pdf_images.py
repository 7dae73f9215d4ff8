"""PDF pages as a reader sees them: rendered by poppler's pdftoppm, compared with references.

The references are the images the documentation shows (``docs/images/invoice-*.png``), one
per invoice type in Indonesian, so the docs always show what subkit prints. Fonts rasterise
slightly differently between poppler versions, hence a tolerance rather than equality.
Rewrite them with ``SUBKIT_UPDATE_GOLDEN=1`` after a deliberate layout change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from subkit.invoice import InvoiceStatus, InvoiceType
from subkit.render import render_invoice
from test_render import make_catalogue, make_invoice

IMAGES = Path(__file__).parent.parent / "docs" / "images"
UPDATE = os.environ.get("SUBKIT_UPDATE_GOLDEN") == "1"
PDFTOPPM = shutil.which("pdftoppm")
DPI = 60
# Share of pixels allowed to differ by more than a faint anti-aliasing shade: one changed
# digit of one amount moves more than this (see the last test).
TOLERANCE = 0.00005

pytestmark = pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm (poppler-utils) is missing")

CASES = {
    InvoiceType.PLAN_PURCHASE: InvoiceStatus.PAID,
    InvoiceType.RENEWAL: InvoiceStatus.PAID,
    InvoiceType.PLAN_CHANGE: InvoiceStatus.PENDING,
    InvoiceType.ADD_ON: InvoiceStatus.PAID,
    InvoiceType.TOP_UP: InvoiceStatus.PENDING,
}


def first_page(pdf: bytes) -> Image.Image:
    assert PDFTOPPM is not None
    with tempfile.TemporaryDirectory() as folder:
        stem = Path(folder) / "page"
        subprocess.run(
            [PDFTOPPM, "-png", "-r", str(DPI), "-singlefile", "-f", "1", "-l", "1", "-", stem],
            input=pdf,
            capture_output=True,
            check=True,
        )
        with Image.open(stem.with_suffix(".png")) as image:
            return image.convert("RGB")


def differing_share(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return 1.0
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 48 else 0)
    histogram = diff.histogram()
    return histogram[255] / (a.size[0] * a.size[1])


@pytest.mark.parametrize("type", list(CASES))
def test_first_page_matches_the_reference_image(type: InvoiceType) -> None:
    catalogue = make_catalogue()
    invoice = make_invoice(catalogue, type, status=CASES[type])
    page = first_page(render_invoice(invoice, catalogue, locale="id_ID"))
    path = IMAGES / f"invoice-{type.value.replace('_', '-')}.id_ID.png"
    if UPDATE:
        page.save(path, optimize=True)
    assert path.exists(), f"missing {path.name}: run with SUBKIT_UPDATE_GOLDEN=1"
    share = differing_share(page, Image.open(path).convert("RGB"))
    assert share <= TOLERANCE, f"{share:.2%} of {path.name} differs"


def test_a_changed_document_is_caught() -> None:
    """The comparison is sharp enough to see one changed digit of the invoice code."""
    catalogue = make_catalogue()
    invoice = make_invoice(catalogue, InvoiceType.PLAN_PURCHASE)
    other = make_invoice(catalogue, InvoiceType.PLAN_PURCHASE, code="INV-202601-000009")
    a = first_page(render_invoice(invoice, catalogue))
    b = first_page(render_invoice(other, catalogue))
    assert differing_share(a, b) > TOLERANCE
    assert differing_share(a, a) == 0
