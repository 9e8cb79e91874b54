"""SRT and WebVTT caption files: parsed into ``(start_s, end_s, text)`` cues, strictly."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InvalidRequestError

__all__ = ["Cue", "parse_captions", "read_captions"]

Cue = tuple[float, float, str]
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})$")
_ARROW = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_TAGS = re.compile(r"<[^>]+>")


def _seconds(text: str, where: str) -> float:
    match = _TIME.match(text.strip())
    if not match:
        raise InvalidRequestError(f"{where}: {text!r} is not a time like 00:00:01,500", field="captions")
    hours, minutes, seconds, frac = match.groups()
    if int(minutes) > 59 or int(seconds) > 59:
        raise InvalidRequestError(f"{where}: {text!r} has minutes or seconds above 59", field="captions")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(frac.ljust(3, "0")) / 1000


def parse_captions(text: str, name: str = "captions") -> list[Cue]:
    """Cues of an SRT or VTT text; InvalidRequestError naming the line of any bad timing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    cues: list[Cue] = []
    i = 0
    if lines and lines[0].startswith("WEBVTT"):
        i = 1
    while i < len(lines):
        line = lines[i]
        match = _ARROW.match(line)
        if not match:
            i += 1
            continue
        where = f"{name} line {i + 1}"
        start, end = _seconds(match.group(1), where), _seconds(match.group(2), where)
        if end <= start:
            raise InvalidRequestError(
                f"{where}: the cue ends ({match.group(2)}) before it starts ({match.group(1)})",
                field="captions",
            )
        body = []
        i += 1
        while i < len(lines) and lines[i].strip():
            body.append(_TAGS.sub("", lines[i]).strip())
            i += 1
        if body:
            cues.append((start, end, "\n".join(body)))
    if not cues:
        raise InvalidRequestError(
            f"{name}: no cues found; expected SRT or WebVTT lines like "
            "'00:00:01,000 --> 00:00:02,500' followed by text",
            field="captions",
        )
    return sorted(cues)


def read_captions(path: str | Path) -> list[Cue]:
    """Cues of an SRT/VTT file (InvalidRequestError if unreadable or badly timed)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"cannot read caption file {path}: {exc}", field="captions") from None
    return parse_captions(text, Path(path).name)
