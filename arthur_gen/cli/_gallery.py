"""CLI: ``arthur-gen gallery --html FILE`` and ``arthur-gen gallery --serve [--port N]``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Add ``gallery``. Imports nothing heavy until it runs."""
    p = sub.add_parser(
        "gallery",
        help="every image and video made, as one HTML page or served on 127.0.0.1",
        description="Every image and video made, newest first: prompt, backend, model, seed, cost,\n"
        "state, lineage and the command that makes each again, with filters (kind, backend,\n"
        "model, text, date). --html writes one page that links the files by relative path;\n"
        "--serve serves it read-only on 127.0.0.1 (the page and the files it shows, nothing else).",
        epilog="examples:\n  arthur-gen gallery --html gallery.html\n"
        "  arthur-gen gallery --serve --port 8765",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--html", metavar="FILE", help="write the gallery page to FILE")
    how.add_argument("--serve", action="store_true", help="serve the gallery on http://127.0.0.1:PORT/")
    p.add_argument(
        "--port", type=int, default=None, help="with --serve: the port (default 8765; 0: any free)"
    )
    p.add_argument("--open", action="store_true", help="with --serve: open it in the web browser")
    p.add_argument("--verbose", action="store_true", help="with --serve: log every request")
    p.set_defaults(func=_cmd_gallery)


def _cmd_gallery(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequestError

    if args.html is not None:
        if args.port is not None or args.open:
            raise InvalidRequestError("--port and --open go with --serve, not --html")
        from ..gallery._page import write_page

        target, gallery = write_page(args.html)
        print(f"Wrote the gallery ({gallery.summary()}) to {target}")
        return 0
    from ..gallery import DEFAULT_PORT, serve_gallery

    serve_gallery(
        DEFAULT_PORT if args.port is None else args.port, open_browser=args.open, quiet=not args.verbose
    )
    return 0
