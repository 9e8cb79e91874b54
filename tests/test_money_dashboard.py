"""The HTML cost dashboard: self-contained, escaped, and rendered for real in headless Chromium."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.cli import _main as _cli
from arthur_gen.testing import record_job

from ._chromium import chromium_env, chromium_path


def _job(days_ago: int, **fields: Any) -> None:
    day = dt.date.today() - dt.timedelta(days=days_ago)
    when = time.mktime(day.timetuple()) + 12 * 3600 if days_ago else time.time() - 1
    record_job(created_at=when, **{"prompt": "p", **fields})


def _sample() -> None:
    for days_ago in range(0, 40, 3):
        for _ in range(days_ago % 4 + 1):
            _job(days_ago)
        _job(days_ago, kind="image", backend="mflux", model="flux-schnell", cost_usd=0.0,
             cost_source="free", estimate_usd=0.0, submit_count=0)  # fmt: skip
    _job(2, cost_usd=0.0, cost_source="cache", saved_usd=0.5)
    _job(5, model="<img src=x onerror=alert(1)>", cost_usd=None, cost_source=None, estimate_usd=None)
    arthur_gen._config.set_config_value("budget.per_day", 10.0)


def test_the_dashboard_is_one_self_contained_file(home: Path, tmp_path: Path) -> None:
    _sample()
    target = arthur_gen.write_dashboard(tmp_path / "report" / "costs.html")
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for forbidden in ("<script", "<link", "<img", "src=", "url(", "@import", "<iframe"):
        assert forbidden not in page.replace("&lt;img src=x", "")
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}
    assert page.count("<svg") >= 4  # spend per day, per model, per backend, budget meters
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # names are escaped
    totals = arthur_gen.cost_report()["totals"]
    assert f"${totals['cost_usd']:.2f}" in page
    assert "1 job(s) have an unknown cost" in page
    assert "Spend per day" in page and "Spend per model" in page and "Generations per backend" in page
    assert "Saved by the cache" in page and "of the $10.00 budget" in page


def test_the_dashboard_from_the_cli_with_a_range_and_on_an_empty_store(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "empty.html"
    assert _cli.main(["costs", "--html", str(target)]) == 0
    assert "Wrote the cost dashboard" in capsys.readouterr().out
    assert "No generations in this period" in target.read_text()
    _sample()
    since = (dt.date.today() - dt.timedelta(days=9)).isoformat()
    assert _cli.main(["costs", "--html", str(target), "--since", since]) == 0
    page = target.read_text()
    assert "(10 days)" in page  # every day of the range has a bar, spent or not


def _png_pixels_sample(png: bytes) -> tuple[int, int, bytes]:
    """(width, height, decompressed image data) of a PNG, checked chunk by chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_dashboard_renders_in_headless_chromium(home: Path, tmp_path: Path) -> None:
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); cannot render the page")
    _sample()
    page = arthur_gen.write_dashboard(tmp_path / "costs.html")
    shot = tmp_path / "shot.png"
    proc = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,1000",
            page.as_uri(),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=chromium_env(),
    )
    try:
        output, _ = proc.communicate(timeout=90)
    finally:
        try:  # the browser's helper processes are in its own session: end them all
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert shot.exists(), output.decode(errors="replace")[-2000:]
    width, height, data = _png_pixels_sample(shot.read_bytes())
    assert (width, height) == (1280, 1000)
    # A blank page compresses to almost nothing and has a handful of byte values.
    assert shot.stat().st_size > 20_000
    assert len(set(data)) > 100
    try:
        from PIL import Image
    except ImportError:  # the checks above already tell a blank page from a drawn one
        return
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1_000_000) or []
    background = max(colours)[0]
    assert background < 0.9 * width * height  # most of the page is not one colour
    spent_blue = sum(n for n, c in colours if c == (37, 99, 235))
    assert spent_blue > 500  # the spend bars were drawn


def test_the_dashboard_is_usable_at_phone_width(home: Path, tmp_path: Path) -> None:
    from .test_gallery_browser import DESKTOP, PHONE, Chromium

    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); cannot render the page")
    _sample()
    page = arthur_gen.write_dashboard(tmp_path / "costs.html")
    browser = Chromium(executable, tmp_path / "profile")
    tick_size = """(() => {
      const ticks = [...document.querySelectorAll('text.tick')].filter(t => t.getClientRects().length);
      return Math.min(...ticks.map(t => t.getBoundingClientRect().height));
    })()"""
    try:
        for size in (DESKTOP, PHONE):
            browser.open(page.as_uri(), size)
            over = browser.overflow()
            assert over["scroll"] <= over["width"] and not over["out"], (size, over)
            assert browser.js(tick_size) >= 9, size  # axis labels drawn at a readable size
        # On the phone every card is at least half the width (not five squeezed in a row).
        widths = browser.js(
            "[...document.querySelectorAll('.card')].map(c => c.getBoundingClientRect().width)"
        )
        assert len(widths) == 5 and min(widths) > PHONE[0] * 0.4, widths
    finally:
        browser.close()
