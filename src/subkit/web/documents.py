"""Invoice documents over HTTP: the right content type and a download file name (R-INV-8)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Response
from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType

from subkit.render import MEDIA_TYPES

_EXTENSIONS = {"pdf": "pdf", "html": "html", "text": "txt"}


def document_response(code: str, format: str, document: bytes) -> Response[bytes]:
    """``document`` as a download: ``INV-202601-000001.pdf`` with its media type."""
    name = f"{code}.{_EXTENSIONS[format]}"
    return Response(
        document,
        media_type=MEDIA_TYPES[format].split(";")[0],  # Litestar adds the charset
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@dataclass
class DocumentOperation(Operation):
    """The document route's operation: its 200 is one of three media types, not JSON.

    Litestar documents one media type per response; this adds the others from
    :data:`subkit.render.MEDIA_TYPES`, so the document follows the formats render offers."""

    def __post_init__(self) -> None:
        if self.responses is None or "200" not in self.responses:  # pragma: no cover
            return
        found = self.responses["200"]
        binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
        found.content = {  # type: ignore[union-attr]
            media.split(";")[0]: OpenAPIMediaType(schema=binary) for media in MEDIA_TYPES.values()
        }
        found.headers = {  # type: ignore[union-attr]
            "Content-Disposition": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.STRING),
                description='`attachment; filename="<code>.<pdf|html|txt>"`',
            )
        }


__all__ = ["DocumentOperation", "document_response"]
