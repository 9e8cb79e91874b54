"""The youtube emulator: runnable from the command line and as a pytest fixture."""

from __future__ import annotations

import subprocess
import sys

import httpx
from arthur_gen_youtube.emulator import Emulator
from arthur_gen_youtube.emulator.pytest_fixture import youtube_emulator as youtube_emulator

from arthur_gen.testing import check_emulator_stops_cleanly


def test_fixture_serves_state(youtube_emulator: Emulator) -> None:
    assert httpx.get(f"{youtube_emulator.url}/_emulator/state", timeout=5).status_code == 200


def test_command_line_prints_its_address_and_stops() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "arthur_gen_youtube.emulator"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ")[1].strip()
        assert httpx.get(f"{url}/_emulator/state", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_command_line_stops_cleanly_on_sigterm_after_its_reader_went_away() -> None:
    check_emulator_stops_cleanly("arthur_gen_youtube.emulator")
