"""Progress everywhere: several seeds at once, a terminal display that fits, a notebook bar
with no callback, and an asyncio cancel that prints nothing."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import re
import signal
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen._progress import TerminalProgress, in_notebook
from arthur_gen.cli._main import main
from arthur_gen.jobs._results import ProgressEvent
from arthur_gen.testing import FakeImageBackend, FakePlugin, FakeProvider, FakeVideoBackend, registered

LATENCY = 0.8


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[FakeProvider, FakeVideoBackend]]:
    """A remote backend whose model takes a seed; each job runs ``LATENCY`` seconds."""
    provider = FakeProvider(tmp_path / "provider", latency_s=LATENCY)
    backend = FakeVideoBackend(provider, seeded=True)
    with registered(FakePlugin(backend), name="test-seeded-video"):
        yield provider, backend


def _created(provider: FakeProvider) -> list[float]:
    return sorted(job["created"] for job in provider.all_jobs())


def test_several_seeds_run_at_once_each_its_own_job(seeded: tuple[FakeProvider, FakeVideoBackend]) -> None:
    provider, _ = seeded
    results = arthur_gen.generate_videos("waves", seeds=[1, 2, 3], backend="fake-video")
    assert [r.seed for r in results] == [1, 2, 3]
    assert len({r.job_id for r in results}) == 3 and provider.submits == 3
    created = _created(provider)
    # In turn, the last would be created two whole jobs after the first; at once, all together.
    assert created[-1] - created[0] < LATENCY
    assert all(r.path.is_file() for r in results)
    again = arthur_gen.generate_videos("waves", seeds=[1, 2, 3], backend="fake-video")
    assert all(r.cached for r in again) and provider.submits == 3


def test_bad_seeds_argument_fails_before_anything_is_sent(
    seeded: tuple[FakeProvider, FakeVideoBackend],
) -> None:
    provider, _ = seeded
    with pytest.raises(arthur_gen.InvalidRequestError, match="seeds"):
        arthur_gen.generate_videos("waves", seeds=[], backend="fake-video")
    with pytest.raises(arthur_gen.InvalidRequestError):
        arthur_gen.generate_videos("waves", seeds=[1, 2], backend="fake-video", duration=99)
    a_file = provider.root / "a-file"
    a_file.write_text("")
    with pytest.raises(arthur_gen.InvalidRequestError, match="is a file"):
        arthur_gen.generate_videos("waves", seeds=[1, 2], backend="fake-video", out_dir=a_file)
    with pytest.raises(arthur_gen.InvalidRequestError, match="timeout"):
        arthur_gen.generate_videos("waves", seeds=[1, 2], backend="fake-video", timeout=-1)
    assert provider.submits == 0 and arthur_gen.history() == []


def test_cli_seeds_run_at_once(
    seeded: tuple[FakeProvider, FakeVideoBackend], capsys: pytest.CaptureFixture[str]
) -> None:
    provider, _ = seeded
    code = main(["video", "waves", "-b", "fake-video", "--seed", "4", "--seed", "5", "--seed", "6"])
    out, err = capsys.readouterr()
    assert code == 0, err
    paths = out.split()
    assert len(paths) == 3 and all(Path(p).is_file() for p in paths)
    assert [f"_s{s}_" in p for s, p in zip((4, 5, 6), paths, strict=True)] == [True] * 3
    created = _created(provider)
    assert provider.submits == 3 and created[-1] - created[0] < LATENCY


def test_ctrl_c_cancels_every_seed_and_records_it(
    seeded: tuple[FakeProvider, FakeVideoBackend], capsys: pytest.CaptureFixture[str]
) -> None:
    provider, _ = seeded
    provider.latency_s = 30.0
    stop = threading.Event()

    def interrupt_once_both_run() -> None:  # Ctrl-C, as the user presses it, mid-run
        while not stop.wait(0.05):
            if provider.submits == 2:
                os.kill(os.getpid(), signal.SIGINT)
                return

    helper = threading.Thread(target=interrupt_once_both_run)
    helper.start()
    try:
        code = main(["video", "waves", "-b", "fake-video", "--seed", "1", "--seed", "2"])
    finally:
        stop.set()
        helper.join()
    err = capsys.readouterr().err
    assert code == 130
    assert "seed 1: " in err and "seed 2: " in err and "stopped" in err
    jobs = provider.all_jobs()
    assert len(jobs) == 2 and all(job["canceled"] for job in jobs)
    assert sorted(row.state for row in arthur_gen.history()) == ["canceled", "canceled"]


def test_one_failure_does_not_lose_the_others(tmp_path: Path) -> None:
    provider = FakeProvider(tmp_path / "p", latency_s=0.1)
    backend = FakeVideoBackend(provider, seeded=True)
    with registered(FakePlugin(backend), name="test-flaky"):
        original = backend.submit

        def submit(request: Any, model: Any, ctx: Any) -> str:
            if request.seed == 2:
                raise arthur_gen.GenerationError("the provider refused seed 2")
            return original(request, model, ctx)

        backend.submit = submit  # type: ignore[method-assign]
        with pytest.raises(arthur_gen.GenerationError, match="seed 2"):
            arthur_gen.generate_videos("waves", seeds=[1, 2, 3], backend="fake-video")
    states = sorted(row.state for row in arthur_gen.history())
    assert states == ["failed", "saved", "saved"]


# -- the terminal display ------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


_ESCAPE = re.compile(r"\x1b\[\d*[A-Za-z]")


def _screen_lines(text: str) -> list[str]:
    return [line for line in _ESCAPE.sub("\n", text.replace("\r", "\n")).split("\n") if line]


def _events(display: Any, job: str, *phases: tuple[str, int | None]) -> None:
    for phase, step in phases:
        display(ProgressEvent(job_id=job, phase=phase, step=step, total=100 if step is not None else None))


def test_terminal_lines_fit_the_width_and_show_several_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    for columns in (40, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        stream = _Tty()
        display = TerminalProgress(stream)
        for n in range(3):
            job = f"01a2{n}" + "0" * 14 + f"abcd{n}"
            on = display.callback(f"seed {n}")
            on(ProgressEvent(job_id=job, phase="planned", message="$0.5000 (1 video x $0.5)"))
            on(ProgressEvent(job_id=job, phase="step", step=40 + n, total=100))
        last_frame = stream.getvalue().rsplit("\x1b[J", 1)[-1]
        live = _screen_lines(last_frame)
        assert [line.split()[:2] for line in live] == [["seed", "0"], ["seed", "1"], ["seed", "2"]]
        assert all(len(line) < columns for line in _screen_lines(stream.getvalue()))
        if columns == 120:
            assert "[" in live[0] and "41%" in live[1]  # room for a bar
        display.done()


def test_finished_jobs_stay_and_log_lines_go_above(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    display = TerminalProgress()
    _events(display, "job-one-aaaaaaaa", ("submitted", None), ("step", 10))
    _events(display, "job-two-bbbbbbbb", ("submitted", None))
    assert sys.stderr is not stream  # redirected while jobs are live
    print("a plain line", file=sys.stderr)
    lines = _screen_lines(stream.getvalue().rsplit("\x1b[J", 1)[-1])
    assert lines[0] == "a plain line" and lines[1].startswith("aaaaaaaa [###") and "10%" in lines[1]
    assert lines[2].startswith("bbbbbbbb submitted")
    display(ProgressEvent(job_id="job-one-aaaaaaaa", phase="saved", message="/deep/folder/one.mp4"))
    _events(display, "job-two-bbbbbbbb", ("canceled", None))
    assert sys.stderr is stream  # nothing live: given back, even without done()
    display.done()
    final = _screen_lines(stream.getvalue())
    assert any(line.startswith("aaaaaaaa [") and "100% saved: one.mp4 (" in line for line in final), final
    assert "/deep/folder" not in stream.getvalue()  # the full path goes to stdout


def test_not_a_terminal_draws_nothing() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream)
    _events(display, "job", ("running", None), ("step", 50), ("saved", None))
    display.done()
    assert stream.getvalue() == ""


# -- the notebook display --------------------------------------------------------------------------


class _Handle:
    def __init__(self, shown: list[str]) -> None:
        self.shown = shown

    def update(self, obj: Any) -> None:
        self.shown.append(obj._repr_html_())


class _Kernel:
    def __init__(self) -> None:
        self.shown: list[str] = []  # every frame drawn, in order
        self.displays: list[bool] = []  # one per display() call: its display_id

    def display(self, obj: Any, display_id: bool = False) -> _Handle:
        self.displays.append(display_id)
        self.shown.append(obj._repr_html_())
        return _Handle(self.shown)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> _Kernel:
    """A pretend Jupyter kernel: IPython with a kernel attached, and its ``display``."""
    fake = _Kernel()

    shell = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    display_module = types.ModuleType("IPython.display")
    display_module.display = fake.display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    return fake


def test_a_notebook_gets_a_bar_without_a_callback(kernel: _Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    assert in_notebook()
    with registered(FakePlugin(FakeImageBackend(step_s=0.2)), name="test-slow-image"):
        result = arthur_gen.generate_image("a fox", seed=1, steps=5)
    frames = kernel.shown
    assert kernel.displays == [True]  # one cell output, updated in place
    assert any("<progress" in f and 'value="0.400"' in f for f in frames)  # step 2 of 5
    assert "saved" in frames[-1] and result.job_id[-8:] in frames[-1]
    assert len(frames[-1]) < 1000  # what stays in the saved notebook
    monkeypatch.setenv("ARTHUR_GEN_PROGRESS", "off")
    with registered(FakePlugin(FakeImageBackend()), name="test-slow-image"):
        arthur_gen.generate_image("a fox", seed=2)
    assert kernel.displays == [True]


def test_a_notebook_shows_several_seeds_in_one_table(
    kernel: _Kernel, seeded: tuple[FakeProvider, FakeVideoBackend]
) -> None:
    arthur_gen.generate_videos("waves", seeds=[7, 8], backend="fake-video")
    assert kernel.displays == [True]
    last = kernel.shown[-1]
    assert "seed 7" in last and "seed 8" in last and last.count("saved") == 2


def test_no_kernel_no_display(image_backend: FakeImageBackend) -> None:
    assert not in_notebook()
    events: list[ProgressEvent] = []
    arthur_gen.generate_image("a fox", seed=3, on_progress=events.append)
    assert events[-1].phase == "saved"


# -- asyncio -----------------------------------------------------------------------------------------


def test_cancelling_an_async_task_prints_nothing(
    video_backend: FakeVideoBackend,
    provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    provider.latency_s = 30.0

    async def run() -> None:
        task = asyncio.create_task(arthur_gen.agenerate_video("waves", backend="fake-video"))
        for _ in range(400):  # until the job is running at the provider
            if provider.submits:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(100):  # the job goes on a moment: cancelled at the provider, recorded
            if arthur_gen.history()[0].state == "canceled":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(run())
        gc.collect()
    err = capfd.readouterr().err
    assert arthur_gen.history()[0].state == "canceled" and provider.all_jobs()[0]["canceled"]
    text = err + "\n".join(r.getMessage() for r in caplog.records)
    assert "never retrieved" not in text and "Traceback" not in text
