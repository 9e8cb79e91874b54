"""Help and mistakes on the command line: flag help, the subcommand's usage, "did you mean"."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs
import pytest

import arthur_gen
from arthur_gen import ModelInfo, Price, UnknownModelError
from arthur_gen.cli._main import JOB_STATES, build_parser, main
from arthur_gen.jobs._store import ACTIVE_STATES, FINAL_STATES
from arthur_gen.testing import FakePlugin, FakeProvider, FakeVideoBackend, registered

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own errors and --help
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("command", ["image", "video"])
def test_every_generate_flag_has_help_and_the_command_has_examples(command: str) -> None:
    sub = _subparser(command)
    missing = [a.dest for a in sub._actions if not a.help and a.dest != "help"]
    assert missing == []
    assert sub.description and f"arthur-gen {command} " in sub.description
    assert "examples:" in sub.format_help()


def test_unknown_flag_prints_the_subcommands_usage(cli: Run) -> None:
    code, _, err = cli("image", "a fox", "--bogus")
    assert code == 2
    assert "usage: arthur-gen image" in err and "unrecognized arguments: --bogus" in err
    assert "{image,video" not in err  # not the top-level usage


def test_unknown_flag_of_a_nested_command_names_that_command(cli: Run) -> None:
    code, _, err = cli("keys", "set", "replicate", "--nope")
    assert code == 2 and "usage: arthur-gen keys set" in err


def test_mistyped_command_gets_did_you_mean(cli: Run) -> None:
    code, _, err = cli("histroy")
    assert code == 2 and "did you mean 'history'" in err


def test_state_choices_are_every_state_the_store_knows(cli: Run) -> None:
    assert set(JOB_STATES) == set(ACTIVE_STATES) | set(FINAL_STATES)
    code, _, err = cli("history", "--state", "done")
    assert code == 2 and "saved" in err and "uncertain" in err


def test_history_since_takes_relative_days_and_shows_output_paths(
    cli: Run, video_backend: FakeVideoBackend, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    waves = arthur_gen.generate_video("waves")
    code, out, _ = cli("history", "--since", "7d", "--json")
    assert code == 0 and [r["job_id"] for r in json.loads(out)] == [waves.job_id]
    code, out, _ = cli("history", "--since", "today", "--until", "7d", "--json")
    assert [r["job_id"] for r in json.loads(out)] == [waves.job_id]  # "7d" as an end: through today
    code, out, _ = cli("history", "--until", "2026-01", "--json")
    assert json.loads(out) == []
    monkeypatch.chdir(home)
    code, out, _ = cli("history")
    assert code == 0 and "output" in out.splitlines()[0]
    assert os.path.relpath(waves.path, home) in out
    code, _, err = cli("history", "--since", "last tuesday")
    assert code == 2 and "last tuesday" in err


def test_show_is_for_a_person_and_json_is_unchanged(cli: Run, video_backend: FakeVideoBackend) -> None:
    waves = arthur_gen.generate_video("waves", duration=3)
    code, out, _ = cli("show", waves.job_id)
    assert code == 0
    lines = {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if ":" in line
    }
    assert lines["created_at"][:2] == "20" and "-" in lines["created_at"]  # a date, not 1764...
    assert lines["cost_usd"].startswith("$")
    assert "    prompt: waves" in out and "duration: 3" in out  # the request, one field a line
    assert str(waves.path) in out or os.path.relpath(waves.path) in out
    code, out, _ = cli("show", waves.job_id, "--json")
    data = json.loads(out)
    assert isinstance(data["created_at"], float) and data["request"]["prompt"] == "waves"


class _AnyModelVideo(FakeVideoBackend):
    """A remote fake that, like Replicate, takes any ``owner/name`` outside its catalog."""

    @property
    def default_model(self) -> str:
        return "minimax/video-01"

    def models(self) -> Sequence[ModelInfo]:
        return tuple(attrs.evolve(m, id="minimax/video-01") for m in super().models())

    def resolve_model(self, model_id: str) -> ModelInfo | None:
        if "/" not in model_id:
            return None
        return attrs.evolve(self.models()[0], id=model_id, price=Price.unknown("not in the catalog"))


@pytest.fixture
def any_model_backend(provider: FakeProvider) -> Iterator[_AnyModelVideo]:
    backend = _AnyModelVideo(provider)
    with registered(FakePlugin(backend), name="test-any-model"):
        yield backend


def test_a_typo_of_a_catalog_id_gets_did_you_mean_not_the_unknown_price_path(
    cli: Run, any_model_backend: _AnyModelVideo
) -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean 'minimax/video-01'\?.*--allow-unknown-price"):
        arthur_gen.plan("video", "waves", model="minimax/video-1")
    code, _, err = cli("video", "waves", "-m", "minimax/video-1", "--dry-run")
    assert code != 0 and "did you mean 'minimax/video-01'" in err
    assert "estimate: unknown price" not in err and "would send" not in err
    # Meaning that very model, knowingly: the unknown-price path, as before.
    plan = arthur_gen.plan("video", "waves", model="minimax/video-1", allow_unknown_price=True)
    assert plan.model.id == "minimax/video-1" and plan.estimate.usd is None
    # A model far from every catalog id is simply uncataloged.
    assert arthur_gen.plan("video", "waves", model="acme/dream-machine").model.id == "acme/dream-machine"
