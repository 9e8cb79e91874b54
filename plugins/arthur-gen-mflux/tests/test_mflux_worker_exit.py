"""The MLX worker thread ends cleanly: no abort (status 134) at exit, after release, or on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("mlx.core")

from arthur_gen import MlxWorker

# Enough MLX work on the worker thread to have made its streams; before the fix about one run
# in two to eight aborted with "terminate called without an active exception".
_SCRIPT = textwrap.dedent(
    """
    import sys
    from arthur_gen import MlxWorker

    worker = MlxWorker(use_mlx_stream=True)

    def work():
        import mlx.core as mx
        a = mx.random.normal((128, 128))
        b = a @ a
        mx.eval(b)
        return float(b.sum())

    for _ in range(3):
        worker.run(work)
    if sys.argv[1] == "release":
        worker.close()
        worker.run(work)  # a closed worker starts a new thread on the next call
    if sys.argv[1] == "interrupt":
        import time
        print("ready", flush=True)
        worker.run(lambda: time.sleep(2))  # a step the worker finishes
    print("done", flush=True)
    """
)
RUNS = 8


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("mode", ["exit", "release"])
def test_repeated_child_processes_all_exit_zero(mode: str) -> None:
    codes = [_run(mode).returncode for _ in range(RUNS)]
    assert codes == [0] * RUNS, f"exit codes of {RUNS} runs: {codes}"


def test_ctrl_c_while_the_worker_is_busy_exits_without_abort() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, "interrupt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt" in err
    assert "terminate called" not in err
    # Python ends an uncaught KeyboardInterrupt by re-raising SIGINT (-2), never by abort (-6/134)
    assert proc.returncode == -signal.SIGINT


def test_close_clears_streams_on_the_worker_and_a_later_run_works() -> None:
    worker = MlxWorker(use_mlx_stream=True)

    def work() -> float:
        import mlx.core as mx

        return float(mx.ones((4,)).sum())

    assert worker.run(work) == 4.0
    worker.close()
    assert worker.thread_ids == set()
    assert worker.run(work) == 4.0
    assert len(worker.thread_ids) == 1  # the new thread (ids may be reused by the OS)
    worker.close()
