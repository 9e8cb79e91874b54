"""The youtube emulator: runnable from the command line and as a pytest fixture."""

from __future__ import annotations

import subprocess
import sys

import httpx
from arthur_gen_youtube.emulator import Emulator
from arthur_gen_youtube.emulator.pytest_fixture import youtube_emulator as youtube_emulator


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
    import signal
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "arthur_gen_youtube.emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.close()  # the reader is gone before the emulator prints its address
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/_emulator/state", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
