"""CLI commands for edits: ``edit`` (inputs -> a post-ready MP4) and ``presets``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_commands", "edit_after"]


def _shortcuts(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "preset": args.preset,
        "fit": args.fit,
        "logo": getattr(args, "logo", None),
        "title": getattr(args, "title", None),
        "captions": getattr(args, "captions", None),
        "music": getattr(args, "music", None),
        "brand": getattr(args, "brand", None),
        "poster": getattr(args, "poster", False),
        "gif": getattr(args, "gif", False),
    }


def _summary(result: Any) -> dict[str, Any]:
    from ..media._probe import probe
    from ..media._recipe import Reformat

    info = probe(str(result.path))
    preset = result.request.recipe.first(Reformat)
    return {
        "job_id": result.job_id,
        "paths": [str(p) for p in result.paths],
        "parents": list(result.parents),
        "preset": preset.preset if preset is not None else None,
        "width": info.width,
        "height": info.height,
        "duration_s": round(info.duration, 3),
        "cached": result.cached,
    }


def _cmd_edit(args: argparse.Namespace) -> int:
    from ..media._edit import edit, plan_edit
    from ._main import _Progress

    recipe = None
    if args.recipe:
        try:
            with open(args.recipe, encoding="utf-8") as fh:
                recipe = json.load(fh)
        except (OSError, ValueError) as exc:
            from ..errors import InvalidRequestError

            raise InvalidRequestError(f"--recipe {args.recipe}: cannot read it as JSON ({exc})") from None
    if args.dry_run:
        plan = plan_edit(args.inputs, recipe, **_shortcuts(args))
        data = plan.to_dict()
        if args.json:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        else:
            w = data["would_send"]
            print(
                f"would render {w['width']}x{w['height']} at {w['fps']:g} fps, {w['duration_s']:g} s "
                f"({w['frames']} frames), audio: {'yes' if w['audio'] else 'no'}; cost $0 (local)"
            )
        return 0
    progress = _Progress(not args.json)
    result = edit(args.inputs, recipe, out_dir=args.out, on_progress=progress, **_shortcuts(args))
    progress.done()
    if args.json:
        sys.stdout.write(json.dumps(_summary(result), indent=2) + "\n")
    else:
        for path in result.paths:
            print(path)
    return 0


def edit_after(result: Any, args: argparse.Namespace) -> Any:
    """``arthur-gen video ... --preset NAME``: edit a fresh generation to the preset."""
    from ..media._edit import edit

    return edit(result, preset=args.preset, fit=getattr(args, "fit", None) or "fill", out_dir=args.out)


def _cmd_presets(args: argparse.Namespace) -> int:
    from ..media._presets import PRESETS

    if args.json:
        sys.stdout.write(json.dumps([p.to_dict() for p in PRESETS.values()], indent=2) + "\n")
        return 0
    for p in PRESETS.values():
        limit = f"{p.min_duration_s:g}-{p.max_duration_s:g} s, <= {p.max_fps:g} fps"
        print(f"{p.name:20} {p.width}x{p.height} ({p.aspect:5}) {p.bitrate // 1_000_000} Mb/s  {limit}")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``edit`` and ``presets``. Imports nothing heavy until a command runs."""
    p = sub.add_parser(
        "edit",
        help="edit videos/images into a post-ready MP4 (preset, logo, title, captions, music)",
        description="One job per edit (history, show, rerun work on it); the same inputs and "
        "recipe are answered from the cache. Several inputs are joined in order.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video or image files, in order")
    p.add_argument("--preset", help="output preset (see `arthur-gen presets`)")
    p.add_argument("--fit", choices=["fill", "fit", "blur"], help="how to reformat (default fill)")
    p.add_argument("--logo", help="logo image for the top-right corner")
    p.add_argument("--title", help="title text over the first seconds")
    p.add_argument("--captions", help="an SRT or VTT caption file")
    p.add_argument("--music", help="music or voice track (looped, faded, ducked, -14 LUFS)")
    p.add_argument("--brand", help="a [brands.NAME] kit from the config file")
    p.add_argument("--recipe", help='a JSON recipe file: {"operations": [...]}')
    p.add_argument("--poster", action="store_true", help="also write a poster JPEG (sharpest frame)")
    p.add_argument("--gif", action="store_true", help="also write an animated GIF")
    p.add_argument("--out", help="output folder")
    p.add_argument("--dry-run", action="store_true", help="check and describe; render nothing")
    p.add_argument("--json", action="store_true", help="print job_id, paths, parents, size, duration")
    p.set_defaults(func=_cmd_edit)

    p = sub.add_parser("presets", help="platform presets: sizes, bitrates and upload limits")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_presets)
