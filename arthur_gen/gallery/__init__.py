"""The gallery: every image and video made, newest first, as one HTML page or served on loopback.

>>> import arthur_gen
>>> arthur_gen.write_gallery("gallery.html")  # doctest: +SKIP
PosixPath('/home/me/gallery.html')

``arthur-gen gallery --html FILE`` and ``arthur-gen gallery --serve [--port N]`` do the same
from the command line; see docs/gallery.md.
"""

from __future__ import annotations

from ._data import Entry, Gallery, Media, load
from ._page import render_page, write_gallery
from ._server import DEFAULT_PORT, GalleryServer, serve_gallery

__all__ = [
    "DEFAULT_PORT",
    "Entry",
    "Gallery",
    "GalleryServer",
    "Media",
    "load",
    "render_page",
    "serve_gallery",
    "write_gallery",
]
