"""The reference a document, an input or a step output carries instead of a file's bytes:
``{"$file": id, "name", "media_type", "size"}`` (SPEC §12)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

KEY = "$file"


class FileRef(BaseModel):
    """A file by id, with what a template or a node needs without opening it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: int = Field(alias=KEY, ge=1)
    name: str
    media_type: str
    size: int = Field(ge=0)

    def as_json(self) -> dict[str, Any]:
        return {KEY: self.id, "name": self.name, "media_type": self.media_type, "size": self.size}


def is_ref(value: Any) -> bool:
    """Whether ``value`` looks like a file reference (its id is checked elsewhere)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get(KEY), int)
        and not isinstance(value.get(KEY), bool)
    )


def find_refs(value: Any) -> Iterator[dict[str, Any]]:
    """Every file reference inside ``value`` (nested objects and lists included)."""
    if is_ref(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from find_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from find_refs(item)
