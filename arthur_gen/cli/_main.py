"""The ``arthur-gen`` command line. argparse keeps start-up fast; heavy work is imported late."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._progress import TerminalProgress

__all__ = ["main"]

EXIT_ERROR, EXIT_USAGE, EXIT_MONEY, EXIT_INTERRUPT = 1, 2, 3, 130

# Every state a job can be in (the store's ACTIVE_STATES + FINAL_STATES; a test keeps them equal).
JOB_STATES = ("planned", "submitted", "running", "completed", "uncertain", "saved", "failed", "canceled")

Handler = Callable[[argparse.Namespace], int]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    from ..errors import InvalidRequestError

    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidRequestError(
                f"--option {pair!r} must look like NAME=VALUE (e.g. -o prompt_optimizer=false)"
            )
        options[name.strip()] = _option_value(value)
    return options


def _Progress(enabled: bool = True) -> TerminalProgress:
    """Progress on stderr, one line per job, fitted to the terminal (only when it is one).
    Imported on use: commands that show no progress never load it."""
    from .._progress import TerminalProgress

    return TerminalProgress(enabled=enabled)


def _size(text: str | None) -> tuple[int | None, int | None]:
    from ..errors import InvalidRequestError

    if not text:
        return None, None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise InvalidRequestError(f"--size {text!r} must look like 1024x768")
    return int(w), int(h)


def _generate(args: argparse.Namespace, kind: str) -> int:
    import arthur_gen as ag

    width, height = _size(args.size)
    fields: dict[str, Any] = dict(
        negative_prompt=args.negative_prompt,
        width=width,
        height=height,
        aspect_ratio=args.aspect_ratio,
        steps=args.steps,
        guidance=args.guidance,
        strength=args.strength,
        options=_parse_options(args.option) or None,
    )
    if kind == "image":
        fields["image"] = args.image
    else:
        fields.update(
            duration=args.duration,
            fps=args.fps,
            resolution=args.resolution,
            first_frame=args.first_frame,
            last_frame=args.last_frame,
        )
    seeds = args.seed or [None]
    if args.dry_run:
        plans = [
            ag.plan(
                kind,
                args.prompt,
                backend=args.backend,
                model=args.model,
                allow_unknown_price=args.allow_unknown_price,
                seed=s,
                **fields,
            ).to_dict()
            for s in seeds
        ]
        if args.json:
            _print_json(plans if len(plans) > 1 else plans[0])
        else:
            for p in plans:
                print(f"backend:  {p['backend']}\nmodel:    {p['model']}")
                print(
                    f"estimate: {p['estimate']['detail']}"
                    + (f" = ${p['estimate']['usd']:.4f}" if p["estimate"]["usd"] is not None else "")
                )
                _print_route(p.get("route"))
                if p["cached_by"]:
                    print(f"cached:   yes: job {p['cached_by']} already made this, so it costs $0")
                print("would send:")
                print(json.dumps(p["would_send"] or p["request"], indent=2, default=str))
            print("(dry run: nothing was sent, nothing was written)")
        return 0
    verb = ag.generate_image if kind == "image" else ag.generate_video
    progress = _Progress(not args.json)
    _say_routing(not args.json)
    results = []
    if getattr(args, "preset", None):  # a bad preset name fails before anything is paid for
        from ..media._presets import get_preset

        get_preset(args.preset)
    common: dict[str, Any] = dict(
        backend=args.backend,
        model=args.model,
        out_dir=args.out,
        timeout=args.timeout,
        cache=not args.no_cache,
        allow_unknown_price=args.allow_unknown_price or None,
        **fields,
    )
    failures: list[BaseException] = []
    try:
        if len(seeds) > 1:  # one job per seed; at once on a remote backend, each line its own
            from .._api import run_seeds

            outcomes = run_seeds(
                verb, kind, args.prompt, seeds, common, progress_for=progress.callback, return_exceptions=True
            )
        else:
            outcomes = [verb(args.prompt, seed=seeds[0], on_progress=progress, **common)]
        for result in outcomes:
            if isinstance(result, BaseException):
                failures.append(result)
                continue
            results.append(result)
            if getattr(args, "preset", None):  # generate, then edit to the platform preset
                from ._edit import edit_after

                results.append(edit_after(result, args))
            progress.done()
            if not args.json:
                shown = results[-2:] if getattr(args, "preset", None) else results[-1:]
                for path in (p for r in shown for p in r.paths):
                    print(path)
                print(result.caption(), file=sys.stderr)
    finally:
        progress.done()
    if args.json and results:
        payload = [r.to_dict() for r in results]
        _print_json(payload if len(payload) > 1 else payload[0])
    if failures:  # the others were saved and printed; the first error decides the exit code
        raise failures[0]
    return 0


def _print_route(route: dict[str, Any] | None) -> None:
    """``--dry-run``: every backend considered, side by side with its cost, and which one runs."""
    if not route:
        return
    from .._routing import route_table

    mode = ",".join(route["preference"])
    runs = route["runs"] or "none can run here now (why below; running it fails with each fix)"
    print(f"routing:  {mode} -> {runs}")
    for line in route_table(route):
        print(f"  {line}")


def _say_routing(enabled: bool) -> None:
    """Print to stderr which backend a routed request went to and why others were skipped."""
    import logging

    class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever ``sys.stderr`` is at the time (a notebook or test may swap it)."""

        @property
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    logger = logging.getLogger("arthur_gen.routing")
    if enabled and not logger.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _cmd_image(args: argparse.Namespace) -> int:
    return _generate(args, "image")


def _cmd_video(args: argparse.Namespace) -> int:
    return _generate(args, "video")


def _cmd_backends(args: argparse.Namespace) -> int:
    import arthur_gen as ag

    rows = ag.list_backends(args.kind)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("No backends installed. Try: pip install arthur-gen-replicate arthur-gen-mflux")
        return 0
    from .._routing import _short

    print(
        _table(
            [
                (
                    ("* " if r["default"] else "  ") + r["id"],
                    r["kind"],
                    "local" if r["local"] else "remote",
                    r["models"],
                    r["default_model"]
                    + ("" if r["default_model_ready"] or not r["available"] else " (not ready)"),
                    "yes" if r["available"] else f"no: {_short(r['reason'])}",
                )
                for r in rows
            ],
            ["backend", "kind", "where", "models", "default model", "available"],
        )
    )
    kinds = [k for k in ("image", "video") if any(r["kind"] == k for r in rows)]
    for kind in kinds:
        if not any(r["default"] for r in rows if r["kind"] == kind):
            print(f"No {kind} backend can run its default model here: `arthur-gen doctor` says why.")
    print("* = used when no --backend is given (`arthur-gen doctor` explains the choice)")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    import arthur_gen as ag

    from .._routing import _short, backend_status

    pairs = ag.list_models(args.kind, args.backend)
    status: dict[tuple[str, str], Any] = {}
    for b, m in pairs:  # can it run here: backend usable (key, packages), then weights
        backend = ag.get_backend(b, m.kind)
        usable = status.setdefault((b, m.kind.value), backend_status(backend))
        status[(b, m.id)] = backend.model_availability(m) if usable.ok else usable
    if args.json:
        _print_json(
            [
                {
                    "backend": b,
                    **m.to_dict(),
                    "ready": status[(b, m.id)].ok,
                    "reason": status[(b, m.id)].reason,
                }
                for b, m in pairs
            ]
        )
        return 0
    print(
        _table(
            [
                (
                    b,
                    m.id,
                    m.kind.value,
                    ",".join(sorted(c.value for c in m.capabilities)),
                    m.price.describe(),
                    "yes" if status[(b, m.id)].ok else f"no: {_short(status[(b, m.id)].reason, 50)}",
                )
                for b, m in pairs
            ],
            ["backend", "model", "kind", "capabilities", "price", "runs here"],
        )
    )
    if args.options:
        for b, m in pairs:
            if m.options:
                print(f"\n{b} {m.id}:")
                for o in m.options:
                    print(f"  {o.describe()}" + (f": {o.help}" if o.help else ""))
    return 0


def _job_summary(row: Any) -> dict[str, Any]:
    return {
        "job_id": row.id,
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.created_at)),
        "kind": row.kind,
        "backend": row.backend,
        "model": row.model,
        "state": row.state,
        "cost_usd": row.cost_usd,
        "prompt": row.prompt,
        "paths": [o["path"] for o in row.outputs],
    }


def _parse_when(text: str | None, *, end: bool = False) -> float | None:
    from ..money._ledger import parse_when

    return parse_when(text or None, end=end)


def _display_path(path: str) -> str:
    """``path`` relative to the working folder when it is under it, else as stored."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith("..") else relative


def _output_cell(outputs: Sequence[dict[str, Any]]) -> str:
    if not outputs:
        return ""
    first = _display_path(str(outputs[0].get("path", "")))
    return first if len(outputs) == 1 else f"{first} (+{len(outputs) - 1})"


def _cmd_history(args: argparse.Namespace) -> int:
    import arthur_gen as ag

    rows = ag.history(
        limit=args.limit,
        backend=args.backend,
        model=args.model,
        kind=args.kind,
        text=args.text,
        state=args.state,
        since=_parse_when(args.since),
        until=_parse_when(args.until, end=True),
    )
    if args.json:
        _print_json([_job_summary(r) for r in rows])
        return 0
    print(
        _table(
            [
                (
                    r.id,
                    time.strftime("%m-%d %H:%M", time.localtime(r.created_at)),
                    r.backend,
                    r.model,
                    r.state,
                    "?" if r.cost_usd is None else f"${r.cost_usd:.4f}",
                    r.prompt[:40],
                    _output_cell(r.outputs),
                )
                for r in rows
            ],
            ["job", "when", "backend", "model", "state", "cost", "prompt", "output"],
        )
    )
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    import arthur_gen as ag

    if Path(args.job).is_file():  # an output file: its embedded record (PNG, MP4) or sidecar
        from ..media._edit import file_metadata

        data = file_metadata(Path(args.job))
    else:
        data = ag.get_job(args.job).to_dict()
    if args.json:
        _print_json(data)
    else:
        print(_describe_job(data))
    return 0


_TIME_FIELDS = ("created_at", "updated_at", "submitted_at", "finished_at")


def _describe_job(data: dict[str, Any]) -> str:
    """A job's record for a person: dates as local times, the request and outputs as lines."""
    lines: list[str] = []
    for key, value in data.items():
        if value in (None, [], {}, "") or key in ("request", "outputs", "timings"):
            continue
        if key in _TIME_FIELDS and isinstance(value, int | float):
            value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
        elif key in ("cost_usd", "estimate_usd", "saved_usd") and isinstance(value, int | float):
            value = f"${value:.4f}"
        elif isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        lines.append(f"{key:>14}: {value}")
    timings = data.get("timings") or {}
    if timings:
        lines.append(f"{'timings':>14}: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    for output in data.get("outputs") or []:
        lines.append(f"{'output':>14}: {_display_path(str(output.get('path', '')))}")
    request = data.get("request") or {}
    if request:
        lines.append(f"{'request':>14}:")
        for key, value in request.items():
            if value not in (None, [], {}, ""):
                text = json.dumps(value, default=str) if isinstance(value, dict | list) else value
                lines.append(f"{'':>16}{key}: {text}")
    return "\n".join(lines)


def _cmd_resume(args: argparse.Namespace) -> int:
    import arthur_gen as ag

    from ..publish._driver import Publication

    outcomes = ag.resume(on_progress=_Progress(not args.json))
    failed = [(j, o) for j, o in outcomes if isinstance(o, Exception)]
    if args.json:
        _print_json(
            [
                {
                    "job_id": j,
                    "ok": not isinstance(o, Exception),
                    "result": o.to_dict() if not isinstance(o, Exception) else None,
                    "error": str(o) if isinstance(o, Exception) else None,
                }
                for j, o in outcomes
            ]
        )
    else:
        if not outcomes:
            print("Nothing to resume: no unfinished jobs.")
        for job_id, outcome in outcomes:
            if isinstance(outcome, Exception):
                how = "" if str(outcome).startswith("needs confirmation") else "failed: "
                print(f"{job_id}: {how}{outcome}")
            elif isinstance(outcome, Publication):
                print(f"{job_id}: published {outcome.url}")
            else:
                print(f"{job_id}: saved {', '.join(str(p) for p in outcome.paths)}")
        if failed:
            print(f"{len(failed)} of {len(outcomes)} jobs failed; the others went on.", file=sys.stderr)
    return EXIT_ERROR if failed else 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    import platform

    import arthur_gen as ag

    from .._config import config_path, data_dir, load_settings
    from .._registry import backends

    settings = load_settings()
    report: dict[str, Any] = {
        "arthur_gen": ag.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "config": str(config_path()),
        "data": str(data_dir()),
        "outputs": str(settings.output_dir),
        "budget": dict(settings.budget),
        "backends": [],
    }
    from .._routing import backend_status, default_route

    report["routing"] = {}
    for kind in (ag.Kind.IMAGE, ag.Kind.VIDEO):
        found = sorted(backends(kind).items())
        for bid, backend in found:
            status = backend_status(backend)  # the same answer `arthur-gen backends` gives
            entry: dict[str, Any] = {
                "id": bid,
                "kind": kind.value,
                "local": backend.is_local,
                "installed": True,
                "available": status.ok,
                "reason": status.reason,
                "fix": status.fix,
                "default_model": backend.default_model,
            }
            if backend.key_env_var:
                entry["key"] = "missing" if status.reason == "missing API key" else "found"
            entry["models"] = []
            for model in backend.models():
                m = backend.model_availability(model)
                entry["models"].append({"id": model.id, "ready": m.ok, "reason": m.reason, "fix": m.fix})
            report["backends"].append(entry)
        if found:
            runs, chosen, error = default_route(kind)
            report["routing"][kind.value] = {
                "preference": settings.default_backends.get(f"{kind}_backend") or "auto",
                "runs": runs,
                "error": error or None,
                "options": chosen.to_dict()["options"] if chosen is not None else [],
            }
    if args.json:
        _print_json(report)
        return 0
    for key in ("arthur_gen", "python", "platform", "config", "data", "outputs"):
        print(f"{key:>10}: {report[key]}")
    if not report["backends"]:
        print("No backends installed: pip install arthur-gen-replicate arthur-gen-mflux")
    for b in report["backends"]:
        state = "available" if b["available"] else f"unavailable: {b['reason']}"
        if b["available"] and b["reason"]:
            state += f" ({b['reason']})"
        print(f"\n{b['id']} ({b['kind']}): {state}")
        if b["fix"] and not b["available"]:
            print(f"    fix: {b['fix']}")
        for m in b["models"]:
            mark = "ok " if m["ready"] else "-- "
            default = " (default)" if m["id"] == b["default_model"] else ""
            print(f"    {mark}{m['id']}{default}" + ("" if m["ready"] else f": {m['reason']}"))
            if not m["ready"] and m["fix"] and default:
                print(f"        fix: {m['fix']}")
    from .._routing import RouteOption, _offline_hint, _short

    for kind, r in report["routing"].items():
        print(f"\n{kind} requests with no --backend ({r['preference']}): ", end="")
        error = f": {r['error']}" if r["error"] else ""
        print(f"run on {r['runs']}" if r["runs"] else f"nothing can run here{error}")
        for o in (RouteOption(**d) for d in r["options"]):
            what = "runs" if o.chosen else ("could run" if o.runs else f"skipped: {_short(o.reason)}")
            print(f"    {o.backend} ({o.model}, {o.price_text()}): {what}")
        if not r["runs"]:
            keyless = [RouteOption(**o) for o in r["options"] if o["reason"] == "missing API key"]
            hints = {_offline_hint(o).strip() for o in keyless}
            for hint in sorted(h for h in hints if h):
                print(f"    {hint}")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    import arthur_gen as ag

    plugins = ag.get_plugins()
    if args.json:
        _print_json(plugins)
    else:
        for p in plugins:
            print(f"{p['name']}: {p['distribution'] or 'registered in code'} ({', '.join(p['hooks'])})")
    return 0


def _cmd_keys_set(args: argparse.Namespace) -> int:
    import getpass

    from .._config import set_config_value

    value = args.value
    if value is None:
        value = (
            getpass.getpass(f"Key for {args.name}: ") if sys.stdin.isatty() else sys.stdin.readline()
        ).strip()
    if not value:
        print("No key given; nothing changed.", file=sys.stderr)
        return EXIT_USAGE
    path = set_config_value(f"keys.{args.name}", value)
    print(f"Saved the {args.name} key in {path} (readable only by you).")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from .._config import config_path, load_settings, set_config_value

    if args.action == "path":
        print(config_path())
    elif args.action == "set":
        if not args.name or args.value is None:
            print("usage: arthur-gen config set NAME VALUE", file=sys.stderr)
            return EXIT_USAGE
        if args.name.startswith("keys."):
            print("use `arthur-gen keys set NAME` for keys", file=sys.stderr)
            return EXIT_USAGE
        print(set_config_value(args.name, _option_value(args.value)))
    else:
        s = load_settings()
        _print_json(
            {
                "file": str(config_path()),
                "output_dir": str(s.output_dir),
                "budget": dict(s.budget),
                "allow_unknown_price": s.allow_unknown_price,
                "defaults": dict(s.default_backends),
                "keys": {k: "********" for k in s.keys},
            }
        )
    return 0


_GENERATE_EXAMPLES = {
    "image": """\
Make an image from a prompt. Without --backend the default image backend is used
(`arthur-gen backends --kind image` lists them; `arthur-gen models --options` lists each
model's options).

examples:
  arthur-gen image "a lighthouse at dusk, film grain"
  arthur-gen image "a lighthouse at dusk" --seed 1 --seed 2 --seed 3
  arthur-gen image "a lighthouse at dusk" -b replicate -m black-forest-labs/flux-schnell --dry-run
  arthur-gen image "the same scene in winter" --image out/lighthouse.png --strength 0.6
""",
    "video": """\
Make a video from a prompt, or animate an image with --first-frame. Cloud models are paid:
--dry-run shows the estimate and sends nothing; budgets (`arthur-gen budget`) are checked first.

examples:
  arthur-gen video "waves rolling onto a beach at sunrise" --dry-run
  arthur-gen video "the camera slowly pushes in" --first-frame out/lighthouse.png
  arthur-gen video "a drone shot over a forest" -m minimax/video-01 --preset linkedin-portrait
  arthur-gen video "a cat on a windowsill" --aspect-ratio 9:16 --duration 5
""",
}


def _add_generate(sub: Any, kind: str) -> None:
    what = "an image" if kind == "image" else "a video"
    p = sub.add_parser(
        kind,
        help=f"generate {what}",
        description=_GENERATE_EXAMPLES[kind],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", help="what to make, in words")
    p.add_argument(
        "--backend",
        "-b",
        help="backend id, e.g. replicate or mflux (`arthur-gen backends`); or a preference list "
        "such as mlx_video,replicate; default: auto, the first that can run it here",
    )
    p.add_argument("--model", "-m", help="model id of that backend (`arthur-gen models`)")
    p.add_argument("--seed", type=int, action="append", help="repeat for several seeds (one job each)")
    p.add_argument("--negative-prompt", help="what to keep out of the result, where the model supports it")
    p.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1024x768")
    p.add_argument("--aspect-ratio", help="e.g. 16:9, 9:16 or 1:1, where the model takes one")
    p.add_argument("--steps", type=int, help="denoising steps (more is slower, often finer)")
    p.add_argument("--guidance", type=float, help="how closely to follow the prompt (guidance scale)")
    p.add_argument("--strength", type=float, help="0..1: how far to move away from the input image")
    if kind == "image":
        p.add_argument("--image", help="init image for image-to-image")
    else:
        p.add_argument("--first-frame", help="image path or URL to animate")
        p.add_argument("--last-frame", help="image path or URL the video should end on")
        p.add_argument("--duration", type=float, help="length in seconds (the model's allowed values apply)")
        p.add_argument("--fps", type=int, help="frames per second, where the model lets you choose")
        p.add_argument("--resolution", help="e.g. 720p")
        p.add_argument("--preset", help="then edit the video to this preset (`arthur-gen presets`)")
        p.add_argument("--fit", choices=["fill", "fit", "blur"], help="with --preset: how to reformat")
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="model option; VALUE is JSON or text",
    )
    p.add_argument("--out", help="output folder (default: the configured output_dir)")
    p.add_argument("--timeout", type=float, help="overall deadline in seconds")
    p.add_argument("--no-cache", action="store_true", help="do not answer from the cache")
    p.add_argument(
        "--allow-unknown-price",
        action="store_true",
        help="run a model whose price is unknown (its cost is recorded as unknown)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show the estimate and what would be sent; send nothing",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_image if kind == "image" else _cmd_video)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arthur-gen", description="Generate images and videos through pluggable backends."
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command")
    _add_generate(sub, "image")
    _add_generate(sub, "video")

    p = sub.add_parser(
        "backends", help="installed backends, whether they can run, and which one a request goes to"
    )
    p.add_argument("--kind", choices=["image", "video"], help="only backends of this kind")
    p.add_argument("--json", action="store_true", help="print the backends as JSON")
    p.set_defaults(func=_cmd_backends)

    p = sub.add_parser("models", help="models of the installed backends and whether each runs here")
    p.add_argument("--kind", choices=["image", "video"], help="only models of this kind")
    p.add_argument("--backend", "-b", help="only this backend's models")
    p.add_argument("--options", action="store_true", help="list each model's options")
    p.add_argument("--json", action="store_true", help="print the models as JSON")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("history", help="past generations, newest first")
    p.add_argument("--backend", "-b", help="only this backend's jobs")
    p.add_argument("--model", "-m", help="only this model's jobs")
    p.add_argument("--kind", choices=["image", "video", "edit", "publish"], help="only this kind of job")
    p.add_argument("--text", help="only prompts containing this text")
    p.add_argument("--state", choices=JOB_STATES, help="only jobs in this state")
    p.add_argument("--since", help="from this date (e.g. 2026-11-01, 2026-11, 7d, 2026-11-25T14:30)")
    p.add_argument("--until", help="up to and including this date (same forms as --since)")
    p.add_argument("--limit", type=int, default=50, help="at most this many jobs (default 50)")
    p.add_argument("--json", action="store_true", help="print the jobs as JSON")
    p.set_defaults(func=_cmd_history)

    p = sub.add_parser("show", help="everything recorded about one job")
    p.add_argument("job", help="job id or a unique prefix")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("resume", help="finish every unfinished job (after a crash)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_resume)

    p = sub.add_parser("doctor", help="what can run here, what is missing, where each kind goes and why")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("plugins", help="installed plugins and their hooks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_plugins)

    keys = sub.add_parser("keys", help="store API keys in the config file")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    p = keys_sub.add_parser("set", help="save a key (read from a prompt or stdin)")
    p.add_argument("name", help="e.g. replicate")
    p.add_argument("value", nargs="?", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_keys_set)

    p = sub.add_parser("config", help="show the configuration, its path, or set a value")
    p.add_argument("action", choices=["show", "path", "set"], nargs="?", default="show")
    p.add_argument("name", nargs="?")
    p.add_argument("value", nargs="?")
    p.set_defaults(func=_cmd_config)

    _add_command_modules(sub)
    return parser


# Each concern keeps its subcommands in a module of its own with ``add_commands(sub)``.
_COMMAND_MODULES = ("_money", "_edit", "_publish", "_gallery", "_storyboard")


def _add_command_modules(sub: Any) -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue  # a concern not built (yet) in this tree
        module.add_commands(sub)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _chosen_parser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The deepest subcommand parser named in ``argv`` (``keys set`` → the ``set`` parser)."""
    chosen = parser
    for word in argv:
        if word.startswith("-"):
            continue
        child = _subcommands(chosen).get(word)
        if child is None:
            break
        chosen = child
    return chosen


def _suggest_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """A mistyped subcommand gets "did you mean" instead of the whole list of choices."""
    import difflib

    words = [w for w in argv if not w.startswith("-")]
    commands = _subcommands(parser)
    if not words or words[0] in commands or argv[0].startswith("-"):
        return
    close = difflib.get_close_matches(words[0], list(commands), n=1, cutoff=0.6)
    if close:
        parser.error(
            f"unknown command {words[0]!r}; did you mean {close[0]!r}? (`arthur-gen --help` lists them)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    _suggest_command(parser, argv)
    args, extras = parser.parse_known_args(argv)
    if extras:  # the subcommand's own usage, not the top-level one
        _chosen_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extras)}")
    if args.version:
        from .. import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    import signal

    from ..errors import (
        ArthurGenError,
        BudgetExceededError,
        InvalidRequestError,
        UnknownPriceError,
    )

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops a job the way Ctrl-C does: cancelled and recorded

    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        previous = None
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt as exc:
        what = str(exc) or "stopped; `arthur-gen history` shows what was recorded"
        print(f"\nInterrupted: {what}.", file=sys.stderr)
        return EXIT_INTERRUPT
    except BrokenPipeError:
        # The reader went away (`arthur-gen history | head`): stop quietly, like other tools.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (BudgetExceededError, UnknownPriceError) as exc:
        print(f"arthur-gen: {exc}", file=sys.stderr)
        return EXIT_MONEY
    except InvalidRequestError as exc:
        print(f"arthur-gen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ArthurGenError as exc:
        print(f"arthur-gen: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
