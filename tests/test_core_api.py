"""The public surface: lazy exports, the error tree, configuration, local jobs, estimates."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arthur_gen
from arthur_gen import errors
from arthur_gen._config import load_settings, set_config_value
from arthur_gen.jobs._store import get_store, new_job_id
from arthur_gen.testing import FakeImageBackend, FakePlugin, FakeVideoBackend, registered

# --- the public module -------------------------------------------------------------------


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert arthur_gen.__all__ == sorted(arthur_gen.__all__)
    for name in arthur_gen.__all__:
        value = getattr(arthur_gen, name)
        if isinstance(value, type):
            assert value.__module__ == "arthur_gen", name
    assert set(arthur_gen.__all__) <= set(dir(arthur_gen))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        arthur_gen.nope  # type: ignore[attr-defined]  # noqa: B018


def test_error_tree() -> None:
    names = set(errors.__all__)
    assert names <= set(arthur_gen.__all__)
    for name in names:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ArthurGenError)
        assert name in (errors.__doc__ or ""), f"{name} is not drawn in the errors docstring"
    assert issubclass(errors.InvalidRequestError, ValueError)
    assert issubclass(errors.UnknownModelError, KeyError)
    assert issubclass(errors.JobNotFoundError, KeyError)
    assert issubclass(errors.JobTimeoutError, TimeoutError)
    assert issubclass(errors.ConfigError, ValueError)
    for cls in (errors.AuthenticationError, errors.BillingError, errors.DownloadError):
        assert issubclass(cls, errors.GenerationError)
    assert str(errors.UnknownModelError("plain text")) == "plain text"  # not KeyError's 'quotes'


# --- configuration -----------------------------------------------------------------------


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_config_value("budget.per_day", 5)
    set_config_value("output_dir", str(tmp_path / "from-file"))
    settings_ = load_settings()
    assert settings_.budget["per_day"] == 5 and settings_.output_dir == tmp_path / "from-file"
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "2.5")
    monkeypatch.setenv("ARTHUR_GEN_OUTPUT_DIR", str(tmp_path / "from-env"))
    settings_ = load_settings()
    assert settings_.budget["per_day"] == 2.5 and settings_.output_dir == tmp_path / "from-env"
    set_config_value("budget.per_day", None)
    monkeypatch.delenv("ARTHUR_GEN_BUDGET_PER_DAY")
    assert load_settings().budget["per_day"] is None


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda home, mp: (home / "config.toml").write_text("budget = [oops"), "is not valid TOML"),
        (lambda home, mp: mp.setenv("ARTHUR_GEN_BUDGET_PER_CALL", "lots"), "is not a number of dollars"),
        (lambda home, mp: mp.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "-1"), "non-negative"),
        (lambda home, mp: mp.setenv("ARTHUR_GEN_ALLOW_UNKNOWN_PRICE", "maybe"), "true or false"),
        (lambda home, mp: (home / "config.toml").write_text("budget = 3\n"), "must be a table"),
    ],
)
def test_bad_configuration_is_a_config_error(
    setup: Any, message: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(home, monkeypatch)
    with pytest.raises(errors.ConfigError, match=message) as info:
        load_settings()
    assert isinstance(info.value, ValueError)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=12).filter(lambda n: "." not in n),
    value=st.one_of(st.text(max_size=40), st.booleans(), st.integers(-(2**62), 2**62)),
)
def test_config_values_round_trip(name: str, value: Any) -> None:
    """Whatever is set can be read back, and the file stays valid TOML (control characters,
    quotes, backslashes, odd key names)."""
    set_config_value(f"defaults.{name}", value)
    assert load_settings().default_backends[name] == str(value)
    set_config_value(f"keys.{name}", "k" + str(value))
    assert load_settings().keys[name].reveal() == "k" + str(value)
    set_config_value(f"keys.{name}", None)
    assert name not in load_settings().keys


def test_data_dirs_follow_arthur_gen_home(home: Path) -> None:
    assert arthur_gen.data_dir() == home / "data"
    assert arthur_gen.cache_dir() == home / "cache"
    assert arthur_gen.config_path() == home / "config.toml"


# --- local jobs --------------------------------------------------------------------------


def test_local_progress_steps_and_warm_model(image_backend: FakeImageBackend) -> None:
    events: list[Any] = []
    result = arthur_gen.generate_image("steps", steps=3, seed=1, on_progress=events.append)
    steps = [(e.step, e.total) for e in events if e.phase == "step"]
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert {e.job_id for e in events} == {result.job_id}
    arthur_gen.generate_image("again", seed=2)
    assert image_backend.loads == 1  # the model stayed warm between calls
    image_backend.release()
    arthur_gen.generate_image("after release", seed=3)
    assert image_backend.loads == 2


def test_local_cancel_records_canceled(helpers: Any) -> None:
    backend = FakeImageBackend(step_s=0.05)
    cancel = threading.Event()
    with registered(FakePlugin(backend)):

        def on_progress(event: Any) -> None:
            if event.phase == "step" and event.step == 2:
                cancel.set()

        with pytest.raises(arthur_gen.JobCanceledError):
            arthur_gen.generate_image("stop me", steps=20, cancel_event=cancel, on_progress=on_progress)
    (row,) = arthur_gen.history()
    assert row.state == "canceled" and row.outputs == []
    assert not any((Path(row.out_dir or "") / ".work").glob("*/*"))


def test_local_failure_records_failed() -> None:
    failing = FakePlugin(FakeImageBackend(fail="out of memory"))
    with registered(failing), pytest.raises(arthur_gen.GenerationError, match="out of memory"):
        arthur_gen.generate_image("too big", seed=1)
    (row,) = arthur_gen.history()
    assert row.state == "failed" and "out of memory" in (row.error or "")
    assert arthur_gen.resume() == []  # failed jobs are not retried behind the user's back


def test_unavailable_backend_refuses_before_writing_anything(home: Path) -> None:
    class Elsewhere(FakeImageBackend):
        def availability(self) -> arthur_gen.Availability:
            return arthur_gen.Availability.no("needs Apple Silicon", "run it on a Mac")

    backend = Elsewhere()
    unavailable = pytest.raises(arthur_gen.BackendUnavailableError, match=r"Apple Silicon.*run it on a Mac")
    with registered(FakePlugin(backend)), unavailable:
        arthur_gen.generate_image("x")
    assert backend.calls == [] and arthur_gen.history() == []


def test_estimate_and_plan(image_backend: FakeImageBackend, video_backend: FakeVideoBackend) -> None:
    free = arthur_gen.estimate("image", "x")
    assert free.usd == 0.0 and free.describe().startswith("$0.0000")
    paid = arthur_gen.estimate("video", "x", duration=3)
    assert paid.usd == 0.5 and paid.known
    plan = arthur_gen.plan("video", "x", model="fake-clip")
    assert plan.to_dict()["would_send"] == {"model": "fake-clip", "input": {"prompt": "x"}}
    with pytest.raises(errors.InvalidRequestError, match="kind='audio'"):
        arthur_gen.estimate("audio", "x")
    assert arthur_gen.history() == []


def test_job_ids_sort_by_time_and_abbreviate(image_backend: FakeImageBackend) -> None:
    ids = [new_job_id() for _ in range(200)]
    assert len(set(ids)) == 200
    first = arthur_gen.generate_image("one", seed=1)
    second = arthur_gen.generate_image("two", seed=2)
    assert first.job_id < second.job_id
    assert [r.id for r in arthur_gen.history()] == [second.job_id, first.job_id]
    assert arthur_gen.get_job(first.job_id[:14]).id == first.job_id
    with pytest.raises(arthur_gen.JobNotFoundError, match="several jobs"):
        arthur_gen.get_job("0")
    with pytest.raises(arthur_gen.JobNotFoundError, match="no job"):
        arthur_gen.get_job("zzz")
    assert get_store().path == arthur_gen.data_dir() / "jobs.db"
