"""Estimates before a run, budgets enforced atomically across processes, actual costs after."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from .._models import ModelInfo, PriceBasis
from .._requests import ImageRequest, VideoRequest
from ..errors import BudgetExceededError, UnknownPriceError

if TYPE_CHECKING:
    import sqlite3

    from .._routing import RouteOption

__all__ = ["Estimate", "check_budget", "estimate_request", "period_starts", "spent_since"]

Request = ImageRequest | VideoRequest


@attrs.frozen(kw_only=True)
class Estimate:
    """What a request is expected to cost. ``usd`` is None when the price is unknown.

    ``options``: when the backend was routed (``auto`` or a preference list), every backend
    considered, with its cost and whether it runs here (local and cloud side by side).
    """

    usd: float | None
    basis: PriceBasis
    detail: str
    options: tuple[RouteOption, ...] = attrs.field(default=(), eq=False)

    @property
    def known(self) -> bool:
        return self.usd is not None

    def describe(self) -> str:
        return f"${self.usd:.4f} ({self.detail})" if self.usd is not None else self.detail

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"usd": self.usd, "basis": self.basis.value, "detail": self.detail}
        if self.options:
            data["options"] = [o.to_dict() for o in self.options]
        return data


def _output_count(request: Request, model: ModelInfo) -> int:
    if model.outputs_option:
        value = request.options.get(model.outputs_option)
        if value is None:
            spec = model.option(model.outputs_option)
            value = spec.default if spec is not None else 1
        return int(value or 1)
    return 1


def estimate_request(request: Request, model: ModelInfo) -> Estimate:
    """The cost of ``request`` on ``model`` from the model's declared price basis."""
    price = model.price
    basis = price.basis
    if basis is PriceBasis.FREE:
        return Estimate(usd=0.0, basis=basis, detail="free: runs locally")
    if price.usd is None or basis is PriceBasis.UNKNOWN:
        return Estimate(usd=None, basis=PriceBasis.UNKNOWN, detail=f"unknown price for {model.id}")
    if basis is PriceBasis.PER_IMAGE:
        count = _output_count(request, model)
        return Estimate(usd=price.usd * count, basis=basis, detail=f"{count} image(s) x ${price.usd:g}")
    if basis is PriceBasis.PER_VIDEO:
        return Estimate(usd=price.usd, basis=basis, detail=f"1 video x ${price.usd:g}")
    if basis is PriceBasis.PER_OUTPUT_SECOND:
        seconds = getattr(request, "duration", None) or model.default_duration
        if seconds is None:
            return Estimate(usd=None, basis=basis, detail="unknown: no duration to price")
        return Estimate(
            usd=price.usd * seconds,
            basis=basis,
            detail=f"{seconds:g} s of output x ${price.usd:g}/s",
        )
    seconds = price.typical_compute_s
    if seconds is None:
        return Estimate(usd=None, basis=basis, detail="unknown: compute time not known ahead")
    return Estimate(
        usd=price.usd * seconds,
        basis=basis,
        detail=f"~{seconds:g} compute s x ${price.usd:g}/s (typical)",
    )


def period_starts(now: float | None = None) -> dict[str, float]:
    """Unix times where today and this month began (local time)."""
    now = time.time() if now is None else now
    t = time.localtime(now)
    day = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))
    month = time.mktime((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, -1))
    return {"per_day": day, "per_month": month}


# Spending counts actual cost when known; jobs still in flight count their estimate.
_SPENT_SQL = """
SELECT COALESCE(SUM(CASE
    WHEN cost_usd IS NOT NULL THEN cost_usd
    WHEN state IN ('planned','submitted','running','completed','uncertain')
        THEN COALESCE(estimate_usd, 0)
    ELSE 0 END), 0)
FROM jobs WHERE created_at >= ?
"""


def spent_since(db: sqlite3.Connection, since: float) -> float:
    return float(db.execute(_SPENT_SQL, (since,)).fetchone()[0])


def check_budget(
    db: sqlite3.Connection,
    estimate: Estimate,
    limits: Mapping[str, float | None],
    *,
    allow_unknown_price: bool,
    model_id: str,
) -> None:
    """Refuse a paid request that would exceed a limit. Call inside a write transaction."""
    if estimate.usd is None:
        if not allow_unknown_price:
            raise UnknownPriceError(
                f"the price of {model_id} is unknown, so arthur-gen cannot check it against "
                "your budget; pass allow_unknown_price=True (CLI: --allow-unknown-price) to "
                "run it anyway"
            )
        return
    if estimate.usd == 0:
        return
    per_call = limits.get("per_call")
    if per_call is not None and estimate.usd > per_call + 1e-12:
        raise BudgetExceededError(
            f"estimated ${estimate.usd:.4f} for {model_id} exceeds the per-call budget of "
            f"${per_call:.2f}; raise it with `arthur-gen budget set per_call AMOUNT`",
            limit="per_call",
            limit_usd=per_call,
            spent_usd=0.0,
            estimate_usd=estimate.usd,
        )
    starts = period_starts()
    for name, label in (("per_day", "today"), ("per_month", "this month")):
        limit = limits.get(name)
        if limit is None:
            continue
        spent = spent_since(db, starts[name])
        if spent + estimate.usd > limit + 1e-9:
            raise BudgetExceededError(
                f"{model_id} would cost ~${estimate.usd:.4f}, but ${spent:.4f} of the "
                f"{name.replace('_', '-')} budget of ${limit:.2f} is already spent or reserved "
                f"{label}; raise it with `arthur-gen budget set {name} AMOUNT` or wait",
                limit=name,
                limit_usd=limit,
                spent_usd=spent,
                estimate_usd=estimate.usd,
            )
