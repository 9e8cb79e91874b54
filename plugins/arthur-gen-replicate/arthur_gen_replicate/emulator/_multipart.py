"""Just enough multipart/form-data parsing for `POST /v1/files`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM = re.compile(r';\s*([\w-]+)="?([^";]*)"?')


@dataclass(frozen=True)
class Part:
    """One form field."""

    data: bytes
    filename: str | None
    content_type: str | None


def parse(body: bytes, content_type: str) -> dict[str, Part]:
    """Fields of a multipart body by name; raises ValueError when it is malformed."""
    params = dict(_PARAM.findall(content_type))
    if not content_type.lower().startswith("multipart/form-data") or "boundary" not in params:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + params["boundary"].encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body is not terminated")
    fields: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = dict(_PARAM.findall(headers.get("content-disposition", "")))
        if "name" in disposition:
            fields[disposition["name"]] = Part(
                data.removesuffix(b"\r\n"), disposition.get("filename"), headers.get("content-type")
            )
    return fields
