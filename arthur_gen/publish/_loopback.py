"""The loopback redirect of an OAuth login: one answer, ``state`` checked, then closed."""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from ..errors import AuthenticationError, ConfigError

__all__ = ["check_endpoint", "is_loopback_host", "receive_redirect"]


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(env: str, default: str) -> str:
    """The URL in ``env`` (or ``default``): https, or plain http only to a loopback address."""
    url = (os.environ.get(env) or default).strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and (
        parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
    ):
        return url
    raise ConfigError(
        f"{env}={url!r} is not usable: give an https:// URL (plain http only for 127.0.0.1/localhost), "
        "so tokens never cross a network in clear text."
    )


def receive_redirect(
    build_url: Callable[[str, str], str],
    open_url: Callable[[str], Any] | None = None,
    timeout_s: float = 300.0,
) -> dict[str, str]:
    """Listen on ``127.0.0.1:<free port>``, open ``build_url(redirect_uri, state)``, wait for one answer.

    Returns the redirect's query parameters once ``state`` matched; the listener is closed after
    the first request whatever it carried.
    """
    state = secrets.token_urlsafe(24)
    answer: dict[str, str] = {}

    from http.server import BaseHTTPRequestHandler, HTTPServer  # only when a login runs

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            answer.update(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            ok = answer.get("state") == state and "code" in answer
            text = "Signed in; you can close this tab." if ok else "Sign-in failed; see the terminal."
            body = text.encode()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = timeout_s
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/"
        url = build_url(redirect_uri, state)
        if open_url is None:
            import webbrowser

            print(f"Open this address to sign in (a browser should open by itself):\n  {url}")
            webbrowser.open(url)
        else:
            threading.Thread(target=open_url, args=(url,), daemon=True).start()
        server.handle_request()  # exactly one request, or the timeout
    finally:
        server.server_close()
    if not answer:
        raise AuthenticationError(f"No sign-in answer within {timeout_s:g} s; run the login again.")
    if answer.get("state") != state:
        raise AuthenticationError(
            "The sign-in answer carried the wrong state value (a forged redirect?); refused."
        )
    if "error" in answer or "code" not in answer:
        raise AuthenticationError(
            f"Sign-in refused: {answer.get('error_description') or answer.get('error', 'no code')}."
        )
    answer["redirect_uri"] = redirect_uri
    return answer
