"""Budgets: per call, per day, per month; the CLI; and enforcement across real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import arthur_gen
from arthur_gen import BudgetExceededError, UnknownPriceError
from arthur_gen.cli import _main as _cli
from arthur_gen.jobs._store import Store
from arthur_gen.testing import FakePlugin, FakeProvider, FakeVideoBackend, registered


@pytest.fixture
def fakes(home: Path, tmp_path: Path) -> Iterator[SimpleNamespace]:
    provider = FakeProvider(tmp_path / "provider", latency_s=0.0)
    ns = SimpleNamespace(
        provider=provider,
        video=FakeVideoBackend(provider),
        unpriced=FakeVideoBackend(provider, backend_id="unpriced-video", price_usd=None),
    )
    arthur_gen._config.set_config_value("defaults.video_backend", "fake-video")
    with registered(FakePlugin(ns.video, ns.unpriced)):
        yield ns


def _cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = _cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_budget_cli_sets_and_unsets_the_config_file(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _cli_run(capsys, "budget")
    assert code == 0 and "per_day    none" in out
    code, out, _ = _cli_run(capsys, "budget", "set", "per_day", "10")
    assert code == 0 and "Set the per-day budget to $10.00" in out
    _cli_run(capsys, "budget", "set", "month", "$50")
    _cli_run(capsys, "budget", "set", "per-call", "0.75")
    config = tomllib.loads((home / "config.toml").read_text())
    assert config["budget"] == {"per_day": 10.0, "per_month": 50.0, "per_call": 0.75}
    status = arthur_gen.budget_status()
    assert status.limits == {"per_call": 0.75, "per_day": 10.0, "per_month": 50.0}
    assert status.sources == {"per_call": "config", "per_day": "config", "per_month": "config"}

    code, out, _ = _cli_run(capsys, "budget", "unset", "per_call")
    assert code == 0 and "Removed the per-call budget" in out
    assert "per_call" not in tomllib.loads((home / "config.toml").read_text())["budget"]

    code, out, _ = _cli_run(capsys, "budget", "--json")
    data = json.loads(out)
    assert data["limits"] == {"per_call": None, "per_day": 10.0, "per_month": 50.0}
    assert data["remaining"]["per_day"] == 10.0

    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "3")
    code, out, err = _cli_run(capsys, "budget", "set", "per_day", "20")
    assert "ARTHUR_GEN_BUDGET_PER_DAY='3' is set in the environment and wins" in err
    assert arthur_gen.budget_status().limits["per_day"] == 3.0
    assert arthur_gen.budget_status().sources["per_day"] == "env"

    for bad in (("set", "per_week", "5"), ("set", "per_day", "-1"), ("set", "per_day", "ten")):
        code, _, err = _cli_run(capsys, "budget", *bad)
        assert code == 2 and err
    code, out, _ = _cli_run(capsys, "budget", "set", "per_day")
    assert code == 2 and "usage" in out


def test_budget_status_counts_spent_and_reserved_today_and_this_month(
    fakes: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    arthur_gen._config.set_config_value("budget.per_day", 2.0)
    for prompt in ("one", "two", "three"):
        arthur_gen.generate_video(prompt)
    status = arthur_gen.budget_status()
    assert status.spent_today == 1.5 and status.spent_month == 1.5 and status.reserved_today == 0
    assert status.remaining("per_day") == 0.5 and status.remaining("per_month") is None
    code, out, _ = _cli_run(capsys, "budget")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("per_day"))
    assert line.split()[:6] == ["per_day", "$2.00", "today", "$1.50", "$0.00", "$0.50"]


def test_per_call_and_per_day_limits_refuse_before_submitting(
    fakes: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_CALL", "0.25")
    with pytest.raises(BudgetExceededError, match=r"estimated \$0\.5000 .* per-call budget of \$0\.25"):
        arthur_gen.generate_video("too dear")
    assert fakes.provider.submits == 0 and arthur_gen.history() == []
    monkeypatch.delenv("ARTHUR_GEN_BUDGET_PER_CALL")
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "1")
    arthur_gen.generate_video("first")
    arthur_gen.generate_video("second")
    with pytest.raises(BudgetExceededError) as info:
        arthur_gen.generate_video("third")
    assert info.value.limit == "per_day" and info.value.spent_usd == 1.0
    assert "$1.0000 of the per-day budget of $1.00" in str(info.value)
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "100")
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_MONTH", "1.2")
    with pytest.raises(BudgetExceededError, match=r"per-month budget of \$1\.20"):
        arthur_gen.generate_video("third")
    assert fakes.provider.submits == 2
    code = _cli.main(["video", "third"])
    assert code == 3  # the CLI's exit status for money refusals


def test_unknown_price_needs_explicit_permission_and_then_counts_against_no_limit(
    fakes: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnknownPriceError, match="allow_unknown_price=True"):
        arthur_gen.generate_video("mystery", backend="unpriced-video")  # even with no budget set
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "1")
    arthur_gen.generate_video("spend it all")
    arthur_gen.generate_video("spend it all again")
    with pytest.raises(UnknownPriceError):
        arthur_gen.generate_video("mystery", backend="unpriced-video")
    assert fakes.provider.submits == 2
    result = arthur_gen.generate_video("mystery", backend="unpriced-video", allow_unknown_price=True)
    assert result.cost_usd is None and fakes.provider.submits == 3
    monkeypatch.setenv("ARTHUR_GEN_ALLOW_UNKNOWN_PRICE", "1")  # permission from the environment
    arthur_gen.generate_video("mystery two", backend="unpriced-video")
    assert fakes.provider.submits == 4
    with pytest.raises(BudgetExceededError):  # known prices are still held to the limit
        arthur_gen.generate_video("priced")


_CHILD = textwrap.dedent(
    """
    import json, os, sys, threading, time
    import arthur_gen

    worker, threads = int(sys.argv[1]), int(sys.argv[2])
    go = sys.argv[3]
    outcomes = []
    lock = threading.Lock()
    arthur_gen.list_backends()  # load the plugin before the start line
    barrier = threading.Barrier(threads)

    def one(index):
        barrier.wait()
        try:
            result = arthur_gen.generate_video(f"clip {worker}-{index}", backend="fake-video")
            outcome = {"ok": True, "job": result.job_id}
        except arthur_gen.BudgetExceededError as exc:
            outcome = {"ok": False, "budget": True, "message": str(exc)}
        except Exception as exc:
            outcome = {"ok": False, "budget": False, "message": f"{type(exc).__name__}: {exc}"}
        with lock:
            outcomes.append(outcome)

    while not os.path.exists(go):
        time.sleep(0.005)
    pool = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps(outcomes))
    """
)


def _fake_distribution(site: Path) -> None:
    """A real (dummy) installed distribution whose entry point is the env-configured fakes."""
    info = site / "arthur_gen_money_fakes-0.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arthur-gen-money-fakes\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("[arthur_gen]\nmoney_fakes = arthur_gen.testing:env_plugin\n")


def test_the_daily_budget_holds_across_processes(home: Path, tmp_path: Path) -> None:
    """100 concurrent $0.50 requests (4 processes x 25 threads) under $10/day: exactly 20 paid."""
    site = tmp_path / "site"
    _fake_distribution(site)
    provider_dir = tmp_path / "provider"
    FakeProvider(provider_dir)
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTHUR_GEN_")}
    env.update(
        PYTHONPATH=str(site),
        ARTHUR_GEN_HOME=str(home),
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-money-fakes",
        ARTHUR_GEN_FAKE_PROVIDER=str(provider_dir),
        ARTHUR_GEN_FAKE_LATENCY="0.3",
        ARTHUR_GEN_BUDGET_PER_DAY="10",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(worker), "25", str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    outcomes: list[dict[str, object]] = []
    try:
        time.sleep(0.3)
        go.touch()
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outcomes.extend(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(outcomes) == 100
    others = [o for o in outcomes if not o["ok"] and not o["budget"]]
    assert others == []
    paid = [o for o in outcomes if o["ok"]]
    refused = [o for o in outcomes if not o["ok"]]
    provider = FakeProvider(provider_dir)
    store = Store(home / "data" / "jobs.db")
    saved = store.scalar("SELECT COUNT(*) FROM jobs WHERE state = 'saved'")
    assert provider.submits <= 20
    assert provider.submits == saved == len(paid) == 20
    assert store.scalar("SELECT COUNT(*) FROM jobs") == 20  # a refusal leaves no job behind
    assert store.scalar("SELECT SUM(cost_usd) FROM jobs") == pytest.approx(10.0)
    assert len(refused) == 80
    for outcome in refused:
        message = str(outcome["message"])
        # the limit, what was already spent or reserved (all 20 slots), and the estimate
        assert "$10.0000 of the per-day budget of $10.00 is already spent or reserved" in message
        assert "would cost ~$0.5000" in message
    store.close()
