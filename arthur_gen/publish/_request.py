"""``PublishRequest``: what to publish where, validated before anything is sent."""

from __future__ import annotations

import contextvars
import datetime as _dt
from pathlib import Path
from typing import Any

import attrs

from ..errors import InvalidRequestError

__all__ = ["PRIVACY", "VISIBILITY", "PublishRequest"]

PRIVACY = ("private", "unlisted", "public")
VISIBILITY = ("PUBLIC", "CONNECTIONS", "LOGGED_IN")
_REBUILDING = contextvars.ContextVar("rebuilding", default=False)  # from the store: files may be gone


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(t.strip() for t in (value or ()) if t and t.strip())


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().absolute())


@attrs.frozen(kw_only=True)
class PublishRequest:
    """One upload of ``video`` to platform ``to`` with the account ``account``."""

    video: str = attrs.field(converter=_absolute)
    to: str
    account: str = "default"
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tags)
    category: str = "22"  # YouTube "People & Blogs"
    privacy: str = "private"
    publish_at: str | None = None
    thumbnail: str | None = None
    text: str = ""
    visibility: str = "PUBLIC"
    synthetic: bool = True  # containsSyntheticMedia: on by default for generated videos
    force: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.to:
            raise InvalidRequestError("Say where to publish: --to youtube or --to linkedin.")
        files = not _REBUILDING.get()
        if files and not Path(self.video).is_file():
            raise InvalidRequestError(f"No video file at {self.video}: check the path.")
        if self.privacy not in PRIVACY:
            raise InvalidRequestError(f"--privacy {self.privacy!r}: use one of {', '.join(PRIVACY)}.")
        if self.visibility not in VISIBILITY:
            raise InvalidRequestError(f"visibility {self.visibility!r}: use one of {', '.join(VISIBILITY)}.")
        if len(self.title) > 100:
            raise InvalidRequestError(f"The title has {len(self.title)} characters; the limit is 100.")
        if any(c in self.title + self.description for c in "<>"):
            raise InvalidRequestError(
                "Titles and descriptions cannot contain '<' or '>' (YouTube refuses them)."
            )
        if len(self.description.encode()) > 5000:
            raise InvalidRequestError("The description is over 5000 bytes; shorten it.")
        if sum(len(t) + 2 for t in self.tags) > 500:
            raise InvalidRequestError("The tags add up to more than 500 characters; drop some.")
        if len(self.text) > 3000:
            raise InvalidRequestError(f"The post text has {len(self.text)} characters; the limit is 3000.")
        if files and self.thumbnail is not None and not Path(self.thumbnail).is_file():
            raise InvalidRequestError(f"No thumbnail file at {self.thumbnail}: check the path.")
        if self.publish_at is not None:
            try:
                when = _dt.datetime.fromisoformat(self.publish_at.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidRequestError(
                    f"--publish-at {self.publish_at!r} is not an ISO 8601 time, e.g. 2026-12-24T18:00:00Z."
                ) from None
            if when.tzinfo is None:
                raise InvalidRequestError("--publish-at needs a time zone, e.g. 2026-12-24T18:00:00Z.")
            if self.privacy != "private":
                raise InvalidRequestError(
                    "A scheduled video (--publish-at) must be uploaded --privacy private; "
                    "it turns public at that time."
                )

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["tags"] = list(self.tags)
        data["kind"] = "publish"
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublishRequest:
        """Rebuild a stored request (the files it names need not exist any more)."""
        fields = {f.name for f in attrs.fields(cls)}
        token = _REBUILDING.set(True)
        try:
            return cls(**{k: v for k, v in data.items() if k in fields})
        finally:
            _REBUILDING.reset(token)
