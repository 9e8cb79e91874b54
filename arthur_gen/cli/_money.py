"""CLI commands about money and memory: ``costs``, ``budget``, ``cache`` and ``rerun``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["add_commands"]

_GROUPS = ("day", "month", "backend", "model", "kind")  # arthur_gen.money._ledger.GROUPS
_BUDGET_NAMES = ("per_call", "per_day", "per_month")
_BUDGET_ALIASES = {"call": "per_call", "day": "per_day", "month": "per_month", "daily": "per_day"}
_COLUMNS = (
    ("jobs", "jobs"),
    ("generations", "generated"),
    ("cache_hits", "cached"),
    ("failed", "failed"),
    ("in_flight", "in flight"),
)


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0:
        return "$0.00"
    if abs(value) < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    from ._main import _table as table

    return table(rows, headers)


def _spent_cell(row: dict[str, Any]) -> str:
    text = _usd(row["cost_usd"])
    if row["unknown_cost"]:
        text += " + ?"
    return text


def _group_table(name: str, rows: list[dict[str, Any]]) -> str:
    keys = ["backend", "model"] if name == "model" else [name]
    headers = [*keys, *(h for _, h in _COLUMNS), "spent", "reserved", "saved (cache)", "unknown cost"]
    body = [
        [
            *(r[k] for k in keys),
            *(r[c] for c, _ in _COLUMNS),
            _spent_cell(r),
            _usd(r["reserved_usd"]) if r["reserved_usd"] else "",
            _usd(r["cache_saved_usd"]) if r["cache_saved_usd"] else "",
            f"{r['unknown_cost']} job(s)" if r["unknown_cost"] else "",
        ]
        for r in rows
    ]
    return _table(body, headers)


def _summary(report: dict[str, Any]) -> str:
    t = report["totals"]
    if not t["jobs"]:
        return "No jobs in this period."
    span = "all time"
    if report["since"] is not None or report["until"] is not None:
        lo = time.strftime("%Y-%m-%d", time.localtime(report["since"])) if report["since"] else "the start"
        hi = (
            time.strftime("%Y-%m-%d", time.localtime(report["until"] - 1))
            if report["until"] is not None
            else "now"
        )
        span = f"{lo} to {hi}"
    lines = [
        f"Spent {_usd(t['cost_usd'])} ({span}) on {t['jobs']:,} jobs: {t['generations']:,} generated, "
        f"{t['cache_hits']:,} from the cache, {t['failed']:,} failed or cancelled."
    ]
    if t["estimated_usd"]:
        lines.append(f"  {_usd(t['estimated_usd'])} of it is estimated (the provider reported no cost).")
    if t["unknown_cost"]:
        lines.append(f"  {t['unknown_cost']:,} job(s) have an UNKNOWN cost, not included above.")
    if t["reserved_usd"] or t["in_flight"]:
        lines.append(f"  {t['in_flight']:,} job(s) in flight, {_usd(t['reserved_usd'])} reserved.")
    if t["cache_saved_usd"]:
        lines.append(f"  The cache saved {_usd(t['cache_saved_usd'])}.")
    return "\n".join(lines)


_DAY_ROWS_SHOWN = 14


def _cmd_costs(args: argparse.Namespace) -> int:
    from ..money._ledger import GROUPS, cost_report

    if args.html:
        from ..money._dashboard import write_dashboard

        path = write_dashboard(args.html, since=args.since, until=args.until)
        print(f"Wrote the cost dashboard to {path}")
        return 0
    chosen = list(dict.fromkeys(args.by)) if args.by else ["day", "month", "backend", "model"]
    for name in chosen:
        if name not in GROUPS:  # pragma: no cover - argparse checks choices
            raise SystemExit(f"--by {name}: one of {', '.join(GROUPS)}")
    report = cost_report(since=args.since, until=args.until, group_by=chosen)
    if args.json:
        _print_json(report)
        return 0
    if args.csv:
        sys.stdout.write(_csv(report, chosen))
        return 0
    print(_summary(report))
    for name in chosen:
        rows = report[f"by_{name}"]
        if not rows:
            continue
        note = ""
        if name == "day" and not args.by and len(rows) > _DAY_ROWS_SHOWN:
            note = f" (last {_DAY_ROWS_SHOWN} of {len(rows)}; --by day shows all)"
            rows = rows[-_DAY_ROWS_SHOWN:]
        print(f"\nBy {name}{note}")
        print(_group_table(name, rows))
    return 0


def _csv(report: dict[str, Any], chosen: list[str]) -> str:
    import csv
    import io

    out = io.StringIO()
    fields = [
        "jobs",
        "generations",
        "cache_hits",
        "failed",
        "in_flight",
        "cost_usd",
        "estimated_usd",
        "reserved_usd",
        "cache_saved_usd",
        "unknown_cost",
    ]
    writer = csv.writer(out, lineterminator="\n")
    if len(chosen) == 1:
        name = chosen[0]
        keys = ["backend", "model"] if name == "model" else [name]
        writer.writerow([*keys, *fields])
        for row in report[f"by_{name}"]:
            writer.writerow([*(row[k] for k in keys), *(row[f] for f in fields)])
        return out.getvalue()
    writer.writerow(["group_by", "key", "backend", *fields])
    for name in chosen:
        for row in report[f"by_{name}"]:
            key = row["model"] if name == "model" else row[name]
            backend = row["backend"] if name in ("model", "backend") else ""
            writer.writerow([name, key, backend, *(row[f] for f in fields)])
    return out.getvalue()


def _budget_name(text: str) -> str:
    name = text.strip().lower().replace("-", "_")
    name = _BUDGET_ALIASES.get(name, name)
    if name not in _BUDGET_NAMES:
        from ..errors import InvalidRequestError

        raise InvalidRequestError(f"budget {text!r} is not one of {', '.join(_BUDGET_NAMES)}")
    return name


def _amount(text: str) -> float:
    from ..errors import InvalidRequestError

    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        raise InvalidRequestError(f"amount {text!r} is not a number of dollars, e.g. 10 or 2.5") from None
    if not value >= 0 or value == float("inf"):
        raise InvalidRequestError(f"amount {text!r} must be a non-negative number of dollars")
    return value


def _cmd_budget(args: argparse.Namespace) -> int:
    from .._config import set_config_value
    from ..money._ledger import budget_status

    if args.action in ("set", "unset"):
        if not args.name or (args.action == "set" and args.amount is None):
            usage = "NAME AMOUNT" if args.action == "set" else "NAME"
            print(f"usage: arthur-gen budget {args.action} {usage} (NAME: per_call, per_day, per_month)")
            return 2
        name = _budget_name(args.name)
        value = _amount(args.amount) if args.action == "set" else None
        path = set_config_value(f"budget.{name}", value)
        if args.action == "set":
            print(f"Set the {name.replace('_', '-')} budget to {_usd(value)} in {path}.")
        else:
            print(f"Removed the {name.replace('_', '-')} budget from {path}.")
        env = f"ARTHUR_GEN_BUDGET_{name.upper()}"
        import os

        if env in os.environ:
            print(
                f"Note: {env}={os.environ[env]!r} is set in the environment and wins over the file.",
                file=sys.stderr,
            )
        if not args.json:
            return 0
    status = budget_status()
    if args.json:
        _print_json(status.to_dict())
        return 0
    rows = []
    for name, label, used_spent, used_reserved in (
        ("per_call", "per call", None, None),
        ("per_day", "today", status.spent_today, status.reserved_today),
        ("per_month", "this month", status.spent_month, status.reserved_month),
    ):
        limit = status.limits.get(name)
        remaining = status.remaining(name)
        rows.append(
            [
                name,
                "none" if limit is None else _usd(limit),
                label,
                "" if used_spent is None else _usd(used_spent),
                "" if used_reserved is None else _usd(used_reserved),
                "" if remaining is None or name == "per_call" else _usd(remaining),
                status.sources[name],
            ]
        )
    print(_table(rows, ["budget", "limit", "period", "spent", "reserved", "left", "set in"]))
    if status.unpriced_in_flight:
        print(f"\n{status.unpriced_in_flight} job(s) of unknown price are in flight (not counted).")
    print(f"\nConfig file: {status.config_file}")
    print("Change: arthur-gen budget set per_day 10   Remove: arthur-gen budget unset per_day")
    return 0


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _cmd_cache(args: argparse.Namespace) -> int:
    from ..money._cache_admin import cache_info, prune_cache

    if args.action == "prune":
        result = prune_cache(older_than_days=args.older_than, max_bytes=args.max_bytes, all=args.all)
        if args.json:
            _print_json(result.to_dict())
        else:
            print(
                f"Removed {result.removed} cached output(s), freed {_human_bytes(result.freed_bytes)}; "
                f"{result.entries} left ({_human_bytes(result.bytes)})."
            )
        return 0
    info = cache_info()
    if args.json:
        _print_json(info.to_dict())
        return 0
    print(f"  entries: {info.entries}")
    print(f"     size: {_human_bytes(info.bytes)} ({info.bytes:,} bytes)")
    print(f"     hits: {info.hits}")
    print(f"    saved: {_usd(info.saved_usd)}")
    print(f"   folder: {info.path}")
    return 0


def _cache_line(plan: dict[str, Any]) -> str:
    """What the cache would do for a planned request: the truth, not a maybe."""
    if not plan["cacheable"]:
        return "no (no seed, so every run is new)"
    hit = plan.get("cached_by")
    return f"yes: job {hit} already made this, so it costs $0" if hit else "no (never made before)"


def _cmd_rerun(args: argparse.Namespace) -> int:
    from ..jobs._rerun import plan_rerun, rerun
    from ._main import _option_value, _Progress

    overrides: dict[str, Any] = {
        "seed": args.seed,
        "model": args.model,
        "backend": args.backend,
        "prompt": args.prompt,
    }
    if args.option:
        from ..jobs._rerun import request_from

        _, _, _, original = request_from(args.source)
        options = dict(original.options)
        for pair in args.option:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                from ..errors import InvalidRequestError

                raise InvalidRequestError(f"--option {pair!r} must look like NAME=VALUE")
            options[key.strip()] = _option_value(value)
        overrides["options"] = options
    if args.dry_run:
        plan = plan_rerun(args.source, **overrides).to_dict()
        if args.json:
            _print_json(plan)
            return 0
        estimate = plan["estimate"]
        print(f"backend:  {plan['backend']}\nmodel:    {plan['model']}")
        print(
            f"estimate: {estimate['detail']}"
            + (f" = ${estimate['usd']:.4f}" if estimate["usd"] is not None else " (price UNKNOWN)")
        )
        print(f"cached:   {_cache_line(plan)}")
        print("would send:")
        print(json.dumps(plan["would_send"] or plan["request"], indent=2, default=str))
        print("(dry run: nothing was sent, nothing was written)")
        return 0
    progress = _Progress(not args.json)
    try:
        result = rerun(
            args.source,
            out_dir=args.out,
            timeout=args.timeout,
            cache=not args.no_cache,
            allow_unknown_price=args.allow_unknown_price or None,
            on_progress=progress,
            **overrides,
        )
    finally:
        progress.done()
    if args.json:
        _print_json(result.to_dict())
    else:
        for path in result.paths:
            print(path)
        print(result.caption(), file=sys.stderr)
    return 0


def _cmd_settle(args: argparse.Namespace) -> int:
    from ..jobs._settle import settle
    from ._main import _Progress

    result = settle(args.job, adopt=args.adopt, resubmit=args.resubmit, on_progress=_Progress(not args.json))
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"{args.job}: saved {', '.join(str(p) for p in result.paths)}")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``costs``, ``budget``, ``cache``, ``rerun`` and ``settle`` to the ``arthur-gen`` parser.

    Imports nothing heavy: every command imports what it needs when it runs.
    """
    p = sub.add_parser(
        "costs",
        help="what generations cost: totals by day, month, backend and model",
        description="Spending from the ledger. Dates: 2026-11-25, 2026-11, 2026-11-25T14:30, "
        "or 7d (the last 7 days); --until includes the whole day or month given.",
    )
    p.add_argument(
        "--by",
        action="append",
        choices=_GROUPS,
        help="group by this (repeatable); default: day, month, backend and model",
    )
    p.add_argument("--since", help="from this date (e.g. 2026-11-01, 2026-11, 30d)")
    p.add_argument("--until", help="up to and including this date")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="totals and groups as JSON")
    out.add_argument("--csv", action="store_true", help="the groups as CSV")
    out.add_argument("--html", metavar="FILE", help="write a self-contained HTML dashboard to FILE")
    p.set_defaults(func=_cmd_costs)

    p = sub.add_parser(
        "budget",
        help="show or change the per-call, per-day and per-month budgets",
        description="Budgets are checked before every paid submit, atomically across processes. "
        "Environment variables ARTHUR_GEN_BUDGET_PER_CALL/_PER_DAY/_PER_MONTH win over the file.",
    )
    p.add_argument("action", nargs="?", choices=["show", "set", "unset"], default="show")
    p.add_argument("name", nargs="?", help="per_call, per_day or per_month")
    p.add_argument("amount", nargs="?", help="US dollars, e.g. 10 or 2.5")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_budget)

    p = sub.add_parser("cache", help="the result cache: size, savings, pruning")
    p.add_argument("action", nargs="?", choices=["info", "prune"], default="info")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="prune: entries unused this long")
    p.add_argument("--max-bytes", metavar="N", help="prune: shrink to at most N bytes (500M, 2G)")
    p.add_argument("--all", action="store_true", help="prune: everything")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser(
        "rerun",
        help="generate again from a job id, a sidecar JSON or a PNG's embedded metadata",
        description="Re-creates a generation with the same request (including its seed). With the "
        "same seed and model it is answered from the cache at $0 unless --no-cache.",
    )
    p.add_argument("source", help="job id (or prefix), sidecar .json, or an output file")
    p.add_argument("--seed", type=int)
    p.add_argument("--model", "-m")
    p.add_argument("--backend", "-b")
    p.add_argument("--prompt")
    p.add_argument("--option", "-o", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--out", help="output folder")
    p.add_argument("--timeout", type=float)
    p.add_argument("--no-cache", action="store_true", help="do not answer from the cache")
    p.add_argument("--allow-unknown-price", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="show the estimate and request; send nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_rerun)

    p = sub.add_parser(
        "settle",
        help="settle an uncertain job: adopt the prediction it made, or submit it again",
        description="A job whose create was lost and could not be matched to one prediction stays "
        "uncertain; its message names the candidates. Check them on the provider's dashboard, then "
        "--adopt the one this job made (it is polled and saved), or --resubmit if none was made.",
    )
    p.add_argument("job", help="the job id (or a unique prefix)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--adopt", metavar="PREDICTION", help="the provider's id of this job's prediction")
    how.add_argument("--resubmit", action="store_true", help="no prediction was made: submit it again")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_settle)
