"""The ledger: what generations cost, grouped by day, month, backend, model or kind.

Every job records its cost once: from the provider's metrics when the backend reports it,
else from the estimate (``cost_source='estimate'``); local runs record $0 (``'free'``) and
answers from the result cache record $0 plus what they saved (``'cache'``). A job whose cost
is not known is counted as *unknown*, never as $0. Jobs still in flight are *reserved* at
their estimate, exactly as the budget check counts them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._config import _BUDGETS, _read_file, config_path, load_settings
from ..errors import InvalidRequestError
from ..jobs._store import ACTIVE_STATES, get_store
from ._budget import period_starts

__all__ = [
    "GROUPS",
    "BudgetStatus",
    "budget_status",
    "cost_report",
    "costs",
    "dashboard_data",
    "parse_when",
]

GROUPS = ("day", "month", "backend", "model", "kind")
When = float | int | str | dt.date | dt.datetime | None

_ACTIVE = "(" + ",".join(f"'{s}'" for s in ACTIVE_STATES) + ")"
_FINAL = "('saved', 'failed', 'canceled')"

# The sums every report is made of. Jobs in flight are the rest (neither saved nor failed).
# Cheap expressions only, and CASE tests ordered so that the usual row leaves at once.
_AGG = f"""COUNT(*),
    TOTAL(state = 'saved'),
    TOTAL(cost_source = 'cache'),
    TOTAL(state IN ('failed', 'canceled')),
    TOTAL(cost_usd),
    TOTAL(CASE WHEN cost_source = 'estimate' THEN cost_usd END),
    TOTAL(CASE WHEN cost_usd IS NULL AND state NOT IN {_FINAL} THEN estimate_usd END),
    TOTAL(saved_usd),
    TOTAL(CASE WHEN cost_usd IS NULL AND state IN {_FINAL}
        AND (state = 'saved' OR submit_count > 0)
        AND (estimate_usd IS NULL OR estimate_usd > 0) THEN 1 END),
    MIN(created_at),
    MAX(created_at)"""

# Per local day: one range search per day on the covering index jobs_ledger_time (days are
# computed in Python, so no per-row date arithmetic and no sort).
_DAYS_SQL = f"""
SELECT json_extract(d.value, '$[0]'),
    (SELECT json_array({_AGG}) FROM jobs
     WHERE created_at >= json_extract(d.value, '$[1]') AND created_at < json_extract(d.value, '$[2]'))
FROM json_each(?) AS d
"""

# Per backend, model and kind: one scan of the covering index jobs_ledger_model, already in
# group order ("+created_at" keeps the planner off the plain time index, which needs a sort).
_COMBOS_SQL = f"""
SELECT backend, model, kind, {_AGG}
FROM jobs WHERE +created_at >= ? AND +created_at < ?
GROUP BY backend, model, kind
"""

_SPAN_SQL = "SELECT MIN(created_at), MAX(created_at) FROM jobs WHERE created_at >= ? AND created_at < ?"

_COUNTS = ("jobs", "generations", "cache_hits", "failed", "in_flight")
_MONEY = ("cost_usd", "estimated_usd", "reserved_usd", "cache_saved_usd")
_FIELDS = (*_COUNTS, *_MONEY, "unknown_cost")


@attrs.define
class _Sums:
    jobs: int = 0
    generations: int = 0
    cache_hits: int = 0
    failed: int = 0
    in_flight: int = 0
    cost_usd: float = 0.0
    estimated_usd: float = 0.0
    reserved_usd: float = 0.0
    cache_saved_usd: float = 0.0
    unknown_cost: int = 0
    first: float | None = None
    last: float | None = None

    def add(self, other: _Sums) -> None:
        for name in _FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.first is not None:
            self.first = other.first if self.first is None else min(self.first, other.first)
        if other.last is not None:
            self.last = other.last if self.last is None else max(self.last, other.last)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _COUNTS}
        for name in _MONEY:
            data[name] = round(getattr(self, name), 6)
        data["unknown_cost"] = self.unknown_cost
        return data


def _parse_text(text: str, *, end: bool) -> float:
    text = text.strip()
    relative = re.fullmatch(r"(\d+)\s*d", text)
    if relative:
        days = int(relative.group(1))
        today = dt.date.today()
        start = today - dt.timedelta(days=max(days - 1, 0))
        day = today + dt.timedelta(days=1) if end else start
        return time.mktime(day.timetuple())
    if text in ("today", "now"):
        if text == "now":
            return time.time()
        return _parse_text("1d", end=end)
    month = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if month:
        year, mon = int(month.group(1)), int(month.group(2))
        if not 1 <= mon <= 12:
            raise InvalidRequestError(f"date {text!r} has no month {mon}")
        if end:
            year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
        return time.mktime(dt.date(year, mon, 1).timetuple())
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            return time.mktime(day.timetuple())
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError(
            f"date {text!r} must look like 2026-11-25, 2026-11, 2026-11-25T14:30 or 7d (the last 7 days)"
        ) from None
    return moment.timestamp()


def parse_when(value: When, *, end: bool = False) -> float | None:
    """A Unix time from a number, a date, a datetime or text (``2026-11-25``, ``2026-11``, ``7d``).

    With ``end=True`` a whole day or month means *up to and including* it (the bound returned
    is the start of the next one), so ``until="2026-11-30"`` covers November 30th.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequestError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return time.mktime(day.timetuple())
    if isinstance(value, str):
        return _parse_text(value, end=end)
    raise InvalidRequestError(f"{value!r} is not a date; give 2026-11-25, a datetime or a Unix time")


def _bounds(since: When, until: When) -> tuple[float, float]:
    lo = parse_when(since)
    hi = parse_when(until, end=True)
    return (lo if lo is not None else float("-inf"), hi if hi is not None else float("inf"))


def _sums(values: Sequence[Any]) -> _Sums:
    jobs, saved, cached, failed = (int(v or 0) for v in values[:4])
    return _Sums(
        jobs=jobs,
        generations=saved,
        cache_hits=cached,
        failed=failed,
        in_flight=jobs - saved - failed,
        cost_usd=float(values[4] or 0),
        estimated_usd=float(values[5] or 0),
        reserved_usd=float(values[6] or 0),
        cache_saved_usd=float(values[7] or 0),
        unknown_cost=int(values[8] or 0),
        first=values[9],
        last=values[10],
    )


def _finite(lo: float, hi: float) -> tuple[float, float]:
    # SQLite takes no infinities as parameters on every build; use wide finite bounds.
    return max(lo, -1e18), min(hi, 1e18)


def _day_rows(lo: float, hi: float) -> list[tuple[str, _Sums]]:
    store = get_store()
    first, last = store.rows(_SPAN_SQL, _finite(lo, hi))[0]
    if first is None:
        return []
    days = []
    day, end = dt.date.fromtimestamp(first), dt.date.fromtimestamp(last)
    while day <= end:
        following = day + dt.timedelta(days=1)
        start, stop = time.mktime(day.timetuple()), time.mktime(following.timetuple())
        days.append([day.isoformat(), max(start, lo), min(stop, hi)])
        day = following
    out = []
    for name, packed in store.rows(_DAYS_SQL, (json.dumps(days),)):
        sums = _sums(json.loads(packed))
        if sums.jobs:
            out.append((str(name), sums))
    return out


def _combo_rows(lo: float, hi: float) -> list[tuple[tuple[str, str, str], _Sums]]:
    return [
        ((str(v[0]), str(v[1]), str(v[2])), _sums(v[3:]))
        for v in get_store().rows(_COMBOS_SQL, _finite(lo, hi))
    ]


@attrs.frozen
class _Base:
    """The two groupings every report is summed from (days; backend, model and kind)."""

    days: list[tuple[str, _Sums]]
    combos: list[tuple[tuple[str, str, str], _Sums]]

    def keyed(self, group_by: str) -> Iterable[tuple[tuple[str, ...], _Sums]]:
        if group_by == "day":
            return (((d,), s) for d, s in self.days)
        if group_by == "month":
            return (((d[:7],), s) for d, s in self.days)
        pick = _COMBO_KEYS[group_by]
        return ((pick(c), s) for c, s in self.combos)


def _base_rows(since: When, until: When) -> _Base:
    lo, hi = _bounds(since, until)
    return _Base(days=_day_rows(lo, hi), combos=_combo_rows(lo, hi))


_COMBO_KEYS: dict[str, Callable[[tuple[str, str, str]], tuple[str, ...]]] = {
    "backend": lambda c: (c[0],),
    "model": lambda c: (c[0], c[1]),
    "kind": lambda c: (c[2],),
    "backend_kind": lambda c: (c[0], c[2]),
}
_KEY_NAMES = {
    "day": ("day",),
    "month": ("month",),
    "backend": ("backend",),
    "model": ("backend", "model"),
    "kind": ("kind",),
    "backend_kind": ("backend", "kind"),
}


def _group(base: _Base, group_by: str) -> list[dict[str, Any]]:
    if group_by not in _KEY_NAMES:
        raise InvalidRequestError(
            f"group_by={group_by!r} is not valid: one of {', '.join(GROUPS)}", field="group_by"
        )
    groups: dict[tuple[str, ...], _Sums] = {}
    for key, sums in base.keyed(group_by):
        if key not in groups:
            groups[key] = _Sums()
        groups[key].add(sums)
    names = _KEY_NAMES[group_by]
    out = []
    for key, sums in groups.items():
        item: dict[str, Any] = dict(zip(names, key, strict=True))
        item.update(sums.to_dict())
        out.append(item)
    if group_by in ("day", "month"):
        out.sort(key=lambda r: str(r[group_by]))
    else:
        out.sort(key=lambda r: (-r["cost_usd"], -r["jobs"], tuple(str(r[n]) for n in names)))
    return out


def _totals(base: _Base) -> dict[str, Any]:
    total = _Sums()
    for _, sums in base.days:
        total.add(sums)
    data = total.to_dict()
    data["first_job_at"] = total.first
    data["last_job_at"] = total.last
    return data


def costs(group_by: str = "day", *, since: When = None, until: When = None) -> list[dict[str, Any]]:
    """Spending grouped by ``"day"``, ``"month"``, ``"backend"``, ``"model"`` or ``"kind"``.

    Each row has the group's key (``day``; ``month``; ``backend``; ``backend`` and ``model``;
    ``kind``) and: ``jobs``, ``generations`` (saved), ``cache_hits``, ``failed``, ``in_flight``,
    ``cost_usd`` (recorded actual cost), ``estimated_usd`` (the part of it taken from
    estimates because the provider reported none), ``reserved_usd`` (estimates of jobs in
    flight), ``cache_saved_usd`` and ``unknown_cost`` (jobs whose cost is not known and is not
    in ``cost_usd``). ``since``/``until`` take a date, a datetime, a Unix time or text such as
    ``"2026-11-25"``, ``"2026-11"`` or ``"7d"``; a whole day or month in ``until`` is included.
    """
    return _group(_base_rows(since, until), group_by)


def cost_report(
    *, since: When = None, until: When = None, group_by: Sequence[str] = ("day", "month", "backend", "model")
) -> dict[str, Any]:
    """Totals and several groupings from one pass: ``{"totals": ..., "by_day": [...], ...}``."""
    base = _base_rows(since, until)
    lo, hi = _bounds(since, until)
    report: dict[str, Any] = {
        "since": None if lo == float("-inf") else lo,
        "until": None if hi == float("inf") else hi,
        "totals": _totals(base),
    }
    for name in group_by:
        report[f"by_{name}"] = _group(base, name)
    return report


def _fill_days(rows: list[dict[str, Any]], first: str | None, last: str | None) -> list[dict[str, Any]]:
    if not first or not last:
        return rows
    by_day = {r["day"]: r for r in rows}
    day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    filled = []
    while day <= end:
        key = day.isoformat()
        filled.append(by_day.get(key) or {"day": key, **_Sums().to_dict()})
        day += dt.timedelta(days=1)
    return filled


def dashboard_data(*, since: When = None, until: When = None) -> dict[str, Any]:
    """Everything the HTML dashboard draws: totals, every day in range, models, backends, budget."""
    base = _base_rows(since, until)
    lo, hi = _bounds(since, until)
    by_day = _group(base, "day")
    first = by_day[0]["day"] if by_day else None
    last = by_day[-1]["day"] if by_day else None
    if lo != float("-inf"):
        first = dt.date.fromtimestamp(lo).isoformat()
    if hi != float("inf"):
        last = min(dt.date.fromtimestamp(hi - 1), dt.date.today()).isoformat()
        if first and last < first:
            last = first
    elif by_day:
        last = max(str(last), dt.date.today().isoformat())
    return {
        "since": None if lo == float("-inf") else lo,
        "until": None if hi == float("inf") else hi,
        "generated_at": time.time(),
        "totals": _totals(base),
        "by_day": _fill_days(by_day, first, last),
        "by_month": _group(base, "month"),
        "by_model": _group(base, "model"),
        "by_backend": _group(base, "backend"),
        "by_backend_kind": _group(base, "backend_kind"),
        "budget": budget_status().to_dict(),
    }


# -- budgets ------------------------------------------------------------------------------

_SPENT_RESERVED_SQL = f"""
SELECT COALESCE(SUM(cost_usd), 0),
    COALESCE(SUM(CASE WHEN cost_usd IS NULL AND state IN {_ACTIVE}
        THEN COALESCE(estimate_usd, 0) ELSE 0 END), 0),
    COALESCE(SUM(cost_usd IS NULL AND state IN {_ACTIVE} AND estimate_usd IS NULL), 0)
FROM jobs WHERE created_at >= ?
"""


@attrs.frozen(kw_only=True)
class BudgetStatus:
    """Budget limits and what was spent and reserved today and this month.

    ``spent_*`` is recorded cost; ``reserved_*`` the estimates of jobs still in flight. The
    budget check counts both, so ``remaining`` is the limit less the two.
    ``sources`` says where each limit comes from: ``"env"``, ``"config"`` or ``"unset"``.
    """

    limits: Mapping[str, float | None]
    sources: Mapping[str, str]
    spent_today: float
    reserved_today: float
    spent_month: float
    reserved_month: float
    unpriced_in_flight: int
    day_start: float
    month_start: float
    config_file: str

    def used(self, limit: str) -> float:
        """What counts against ``limit`` now (per_call: nothing is ever carried over)."""
        if limit == "per_day":
            return self.spent_today + self.reserved_today
        if limit == "per_month":
            return self.spent_month + self.reserved_month
        return 0.0

    def remaining(self, limit: str) -> float | None:
        """Dollars left under ``limit`` (``None`` when it is not set)."""
        value = self.limits.get(limit)
        if value is None:
            return None
        return max(0.0, value - self.used(limit))

    def to_dict(self) -> dict[str, Any]:
        return {
            "limits": dict(self.limits),
            "sources": dict(self.sources),
            "spent_today": round(self.spent_today, 6),
            "reserved_today": round(self.reserved_today, 6),
            "spent_month": round(self.spent_month, 6),
            "reserved_month": round(self.reserved_month, 6),
            "remaining": {name: _round(self.remaining(name)) for name in _BUDGETS},
            "unpriced_in_flight": self.unpriced_in_flight,
            "day_start": self.day_start,
            "month_start": self.month_start,
            "config_file": self.config_file,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def budget_status(now: float | None = None) -> BudgetStatus:
    """The budget limits in force and what was spent and reserved today and this month."""
    settings = load_settings()
    path = config_path()
    raw = _read_file(path).get("budget", {})
    sources = {}
    for name in _BUDGETS:
        if f"ARTHUR_GEN_BUDGET_{name.upper()}" in os.environ:
            sources[name] = "env"
        elif isinstance(raw, dict) and raw.get(name) not in (None, ""):
            sources[name] = "config"
        else:
            sources[name] = "unset"
    starts = period_starts(now)
    store = get_store()
    day = store.rows(_SPENT_RESERVED_SQL, (starts["per_day"],))[0]
    month = store.rows(_SPENT_RESERVED_SQL, (starts["per_month"],))[0]
    return BudgetStatus(
        limits=dict(settings.budget),
        sources=sources,
        spent_today=float(day[0]),
        reserved_today=float(day[1]),
        spent_month=float(month[0]),
        reserved_month=float(month[1]),
        unpriced_in_flight=int(month[2]),
        day_start=starts["per_day"],
        month_start=starts["per_month"],
        config_file=str(path),
    )
