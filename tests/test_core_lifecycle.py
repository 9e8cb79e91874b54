"""Progress phases at the end of a job, and deadlines on local jobs."""

from __future__ import annotations

import pytest

import arthur_gen
from arthur_gen.testing import FakeImageBackend, FakeVideoBackend


def test_a_saved_job_ends_with_a_saved_event(image_backend: FakeImageBackend) -> None:
    events: list[arthur_gen.ProgressEvent] = []
    result = arthur_gen.generate_image("a fox", seed=1, on_progress=events.append)
    phases = [e.phase for e in events]
    assert phases[0] == "planned" and phases[-1] == "saved"
    assert str(result.path) in events[-1].message


def test_a_failed_job_ends_with_a_failed_event(image_backend: FakeImageBackend) -> None:
    image_backend.fail = "out of memory"
    events: list[arthur_gen.ProgressEvent] = []
    with pytest.raises(arthur_gen.GenerationError, match="out of memory"):
        arthur_gen.generate_image("a fox", seed=1, on_progress=events.append)
    assert events[-1].phase == "failed" and "out of memory" in events[-1].message


def test_a_local_job_past_its_deadline_is_stopped_and_recorded(
    image_backend: FakeImageBackend,
) -> None:
    image_backend.step_s = 0.2
    events: list[arthur_gen.ProgressEvent] = []
    with pytest.raises(arthur_gen.JobTimeoutError, match=r"0\.3 s"):
        arthur_gen.generate_image("slow", steps=20, timeout=0.3, on_progress=events.append)
    (job,) = arthur_gen.history()
    assert job.state == "canceled" and "deadline" in (job.error or "")
    assert events[-1].phase == "canceled"
    steps = [e.step for e in events if e.phase == "step"]
    assert steps and max(s or 0 for s in steps) < 20


def test_a_local_job_without_a_deadline_runs_to_the_end(image_backend: FakeImageBackend) -> None:
    image_backend.step_s = 0.01
    result = arthur_gen.generate_image("patient", steps=30)
    assert result.path.exists()


def test_a_cancelled_remote_job_ends_with_a_canceled_event(video_backend: FakeVideoBackend) -> None:
    import threading

    cancel = threading.Event()
    events: list[arthur_gen.ProgressEvent] = []

    def on_progress(event: arthur_gen.ProgressEvent) -> None:
        events.append(event)
        if event.phase == "submitted":
            cancel.set()

    with pytest.raises(arthur_gen.JobCanceledError):
        arthur_gen.generate_video("waves", on_progress=on_progress, cancel_event=cancel)
    assert events[-1].phase == "canceled"
