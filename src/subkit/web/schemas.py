"""OpenAPI schemas of subkit's attrs values, generated from their field types (R-WEB-3).

Litestar already turns an attrs class into a schema from its fields' type hints; this plugin
does the same for subkit's classes with the public shape of :func:`subkit.public.public_dict`:
the fields that shape leaves out (``public.internal_fields()``) are not in the schema, the
derived ones it writes (``public.derived_fields()``) are. Field types the
converter writes in a form of its own get that form: a ``Fraction`` is an ``"n/d"`` string.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import attrs
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import KwargDefinition
from litestar.plugins.attrs import AttrsSchemaPlugin
from litestar.typing import FieldDefinition
from msgspec import Meta

from subkit.public import derived_fields, public_fields

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator


def _is_subkit_attrs(value: Any) -> bool:
    return (
        isinstance(value, type) and attrs.has(value) and value.__module__.split(".")[0] == "subkit"
    )


def _kwarg(field: attrs.Attribute[Any], hint: Any) -> KwargDefinition | None:
    """What the schema says beyond the type: the bounds of ``Annotated[int, Meta(ge=..)]``
    (which msgspec enforces when Litestar decodes the body) and ``metadata["format"]``."""
    found: dict[str, Any] = {}
    if get_origin(hint) is Annotated:
        for meta in get_args(hint)[1:]:
            if isinstance(meta, Meta):
                for name in ("ge", "le", "gt", "lt", "min_length", "max_length"):
                    if getattr(meta, name) is not None:
                        found[name] = getattr(meta, name)
    if field.metadata.get("format"):
        found["format"] = field.metadata["format"]
    return KwargDefinition(**found) if found else None


class SubkitSchemaPlugin(AttrsSchemaPlugin):
    """Schemas for subkit's values in their public JSON shape."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        origin = getattr(value, "__origin__", value)
        return value is Fraction or _is_subkit_attrs(origin)

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        cls = field_definition.origin or field_definition.annotation
        if cls is Fraction:
            return Schema(type=OpenAPIType.STRING, pattern=r"^-?\d+(/\d+)?$")
        hints = field_definition.get_type_hints(include_extras=True, resolve_generics=True)
        fields = public_fields(cls)
        properties = {
            field.name: FieldDefinition.from_kwarg(
                hints[field.name], field.name, kwarg_definition=_kwarg(field, hints[field.name])
            )
            for field in fields
        }
        derived = derived_fields().get(cls, {})
        for name, type_ in derived.items():
            properties[name] = FieldDefinition.from_kwarg(type_, name)
        required = [field.name for field in fields if field.default is attrs.NOTHING]
        return schema_creator.create_component_schema(
            field_definition, required=sorted([*required, *derived]), property_fields=properties
        )


__all__ = ["SubkitSchemaPlugin"]
