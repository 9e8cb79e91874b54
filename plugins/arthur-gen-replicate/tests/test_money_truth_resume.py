"""Issue 8 item 4: `resume` never stalls: one broken job is recorded and resume goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from arthur_gen_replicate.emulator import Emulator

import arthur_gen
from arthur_gen.errors import GenerationError, SubmitUncertainError
from arthur_gen.jobs import _runner

Rows = Callable[[], list[dict[str, Any]]]


def test_one_broken_job_does_not_stop_resume(
    emu: Emulator, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    for prompt in ("first", "second"):
        emu.faults.drop("create", after_effect=False)
        with pytest.raises(SubmitUncertainError):
            arthur_gen.generate_video(prompt, backend="replicate", timeout=20)
    broken, healthy = rows()
    real = _runner.drive_job

    def drive(row: Any, *args: Any) -> Any:
        if row.id == broken["id"]:
            raise TypeError("a bad argument deep inside")
        return real(row, *args)

    monkeypatch.setattr(_runner, "drive_job", drive)
    outcomes = dict(arthur_gen.resume())
    assert isinstance(outcomes[broken["id"]], GenerationError)
    assert "TypeError" in str(outcomes[broken["id"]])
    assert isinstance(outcomes[healthy["id"]], arthur_gen.GeneratedVideo)
    broken, healthy = rows()
    assert healthy["state"] == "saved"
    assert broken["state"] == "uncertain" and "TypeError" in broken["error"]
