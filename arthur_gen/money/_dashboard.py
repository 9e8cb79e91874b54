"""A self-contained HTML cost dashboard: inline CSS and hand-drawn SVG, no scripts or assets.

``arthur-gen costs --html FILE`` writes it; :func:`write_dashboard` does the same from Python.
Every number on the page comes from :func:`arthur_gen.money._ledger.dashboard_data`.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..jobs._atomic import atomic_write_bytes

__all__ = ["render_dashboard", "write_dashboard"]

SPENT = "#2563eb"
SAVED = "#34d399"
KIND_COLORS = {"image": "#0ea5e9", "video": "#8b5cf6"}
MUTED = "#64748b"
GRID = "#e2e8f0"
WARN = "#b45309"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def money(value: float | None, *, precise: bool = False) -> str:
    """Dollars for people: $1,234, $56.78, $0.50, $0.004."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    if abs(value) >= 1000 and not precise:
        return f"${value:,.0f}"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.4f}".rstrip("0")


def _count(value: int) -> str:
    return f"{value:,}"


def _nice_step(maximum: float, ticks: int = 4) -> float:
    if maximum <= 0:
        return 1.0
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover


def _axis_label(value: float) -> str:
    if value >= 1000:
        return f"${value / 1000:g}k"
    if value >= 1 or value == 0:
        return f"${value:g}"
    return f"${value:.2f}".rstrip("0").rstrip(".")


def _day_chart(days: Sequence[Mapping[str, Any]], width: int = 1108, height: int = 250) -> str:
    if not days:
        return _empty_svg(width, 120, "No generations in this period")
    left, right, top, bottom = 56, 12, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    tops = [d["cost_usd"] + d["cache_saved_usd"] for d in days]
    peak = max(tops) if tops else 0.0
    step = _nice_step(peak)
    ymax = step * max(1, math.ceil(peak / step - 1e-9))
    slot = plot_w / len(days)
    bar_w = max(1.0, slot * 0.78)
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Spend per day" xmlns="http://www.w3.org/2000/svg">'
    ]
    value = 0.0
    while value <= ymax + 1e-9:
        y = top + plot_h - plot_h * value / ymax
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_e(_axis_label(value))}</text>"
        )
        value += step
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar_w) / 2
        spent_h = plot_h * d["cost_usd"] / ymax
        saved_h = plot_h * d["cache_saved_usd"] / ymax
        base = top + plot_h
        tip = f"{d['day']}: {money(d['cost_usd'])} spent, {d['jobs']} jobs"
        if d["cache_saved_usd"]:
            tip += f", {money(d['cache_saved_usd'])} saved by the cache"
        if d["unknown_cost"]:
            tip += f", {d['unknown_cost']} of unknown cost"
        parts.append("<g>" + f"<title>{_e(tip)}</title>")
        if spent_h > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - spent_h:.1f}" width="{bar_w:.1f}" '
                f'height="{spent_h:.1f}" fill="{SPENT}" rx="1"/>'
            )
        if saved_h > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - spent_h - saved_h:.1f}" width="{bar_w:.1f}" '
                f'height="{saved_h:.1f}" fill="{SAVED}" rx="1"/>'
            )
        if d["unknown_cost"]:
            parts.append(
                f'<circle cx="{x + bar_w / 2:.1f}" cy="{base - spent_h - saved_h - 5:.1f}" r="2.5" '
                f'fill="{WARN}"/>'
            )
        parts.append("</g>")
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#94a3b8"/>'
    )
    for i, label in _day_labels(days):
        x = left + i * slot + slot / 2
        base = top + plot_h
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="#94a3b8"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="tick">{_e(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _date(day: dt.date, *, year: bool = False) -> str:
    text = f"{day:%b} {day.day}"
    return f"{day.day} {day:%b %Y}" if year else text


def _day_labels(days: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    dates = [dt.date.fromisoformat(d["day"]) for d in days]
    if len(dates) > 45:
        picks = [(i, _date(d)) for i, d in enumerate(dates) if d.day == 1]
        if len(picks) > 14:  # very long ranges: every other month
            picks = picks[::2]
        if not picks or picks[0][0] > len(dates) / 8:
            picks.insert(0, (0, _date(dates[0])))
        return picks
    every = 1 if len(dates) <= 14 else 7
    return [(i, _date(d)) for i, d in enumerate(dates) if i % every == 0]


def _empty_svg(width: int, height: int, text: str) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">{_e(text)}</text></svg>'
    )


def _hbars(
    items: Sequence[tuple[str, str, float, str, str]],
    *,
    width: int = 540,
    empty: str,
    label_w: int = 236,
    value_w: int = 104,
) -> str:
    """Horizontal bars: (label, sublabel, value, value text, colour)."""
    if not items:
        return _empty_svg(width, 90, empty)
    row_h = 38
    chars = label_w // 7
    height = row_h * len(items) + 6
    bar_space = width - label_w - value_w
    peak = max(v for _, _, v, _, _ in items) or 1.0
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, sub, value, text, colour) in enumerate(items):
        y = 4 + i * row_h
        bar = max(2.0, (bar_space - 12) * value / peak) if value > 0 else 0.0
        short = label if len(label) <= chars else label[: chars - 1] + "…"
        parts.append(f"<g><title>{_e(label)} {_e(sub)}: {_e(text)}</title>")
        parts.append(f'<text x="0" y="{y + 15}" class="label">{_e(short)}</text>')
        parts.append(f'<text x="0" y="{y + 30}" class="sub">{_e(sub)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 6}" width="{bar_space - 12}" height="20" fill="#f1f5f9" rx="3"/>'
        )
        if bar:
            parts.append(
                f'<rect x="{label_w}" y="{y + 6}" width="{bar:.1f}" height="20" fill="{colour}" rx="3"/>'
            )
        parts.append(f'<text x="{width}" y="{y + 21}" text-anchor="end" class="value">{_e(text)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _wide_and_narrow(wide: str, narrow: str) -> str:
    """Two drawings of one chart: the narrow one, with larger type, is shown on phones."""
    return f'<div class="wide">{wide}</div><div class="narrow">{narrow}</div>'


def _budget_meter(label: str, used: float, limit: float | None, source: str) -> str:
    if limit is None:
        return (
            f'<div class="meter"><div class="meter-head"><span>{_e(label)}</span>'
            f'<span class="muted">{_e(money(used))} · no limit</span></div></div>'
        )
    share = 0.0 if limit <= 0 else min(1.0, used / limit)
    colour = SPENT if share < 0.8 else (WARN if share < 1 else "#dc2626")
    return (
        f'<div class="meter"><div class="meter-head"><span>{_e(label)}</span>'
        f"<span><b>{_e(money(used))}</b> of {_e(money(limit))}"
        f' <span class="muted">({_e(source)})</span></span></div>'
        f'<svg viewBox="0 0 300 10" width="100%" height="10" preserveAspectRatio="none" '
        f'xmlns="http://www.w3.org/2000/svg"><rect width="300" height="10" rx="5" fill="#e2e8f0"/>'
        f'<rect width="{300 * share:.1f}" height="10" rx="5" fill="{colour}"/></svg></div>'
    )


def _of_budget(limit: float | None) -> str:
    return "no budget set" if limit is None else f"of the {_e(money(limit))} budget"


def _card(title: str, value: str, note: str = "", accent: str = SPENT) -> str:
    return (
        f'<div class="card" style="border-top-color:{accent}"><div class="card-title">{_e(title)}</div>'
        f'<div class="card-value">{_e(value)}</div><div class="card-note">{note}</div></div>'
    )


def _range_text(data: Mapping[str, Any]) -> str:
    days = data["by_day"]
    if not days:
        return "no generations yet"
    first = dt.date.fromisoformat(days[0]["day"])
    last = dt.date.fromisoformat(days[-1]["day"])
    return f"{_date(first, year=True)} to {_date(last, year=True)} ({len(days)} days)"


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#0f172a;
font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
"DejaVu Sans",sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:22px;margin:0}
h2{font-size:15px;margin:0 0 10px;font-weight:600}
header{display:flex;flex-wrap:wrap;gap:2px 16px;justify-content:space-between;align-items:baseline;
margin-bottom:18px}
.muted,.sub,.tick{color:#64748b;fill:#64748b}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,170px),1fr));gap:14px;
margin-bottom:16px}
.card{background:#fff;border:1px solid #e2e8f0;border-top:4px solid;border-radius:10px;padding:12px 14px;
min-width:0}
.card-title{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#64748b}
.card-value{font-size:26px;font-weight:700;margin:2px 0}
.card-note{font-size:12.5px;color:#475569;min-height:18px}
.panel{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:14px 16px;margin-bottom:16px;
min-width:0}
.grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px}
.grid2 .panel{margin-bottom:0}
.row{margin-bottom:16px}
.legend{display:flex;flex-wrap:wrap;gap:2px 16px;font-size:12.5px;color:#475569;margin:-4px 0 6px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
svg text{font-family:inherit}
.tick{font-size:11px}.label{font-size:13px;fill:#0f172a}.sub{font-size:11px}
.value{font-size:13px;font-weight:600;fill:#0f172a}.empty{font-size:14px;fill:#94a3b8}
table{width:100%;border-collapse:collapse;font-size:13px}
th,td{padding:5px 8px;text-align:right;border-bottom:1px solid #f1f5f9}
th:first-child,td:first-child{text-align:left}
th{color:#64748b;font-weight:600;font-size:12px}
.meter{margin:8px 0 12px}.meter-head{display:flex;flex-wrap:wrap;gap:0 8px;justify-content:space-between;
margin-bottom:4px}
.scroll{overflow-x:auto}
.warn{color:#b45309}
footer{color:#94a3b8;font-size:12px;margin-top:8px}
code{overflow-wrap:anywhere}
.narrow{display:none}
@media (max-width:760px){main{padding:14px 12px 28px}.grid2{grid-template-columns:minmax(0,1fr)}
.grid2 .panel{margin-bottom:0}.card-value{font-size:22px}th,td{padding:5px 5px}
.wide{display:none}.narrow{display:block}}
"""


def render_dashboard(data: Mapping[str, Any]) -> str:
    """The dashboard page for :func:`arthur_gen.money._ledger.dashboard_data` output."""
    totals = data["totals"]
    budget = data["budget"]
    limits = budget["limits"]
    by_kind: dict[str, int] = {}
    for row in data["by_backend_kind"]:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["generations"]
    kinds = " · ".join(f"{_count(n)} {k}s" for k, n in sorted(by_kind.items())) or "none yet"

    spent_note = []
    if totals["estimated_usd"]:
        spent_note.append(f"{_e(money(totals['estimated_usd']))} of it from estimates")
    if totals["unknown_cost"]:
        spent_note.append(
            f'<span class="warn">+ {_count(totals["unknown_cost"])} job(s) of unknown cost</span>'
        )
    if totals["reserved_usd"]:
        spent_note.append(f"{_e(money(totals['reserved_usd']))} reserved in flight")
    month_used = budget["spent_month"] + budget["reserved_month"]
    today_used = budget["spent_today"] + budget["reserved_today"]
    hit_rate = totals["cache_hits"] / totals["generations"] if totals["generations"] else 0.0
    cards = [
        _card("Spent in period", money(totals["cost_usd"]), " · ".join(spent_note) or "&nbsp;"),
        _card(
            "This month",
            money(month_used),
            _of_budget(limits.get("per_month")),
        ),
        _card(
            "Today",
            money(today_used),
            _of_budget(limits.get("per_day")),
        ),
        _card("Generations", _count(totals["generations"]), _e(kinds), accent=KIND_COLORS["video"]),
        _card(
            "Saved by the cache",
            money(totals["cache_saved_usd"]),
            f"{_count(totals['cache_hits'])} cache hits ({hit_rate:.0%})",
            accent=SAVED,
        ),
    ]

    models = [
        (
            str(r["model"]),
            f"{r['backend']} · {_count(r['generations'])} generated"
            + (f" · {r['unknown_cost']} unknown" if r["unknown_cost"] else ""),
            float(r["cost_usd"]),
            money(r["cost_usd"]) + (" + ?" if r["unknown_cost"] else ""),
            SPENT,
        )
        for r in data["by_model"][:10]
    ]
    counts = sorted(data["by_backend_kind"], key=lambda r: (-r["generations"], r["backend"], r["kind"]))
    backends = [
        (
            f"{r['backend']}",
            f"{r['kind']}s · {money(r['cost_usd'])}",
            float(r["generations"]),
            _count(r["generations"]) + (f" ({_count(r['cache_hits'])} cached)" if r["cache_hits"] else ""),
            KIND_COLORS.get(str(r["kind"]), MUTED),
        )
        for r in counts[:10]
    ]
    month_rows = (
        "".join(
            f"<tr><td>{_e(r['month'])}</td><td>{_count(r['jobs'])}</td><td>{_count(r['generations'])}</td>"
            f"<td>{_e(money(r['cost_usd'], precise=True))}</td><td>{_e(money(r['cache_saved_usd']))}</td>"
            f"<td>{_count(r['unknown_cost']) if r['unknown_cost'] else ''}</td></tr>"
            for r in reversed(data["by_month"][-12:])
        )
        or '<tr><td colspan="6" class="muted">No generations yet</td></tr>'
    )
    meters = (
        _budget_meter("Today", today_used, limits.get("per_day"), budget["sources"]["per_day"])
        + _budget_meter("This month", month_used, limits.get("per_month"), budget["sources"]["per_month"])
        + (
            f'<div class="muted">Per call: at most {_e(money(limits["per_call"]))}</div>'
            if limits.get("per_call") is not None
            else '<div class="muted">Per call: no limit</div>'
        )
    )
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime(data.get("generated_at") or time.time()))
    unknown_line = ""
    if totals["unknown_cost"]:
        unknown_line = (
            f'<p class="warn">{_count(totals["unknown_cost"])} job(s) have an unknown cost and are not '
            "counted in the totals: the provider reported no cost and arthur-gen could not price it "
            "(a model outside the catalog, or a job not yet settled: <code>arthur-gen history "
            "--state uncertain</code>).</p>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arthur-gen costs</title><style>{_CSS}</style></head>
<body><main>
<header><div><h1>arthur-gen · costs</h1><div class="muted">{_e(_range_text(data))}</div></div>
<div class="muted">generated {_e(generated)}</div></header>
<section class="cards">{"".join(cards)}</section>
<section class="panel"><h2>Spend per day</h2>
<div class="legend"><span><i class="sw" style="background:{SPENT}"></i>spent</span>
<span><i class="sw" style="background:{SAVED}"></i>saved by the cache (would have cost)</span>
<span><i class="sw" style="background:{WARN};border-radius:50%"></i>some costs unknown</span></div>
{_wide_and_narrow(_day_chart(data["by_day"]), _day_chart(data["by_day"], width=380, height=220))}
{unknown_line}</section>
<div class="grid2 row">
<section class="panel"><h2>Spend per model</h2>{
        _wide_and_narrow(
            _hbars(models, empty="No spending yet"),
            _hbars(models, empty="No spending yet", width=360, label_w=176, value_w=92),
        )
    }</section>
<section class="panel"><h2>Generations per backend</h2>
<div class="legend"><span><i class="sw" style="background:{KIND_COLORS["image"]}"></i>images</span>
<span><i class="sw" style="background:{KIND_COLORS["video"]}"></i>videos</span></div>
{
        _wide_and_narrow(
            _hbars(backends, empty="No generations yet"),
            _hbars(backends, empty="No generations yet", width=360, label_w=150, value_w=118),
        )
    }</section>
</div>
<div class="grid2 row">
<section class="panel"><h2>By month</h2><div class="scroll"><table><thead><tr><th>month</th><th>jobs</th>
<th>generated</th><th>spent</th><th>saved by cache</th><th>unknown</th></tr></thead>
<tbody>{month_rows}</tbody></table></div></section>
<section class="panel"><h2>Budget</h2>{meters}
<p class="muted">Change with <code>arthur-gen budget set per_day 10</code>.</p></section>
</div>
<footer>Costs are the providers' reported amounts where available, else the estimate.
Local runs are free. Made by <code>arthur-gen costs --html</code>.</footer>
</main></body></html>
"""


def write_dashboard(path: str | Path, *, since: Any = None, until: Any = None) -> Path:
    """Write the cost dashboard (one self-contained HTML file) to ``path``; returns the path."""
    from ._ledger import dashboard_data

    target = Path(path).expanduser()
    page = render_dashboard(dashboard_data(since=since, until=until))
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, page.encode("utf-8"))
    return target
