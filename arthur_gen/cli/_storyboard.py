"""CLI: ``arthur-gen storyboard plan FILE [--json]`` and ``storyboard run|resume FILE [--yes]``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Add ``storyboard plan`` and ``storyboard run``. Imports nothing heavy until a command runs."""
    p = sub.add_parser(
        "storyboard",
        help="a YAML shot list -> one finished video (plan, run)",
        description="Keyframe -> clip per shot, then one edit per output, then publish. Every step "
        "is a job; unchanged steps are answered at $0, and a killed run goes on where it stopped.",
    )
    actions = p.add_subparsers(dest="storyboard_action", metavar="ACTION")
    plan = actions.add_parser("plan", help="validate, show the job graph, estimates, budget, what is done")
    plan.add_argument("file", metavar="FILE", help="the storyboard YAML file")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(func=_cmd_plan)
    run = actions.add_parser(
        "run",
        aliases=["resume"],
        help="run the graph (again, or `resume` after a crash or Ctrl-C: only what changed or is left)",
    )
    run.add_argument("file", metavar="FILE", help="the storyboard YAML file")
    run.add_argument("--yes", "-y", action="store_true", help="skip the confirmation above the threshold")
    run.add_argument("--out", help="output folder")
    run.add_argument("--no-publish", action="store_true", help="stop after the edits")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.set_defaults(func=_cmd_run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _cmd_plan(args: argparse.Namespace) -> int:
    from ..storyboard import Storyboard

    plan = Storyboard.from_file(args.file).plan()
    if args.json:
        sys.stdout.write(json.dumps(plan.to_dict(), indent=2) + "\n")
    else:
        print(plan.describe())
    return 0 if plan.budget_problem is None else 1


def _ask(plan: Any) -> bool:
    print(plan.describe(), file=sys.stderr)
    if not sys.stdin.isatty():
        return False
    answer = input(f"Run it for ${plan.to_pay_usd or 0:.2f}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _cmd_run(args: argparse.Namespace) -> int:
    from ..storyboard import Storyboard, StoryEvent

    board = Storyboard.from_file(args.file)
    lock = threading.Lock()

    def show(event: StoryEvent) -> None:
        if args.json:
            return
        if event.state == "done":
            cost = "$0 (cached)" if event.cached else f"${event.cost_usd or 0:.3f}"
            text = f"done     {event.step:<24} {cost}"
        elif event.state == "failed":
            text = f"FAILED   {event.step:<24} {event.message}"
        else:
            text = f"started  {event.step}"
        with lock:
            print(text, file=sys.stderr, flush=True)

    cancel = threading.Event()
    try:
        result = board.run(
            yes=args.yes,
            confirm=_ask,
            on_event=show,
            out_dir=args.out,
            publish=not args.no_publish,
            cancel_event=cancel,
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        for name, video in result.outputs.items():
            print(f"{name}: {video.paths[0]}")
        print(f"paid this run: ${result.cost_usd:.3f}")
    return 0
