"""``arthur-gen gallery --serve``: the gallery page over HTTP, read-only, on loopback only.

What it serves, and nothing else:

- ``/`` — the page, rebuilt from the store on every load (new work shows on reload);
- ``/files/<n>/<path>`` — a file the latest page links to, found by exact lookup in that
  page's table (a URL is never joined onto a folder), and only if its real path (symlinks
  resolved) is a regular file inside one of the project's output folders.

GET and HEAD only (anything else: 405); single byte ranges (206) so videos seek; a ``Host``
header other than the loopback address is refused (403), which stops DNS rebinding.
"""

from __future__ import annotations

import http.server
import os
import re
import stat
import sys
import threading
import time
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

from ..errors import ArthurGenError
from ._data import Media, load
from ._page import SCRIPT_HASH, render_page

__all__ = ["DEFAULT_PORT", "GalleryServer", "serve_gallery"]

DEFAULT_PORT = 8765
HOST = "127.0.0.1"
_CHUNK = 1 << 16
_CSP = (
    f"default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    f"script-src '{SCRIPT_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _inside(real: str, roots: list[str]) -> bool:
    for root in roots:
        try:
            if os.path.commonpath([real, root]) == root:
                return True
        except ValueError:  # different drives
            continue
    return False


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(first, last)`` for a single satisfiable range; None to send it all; "416" if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:  # several ranges or a unit we do not know: the whole file is a valid answer
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        if suffix == 0:
            return "416"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if first >= size:
        return "416"
    last = int(last_text) if last_text else size - 1
    if last < first:  # malformed: ignored, as RFC 9110 allows
        return None
    return first, min(last, size - 1)


class _Index:
    """The page and the table of files it links to, swapped whole when the page is rebuilt."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[str, tuple[str, str]] = {}  # decoded URL path -> (path, media type)
        self.roots: list[str] = []

    def build(self) -> bytes:
        gallery = load()
        roots = gallery.roots
        files: dict[str, tuple[str, str]] = {}
        folders: dict[str, str | None] = {}  # folder -> its /files/<n>/... prefix, None: outside

        def prefix_of(folder: str) -> str | None:
            real = os.path.realpath(folder)
            for n, root in enumerate(roots):
                if _inside(real, [root]):
                    rel = os.path.relpath(real, root).replace(os.sep, "/")
                    return f"/files/{n}/" if rel == "." else f"/files/{n}/{rel}/"
            return None

        def url_for(media: Media) -> str | None:
            folder, name = os.path.split(media.path)
            if folder not in folders:
                folders[folder] = prefix_of(folder)
            prefix = folders[folder]
            if prefix is None:
                return None
            key = prefix + name
            files[key] = (media.path, media.media_type)
            return quote(key, safe="/")

        page = render_page(gallery, url_for).encode("utf-8")
        with self.lock:
            self.files, self.roots = files, roots
        return page

    def lookup(self, key: str) -> tuple[str, str, list[str]] | None:
        with self.lock:
            found = self.files.get(key)
            return None if found is None else (*found, self.roots)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "arthur-gen-gallery"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    index: _Index
    port: int
    quiet: bool

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method but GET and HEAD: read-only
            return self._not_allowed
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)

    def _not_allowed(self) -> None:
        self.close_connection = True  # any body it sent is left unread
        self._plain(405, "read-only: only GET and HEAD", {"Allow": "GET, HEAD", "Connection": "close"})

    def _plain(self, code: int, text: str, extra: dict[str, str] | None = None, head: bool = False) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head and self.command != "HEAD":
            self.wfile.write(body)

    def _host_ok(self) -> bool:
        host = self.headers.get("Host")
        if host is None:
            return True
        return host.lower() in (f"{HOST}:{self.port}", f"localhost:{self.port}")

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        try:
            if not self._host_ok():
                self._plain(403, "this server answers only on 127.0.0.1", head=head)
                return
            raw = urlsplit(self.path).path
            if raw in ("/", "/index.html"):
                self._page(head)
                return
            found = self.index.lookup(unquote(raw, errors="strict")) if raw.startswith("/files/") else None
            if found is None:
                self._plain(404, "not found", head=head)
                return
            self._file(*found, head=head)
        except ConnectionError:
            pass  # the browser stopped reading (a video it no longer needs): nothing to do
        except UnicodeDecodeError:
            self._plain(404, "not found", head=head)
        except Exception as exc:  # a user sees a message, never a traceback
            sys.stderr.write(f"arthur-gen gallery: cannot answer {self.path!r}: {exc}\n")
            self._plain(500, f"the gallery could not be built: {exc}", head=head)

    def _page(self, head: bool) -> None:
        body = self.index.build()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _open(self, path: str, roots: list[str]) -> tuple[BinaryIO, int] | None:
        real = os.path.realpath(path)
        if not _inside(real, roots):
            return None
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb"), info.st_size

    def _file(self, path: str, media_type: str, roots: list[str], head: bool) -> None:
        opened = self._open(path, roots)
        if opened is None:
            self._plain(404, "not found", head=head)
            return
        fh, size = opened
        with fh:
            wanted = byte_range(self.headers.get("Range"), size)
            if wanted == "416":
                self._plain(416, "range not satisfiable", {"Content-Range": f"bytes */{size}"}, head=head)
                return
            first, last = (0, size - 1) if wanted is None or isinstance(wanted, str) else wanted
            length = max(0, last - first + 1)
            self.send_response(200 if wanted is None else 206)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-cache")
            if wanted is not None:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if head:
                return
            fh.seek(first)
            left = length
            while left > 0:
                block = fh.read(min(_CHUNK, left))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A dropped connection is normal (a video the browser stopped loading); say others briefly."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError):
            sys.stderr.write(f"arthur-gen gallery: a request from {client_address[0]} failed: {exc}\n")


class GalleryServer:
    """The gallery served on ``127.0.0.1:port`` from a background thread (``port=0``: any free one).

    >>> with GalleryServer(port=0) as server:  # doctest: +SKIP
    ...     print(server.url)
    """

    def __init__(self, port: int = DEFAULT_PORT, *, quiet: bool = True) -> None:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ArthurGenError(f"port={port!r} is not valid: give a number from 1 to 65535 (0: any free)")
        index = _Index()
        index.build()  # a broken store fails here, before the server listens
        handler: type[_Handler] = type(
            "GalleryHandler", (_Handler,), {"index": index, "quiet": quiet, "port": 0}
        )
        try:
            self._server = _Server((HOST, port), handler)
        except OSError as exc:
            raise ArthurGenError(
                f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); "
                "pick another port with --port, e.g. --port 8766"
            ) from None
        self.port = int(self._server.server_address[1])
        handler.port = self.port
        self.url = f"http://{HOST}:{self.port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> GalleryServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="arthur-gen-gallery", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (or Ctrl-C)."""
        self._server.serve_forever()

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> GalleryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_gallery(port: int = DEFAULT_PORT, *, open_browser: bool = False, quiet: bool = True) -> None:
    """Serve the gallery on ``http://127.0.0.1:port/`` until Ctrl-C (read-only, loopback only)."""
    server = GalleryServer(port, quiet=quiet)
    print(f"Serving the gallery at {server.url} (read-only, this machine only; Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(server.url,)).start()
    started = time.monotonic()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(f"\nStopped after {time.monotonic() - started:.0f} s.", flush=True)
    finally:
        server.close()
