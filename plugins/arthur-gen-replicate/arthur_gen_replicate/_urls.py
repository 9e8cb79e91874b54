"""Where the API is: ``REPLICATE_BASE_URL`` and loopback checks (no heavy imports)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from arthur_gen.errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "is_loopback_host", "resolve_base_url"]

DEFAULT_BASE_URL = "https://api.replicate.com"


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url() -> str:
    """The API's base URL: ``REPLICATE_BASE_URL`` (read now) or ``https://api.replicate.com``.

    Plain ``http`` is accepted only for loopback addresses (the local emulator), so the token
    never crosses a network in clear text.
    """
    url = (os.environ.get("REPLICATE_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise ConfigError(
        f"REPLICATE_BASE_URL={url!r} cannot be used: it must be an https:// URL (plain http:// "
        "only for a loopback address such as the local emulator); unset it to use "
        f"{DEFAULT_BASE_URL}"
    )
