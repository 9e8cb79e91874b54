"""The ledger: costs recorded once per job, reports by day/month/backend/model, unknown prices."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import arthur_gen
from arthur_gen.cli import _main as _cli
from arthur_gen.money._ledger import parse_when
from arthur_gen.testing import (
    FakeImageBackend,
    FakePlugin,
    FakeProvider,
    FakeVideoBackend,
    record_job,
    registered,
)


@pytest.fixture
def fakes(home: Path, tmp_path: Path) -> Iterator[SimpleNamespace]:
    provider = FakeProvider(tmp_path / "provider", latency_s=0.0)
    ns = SimpleNamespace(
        provider=provider,
        image=FakeImageBackend(),
        video=FakeVideoBackend(provider),
        nocost=FakeVideoBackend(provider, backend_id="nocost-video", report_cost=False),
        unpriced=FakeVideoBackend(provider, backend_id="unpriced-video", price_usd=None),
    )
    with registered(FakePlugin(ns.image, ns.video, ns.nocost, ns.unpriced)):
        yield ns


def _cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = _cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _at(day: str, hour: int = 12) -> float:
    return time.mktime(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00").timetuple())


def _sample_ledger() -> None:
    record_job(created_at=_at("2026-10-30"))
    record_job(created_at=_at("2026-10-30", 20), cost_usd=0.47)
    record_job(created_at=_at("2026-11-02"), cost_usd=0.5, cost_source="estimate")
    record_job(created_at=_at("2026-11-02"), kind="image", backend="mflux", model="schnell", cost_usd=0.0,
         cost_source="free", estimate_usd=0.0, submit_count=0)  # fmt: skip
    record_job(created_at=_at("2026-11-03"), cost_usd=0.0, cost_source="cache", saved_usd=0.5)
    record_job(
        created_at=_at("2026-11-03"), model="kling", cost_usd=None, cost_source=None, estimate_usd=None
    )
    record_job(
        created_at=_at("2026-11-03"), state="failed", cost_usd=None, cost_source=None
    )  # billed? unknown
    record_job(created_at=_at("2026-11-03"), state="failed", cost_usd=None, submit_count=0)  # never sent
    record_job(created_at=_at("2026-11-04"), state="running", cost_usd=None, cost_source=None)


def test_costs_by_day_month_backend_model(home: Path) -> None:
    _sample_ledger()
    days = arthur_gen.costs("day")
    assert [d["day"] for d in days] == ["2026-10-30", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert days[0]["cost_usd"] == pytest.approx(0.97) and days[0]["jobs"] == 2
    nov3 = days[2]
    assert nov3["jobs"] == 4 and nov3["cache_hits"] == 1 and nov3["cache_saved_usd"] == 0.5
    assert nov3["unknown_cost"] == 2  # the unpriced saved job and the failed one that was sent
    assert nov3["failed"] == 2 and nov3["cost_usd"] == 0.0
    assert days[3]["in_flight"] == 1 and days[3]["reserved_usd"] == 0.5 and days[3]["cost_usd"] == 0

    months = {m["month"]: m for m in arthur_gen.costs("month")}
    assert months["2026-10"]["cost_usd"] == pytest.approx(0.97)
    assert months["2026-11"]["cost_usd"] == pytest.approx(0.5)
    assert months["2026-11"]["estimated_usd"] == pytest.approx(0.5)

    backends = arthur_gen.costs("backend")
    assert [b["backend"] for b in backends] == ["replicate", "mflux"]  # most spent first
    assert backends[1]["generations"] == 1 and backends[1]["cost_usd"] == 0

    models = {(m["backend"], m["model"]): m for m in arthur_gen.costs("model")}
    assert models[("replicate", "kling")]["unknown_cost"] == 1
    assert models[("replicate", "kling")]["cost_usd"] == 0
    assert models[("mflux", "schnell")]["jobs"] == 1
    kinds = {k["kind"]: k["jobs"] for k in arthur_gen.costs("kind")}
    assert kinds == {"image": 1, "video": 8}

    with pytest.raises(arthur_gen.InvalidRequestError, match="group_by='week'"):
        arthur_gen.costs("week")


def test_since_and_until_take_dates_months_and_relative_days(home: Path) -> None:
    _sample_ledger()
    assert [d["day"] for d in arthur_gen.costs(since="2026-11-03")] == ["2026-11-03", "2026-11-04"]
    assert [d["day"] for d in arthur_gen.costs(until="2026-11-02")] == ["2026-10-30", "2026-11-02"]
    assert [m["month"] for m in arthur_gen.costs("month", since="2026-11")] == ["2026-11"]
    assert [m["month"] for m in arthur_gen.costs("month", until="2026-10")] == ["2026-10"]
    only = arthur_gen.costs(since=dt.date(2026, 11, 2), until=dt.date(2026, 11, 2))
    assert [d["day"] for d in only] == ["2026-11-02"]
    assert arthur_gen.costs(since=_at("2026-11-04", 0)) == arthur_gen.costs(since="2026-11-04")
    today = dt.date.today()
    assert parse_when("1d") == time.mktime(today.timetuple())
    assert parse_when("7d") == time.mktime((today - dt.timedelta(days=6)).timetuple())
    assert parse_when("2026-11-25", end=True) == _at("2026-11-26", 0)
    assert parse_when("2026-12", end=True) == _at("2027-01-01", 0)
    with pytest.raises(arthur_gen.InvalidRequestError, match="must look like 2026-11-25"):
        parse_when("last tuesday")


def test_costs_cli_table_json_and_csv(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _sample_ledger()
    code, out, _ = _cli_run(capsys, "costs")
    assert code == 0
    assert out.startswith("Spent $1.47 (all time) on 9 jobs")
    assert "2 job(s) have an UNKNOWN cost" in out and "1 job(s) in flight, $0.50 reserved" in out
    for title in ("By day", "By month", "By backend", "By model"):
        assert title in out
    assert "$0.00 + ?" in out  # the day with unknown costs is never shown as just $0

    code, out, _ = _cli_run(capsys, "costs", "--json", "--since", "2026-11-01")
    report = json.loads(out)
    assert report["totals"]["jobs"] == 7 and report["totals"]["unknown_cost"] == 2
    assert set(report) >= {"totals", "by_day", "by_month", "by_backend", "by_model"}

    code, out, _ = _cli_run(capsys, "costs", "--csv", "--by", "model")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0].keys() >= {"backend", "model", "cost_usd", "unknown_cost"}
    assert {r["model"] for r in rows} == {"minimax/video-01", "kling", "schnell"}

    code, out, _ = _cli_run(capsys, "costs", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["group_by"] for r in rows} == {"day", "month", "backend", "model"}

    code, out, err = _cli_run(capsys, "costs", "--since", "someday")
    assert code == 2 and "must look like" in err


def test_costs_cli_on_an_empty_store(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli_run(capsys, "costs")
    assert code == 0 and out.strip() == "No jobs in this period."
    code, out, _ = _cli_run(capsys, "costs", "--json")
    assert json.loads(out)["totals"]["jobs"] == 0


def test_actual_cost_is_recorded_once_from_metrics_or_estimate(fakes: SimpleNamespace) -> None:
    paid = arthur_gen.generate_video("waves", backend="fake-video")
    estimated = arthur_gen.generate_video("waves", backend="nocost-video")
    local = arthur_gen.generate_image("a cat", seed=1)
    rows = {r.backend: r for r in arthur_gen.history()}
    assert (rows["fake-video"].cost_usd, rows["fake-video"].cost_source) == (0.5, "metrics")
    assert (rows["nocost-video"].cost_usd, rows["nocost-video"].cost_source) == (0.5, "estimate")
    assert (rows["fake-image"].cost_usd, rows["fake-image"].cost_source) == (0.0, "free")
    assert paid.cost_usd == 0.5 and estimated.cost_source == "estimate" and local.cost_usd == 0
    # resuming finished work records nothing twice
    assert arthur_gen.resume() == []
    totals = arthur_gen.cost_report()["totals"]
    assert totals["cost_usd"] == 1.0 and totals["estimated_usd"] == 0.5 and totals["jobs"] == 3


def test_unknown_prices_show_as_unknown_in_dry_run_and_costs(
    fakes: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli_run(capsys, "video", "a storm", "--backend", "unpriced-video", "--dry-run")
    assert code == 0
    estimate_line = next(line for line in out.splitlines() if line.startswith("estimate:"))
    assert "unknown" in estimate_line and "$" not in estimate_line
    code, out, _ = _cli_run(capsys, "video", "a storm", "-b", "unpriced-video", "--dry-run", "--json")
    assert json.loads(out)["estimate"] == {
        "usd": None,
        "basis": "unknown",
        "detail": "unknown price for fake-clip",
    }
    assert arthur_gen.estimate("video", "a storm", backend="unpriced-video").usd is None

    code, _, err = _cli_run(capsys, "video", "a storm", "-b", "unpriced-video")
    assert code == 3 and "price of fake-clip is unknown" in err and "--allow-unknown-price" in err
    code, _, _ = _cli_run(capsys, "video", "a storm", "-b", "unpriced-video", "--allow-unknown-price")
    assert code == 0
    (row,) = arthur_gen.history()
    assert row.cost_usd is None and row.cost_source is None
    (model_row,) = arthur_gen.costs("model")
    assert model_row["unknown_cost"] == 1 and model_row["cost_usd"] == 0
    code, out, _ = _cli_run(capsys, "costs", "--by", "model")
    assert "1 job(s) have an UNKNOWN cost" in out
    assert "$0.00 + ?" in out and "1 job(s)" in out


def test_the_cli_offers_every_grouping_without_importing_the_ledger() -> None:
    from arthur_gen.cli import _money as _cli_money
    from arthur_gen.money import _ledger

    assert _cli_money._GROUPS == _ledger.GROUPS
