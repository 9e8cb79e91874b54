"""Routing: ``backend="auto"`` (the default) and preference lists pick the first backend whose
model serves the request and can run here; the others are kept with why and what they cost."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

import arthur_gen
from arthur_gen import (
    Availability,
    BackendUnavailableError,
    InvalidRequestError,
    NeedsKeyError,
    UnknownModelError,
)
from arthur_gen._backends import LocalBackend, LocalContext, LocalOutput, VideoBackend
from arthur_gen._config import set_config_value
from arthur_gen._models import Capability, Kind, ModelInfo, Price
from arthur_gen.testing import FakePlugin, FakeProvider, FakeVideoBackend, png_bytes, registered

TOKEN_ENV = "ARTHUR_GEN_TEST_ROUTING_TOKEN"


class LocalClip(LocalBackend, VideoBackend):
    """A local text-to-video backend whose weights and memory need are set by the test."""

    id: ClassVar[str] = "local-clip"

    def __init__(self, *, weights: bool = True, memory_gb: int = 8, machine_gb: int = 16) -> None:
        self.weights = weights
        self.memory_gb = memory_gb
        self.machine_gb = machine_gb
        self.calls = 0

    @property
    def default_model(self) -> str:
        return "tiny-wan"

    def models(self) -> Sequence[ModelInfo]:
        return (
            ModelInfo(
                id="tiny-wan",
                kind=Kind.VIDEO,
                capabilities={Capability.TEXT_TO_VIDEO},
                price=Price.free(),
                supports_seed=True,
            ),
        )

    def model_availability(self, model: ModelInfo) -> Availability:
        if not self.weights:
            return Availability.no(
                "weights of tiny-wan are not in ~/models (about 17 GB)", "convert them first"
            )
        if self.memory_gb > self.machine_gb:
            return Availability.no(
                f"tiny-wan needs {self.memory_gb} GB of memory; this machine has {self.machine_gb}"
            )
        return Availability.yes()

    def generate(self, request: Any, model: ModelInfo, ctx: LocalContext) -> list[LocalOutput]:
        self.calls += 1
        path = ctx.workdir / "out.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42local")
        return [LocalOutput(path=path, seed=request.seed, media_type="video/mp4")]


class CloudClip(FakeVideoBackend):
    """A remote backend that needs a key from ``TOKEN_ENV``; counts its submits."""

    id: ClassVar[str] = "cloud-clip"
    key_name: ClassVar[str | None] = "cloudclip"
    key_env_var: ClassVar[str | None] = TOKEN_ENV
    offline_help: ClassVar[str] = "Try it offline with `cloud-clip-emulator`."

    def __init__(self, provider: FakeProvider) -> None:
        super().__init__(provider)
        self.submits = 0

    def submit(self, request: Any, model: ModelInfo, ctx: Any) -> str:
        self.submits += 1
        return super().submit(request, model, ctx)


Pair = tuple[LocalClip, CloudClip]


@pytest.fixture
def pair(provider: FakeProvider) -> Iterator[Pair]:
    local, cloud = LocalClip(), CloudClip(provider)
    with registered(FakePlugin(local, cloud), name="test-routing-pair"):
        yield local, cloud


def _jobs() -> list[str]:
    return [row.backend for row in arthur_gen.history()]


def test_auto_runs_local_when_its_weights_are_here(pair: Pair, monkeypatch: Any) -> None:
    local, cloud = pair
    monkeypatch.setenv(TOKEN_ENV, "tok")
    video = arthur_gen.generate_video("waves", seed=1)
    assert video.backend == "local-clip" and video.cost_usd == 0
    assert local.calls == 1 and cloud.submits == 0
    route = arthur_gen.plan("video", "waves").route
    assert route is not None and route.chosen is not None and route.chosen.backend == "local-clip"
    (cloud_option,) = [o for o in route.options if o.backend == "cloud-clip"]
    assert cloud_option.runs and not cloud_option.chosen and cloud_option.usd == 0.5


def test_auto_falls_back_to_the_cloud_and_says_why(pair: Pair, monkeypatch: Any) -> None:
    local, cloud = pair
    local.weights = False
    monkeypatch.setenv(TOKEN_ENV, "tok")
    plan = arthur_gen.plan("video", "waves")
    assert plan.backend.id == "cloud-clip" and plan.estimate.usd == 0.5
    route = plan.to_dict()["route"]
    assert route["runs"] == "cloud-clip" and route["preference"] == ["auto"]
    first, second = route["options"]
    assert (first["backend"], first["runs"], first["usd"]) == ("local-clip", False, 0.0)
    assert "weights of tiny-wan" in first["reason"] and first["fix"] == "convert them first"
    assert (second["backend"], second["chosen"], second["usd"]) == ("cloud-clip", True, 0.5)
    video = arthur_gen.generate_video("waves")
    assert video.backend == "cloud-clip" and local.calls == 0 and cloud.submits == 1


def test_memory_too_small_is_skipped(pair: Pair, monkeypatch: Any) -> None:
    local, _ = pair
    local.memory_gb = 64
    monkeypatch.setenv(TOKEN_ENV, "tok")
    route = arthur_gen.plan("video", "waves").route
    assert route is not None and route.chosen is not None and route.chosen.backend == "cloud-clip"
    assert "needs 64 GB of memory" in route.skipped()[0].reason


def test_a_request_the_local_model_cannot_serve_goes_to_the_cloud(
    pair: Pair, monkeypatch: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok")
    frame = tmp_path / "frame.png"
    frame.write_bytes(png_bytes(32, 32))
    plan = arthur_gen.plan("video", "waves", first_frame=str(frame))
    assert plan.backend.id == "cloud-clip"
    assert plan.route is not None
    (skipped,) = plan.route.skipped()
    assert skipped.backend == "local-clip" and not skipped.serves and "tiny-wan" in skipped.reason


def test_a_preference_list_is_tried_in_order(pair: Pair, monkeypatch: Any) -> None:
    _, cloud = pair
    monkeypatch.setenv(TOKEN_ENV, "tok")
    assert arthur_gen.plan("video", "w", backend=["cloud-clip", "local-clip"]).backend.id == "cloud-clip"
    assert arthur_gen.plan("video", "w", backend="cloud-clip,local-clip").backend.id == "cloud-clip"
    assert arthur_gen.plan("video", "w", backend=["local-clip", "cloud-clip"]).backend.id == "local-clip"
    # "auto" inside a list stands for the installed backends not named
    route = arthur_gen.plan("video", "w", backend=["cloud-clip", "auto"]).route
    assert route is not None and [o.backend for o in route.options] == ["cloud-clip", "local-clip"]
    monkeypatch.delenv(TOKEN_ENV)
    video = arthur_gen.generate_video("w", backend=["cloud-clip", "local-clip"])
    assert video.backend == "local-clip" and cloud.submits == 0


def test_an_explicit_key_makes_the_remote_backend_runnable(pair: Pair) -> None:
    local, cloud = pair
    local.weights = False
    assert arthur_gen.plan("video", "w", key="tok").route.runs  # type: ignore[union-attr]
    assert not arthur_gen.plan("video", "w").route.runs  # type: ignore[union-attr]
    video = arthur_gen.generate_video("w", key="tok")
    assert video.backend == "cloud-clip" and cloud.submits == 1


def test_config_and_environment_preferences(pair: Pair, monkeypatch: Any, home: Path) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok")
    set_config_value("defaults.video_backend", ["cloud-clip", "local-clip"])  # a TOML array
    assert 'video_backend = ["cloud-clip", "local-clip"]' in (home / "config.toml").read_text()
    assert arthur_gen.plan("video", "w").backend.id == "cloud-clip"
    set_config_value("defaults.video_backend", "local-clip,cloud-clip")  # a comma string
    assert arthur_gen.plan("video", "w").backend.id == "local-clip"
    monkeypatch.setenv("ARTHUR_GEN_VIDEO_BACKEND", "cloud-clip,auto")  # the environment wins
    assert arthur_gen.plan("video", "w").backend.id == "cloud-clip"
    assert arthur_gen.plan("video", "w", backend="local-clip").backend.id == "local-clip"  # the call wins
    set_config_value("defaults.video_backend", "cloud-clip")
    monkeypatch.delenv("ARTHUR_GEN_VIDEO_BACKEND")
    assert arthur_gen.plan("video", "w").route is None  # one backend named: no routing


def test_nothing_runnable_lists_every_option_with_cost_and_fix(pair: Pair, home: Path) -> None:
    local, cloud = pair
    local.weights = False
    with pytest.raises(NeedsKeyError) as info:  # one backend named: its own missing-key error
        arthur_gen.generate_video("waves", backend="cloud-clip")
    with pytest.raises(BackendUnavailableError) as info2:
        arthur_gen.generate_video("waves")
    message = str(info2.value)
    assert not isinstance(info2.value, NeedsKeyError)
    assert "local-clip (local, tiny-wan, free): weights of tiny-wan" in message
    assert "fix: convert them first" in message
    assert "cloud-clip (remote, fake-clip, $0.5000): missing API key" in message and TOKEN_ENV in message
    assert (
        "`--backend cloud-clip` (backend='cloud-clip') for $0.5000 once " + TOKEN_ENV + " is set" in message
    )
    assert "cloud-clip-emulator" in message  # the backend's offline_help
    assert TOKEN_ENV in str(info.value)
    assert local.calls == 0 and cloud.submits == 0 and arthur_gen.history() == []
    # the dry run still shows the options, nothing can run
    route = arthur_gen.plan("video", "waves").route
    assert route is not None and not route.runs and [o.runs for o in route.options] == [False, False]


def test_only_missing_keys_is_a_needs_key_error(provider: FakeProvider) -> None:
    class Other(CloudClip):
        id: ClassVar[str] = "other-cloud"

    both = FakePlugin(CloudClip(provider), Other(provider))
    expected = r"no video backend can run this request here \(auto\)"
    with registered(both, name="test-two-clouds"), pytest.raises(NeedsKeyError, match=expected):
        arthur_gen.generate_video("w")


def test_a_model_routes_to_the_backends_that_have_it(pair: Pair, monkeypatch: Any) -> None:
    monkeypatch.setenv(TOKEN_ENV, "tok")
    plan = arthur_gen.plan("video", "w", model="fake-clip")
    assert plan.backend.id == "cloud-clip"
    assert plan.route is not None and plan.route.options[0].model is None  # local-clip has no such model
    with pytest.raises(UnknownModelError, match="no video backend has a model 'nope'"):
        arthur_gen.plan("video", "w", model="nope")


def test_bad_preferences_fail_before_anything(pair: Pair) -> None:
    with pytest.raises(UnknownModelError, match=r"no video backend 'clod-clip'.*did you mean 'cloud-clip'"):
        arthur_gen.plan("video", "w", backend=["clod-clip", "local-clip"])
    with pytest.raises(InvalidRequestError, match="names a backend twice"):
        arthur_gen.plan("video", "w", backend="local-clip,local-clip")
    with pytest.raises(InvalidRequestError, match="empty name"):
        arthur_gen.plan("video", "w", backend="local-clip,")
    assert arthur_gen.plan("video", "w", backend="").route is not None  # "" is the default: auto
    with pytest.raises(InvalidRequestError, match="a backend id, 'auto', or a list"):
        arthur_gen.plan("video", "w", backend=[1, 2])  # type: ignore[list-item]
    assert arthur_gen.history() == []


def test_an_invalid_request_keeps_its_own_message(pair: Pair) -> None:
    with pytest.raises(InvalidRequestError, match=r"no video backend's model can serve this request"):
        arthur_gen.plan("video", "w", duration=99)


def test_cli_dry_run_shows_both_options_side_by_side(pair: Pair, monkeypatch: Any, capsys: Any) -> None:
    from arthur_gen.cli._main import main

    pair[0].weights = False
    monkeypatch.setenv(TOKEN_ENV, "tok")
    assert main(["video", "waves", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "routing:  auto -> cloud-clip" in out
    lines = [line.split() for line in out.splitlines() if "-clip" in line and ("free" in line or "$" in line)]
    assert lines[0][:5] == ["local-clip", "local", "tiny-wan", "free", "skipped:"]
    assert lines[1] == ["->", "cloud-clip", "remote", "fake-clip", "$0.5000", "runs"]
    assert main(["video", "waves", "--dry-run", "--json", "-b", "local-clip,cloud-clip"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (
        data["route"]["preference"] == ["local-clip", "cloud-clip"] and data["route"]["runs"] == "cloud-clip"
    )


def test_cli_run_says_which_backend_ran_and_why(pair: Pair, monkeypatch: Any, capsys: Any) -> None:
    from arthur_gen.cli._main import main

    pair[0].weights = False
    monkeypatch.setenv(TOKEN_ENV, "tok")
    assert main(["video", "waves"]) == 0
    err = capsys.readouterr().err
    assert "video backend auto: cloud-clip (fake-clip) (skipped local-clip: weights of tiny-wan" in err
    monkeypatch.delenv(TOKEN_ENV)
    assert main(["video", "waves", "--duration", "3"]) == 1
    err = capsys.readouterr().err
    assert "no video backend can run this request here" in err and "--backend cloud-clip" in err
    assert "Traceback" not in err


def test_backends_and_doctor_agree(pair: Pair, monkeypatch: Any, capsys: Any) -> None:
    from arthur_gen.cli._main import main

    def both() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        assert main(["backends", "--json"]) == 0
        rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
        assert main(["doctor", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        return rows, {b["id"]: b for b in report["backends"]}, report["routing"]["video"]

    for token in (None, "tok"):
        if token:
            monkeypatch.setenv(TOKEN_ENV, token)
        for weights in (True, False):
            pair[0].weights = weights
            rows, doctor, routing = both()
            for bid in ("local-clip", "cloud-clip"):
                assert rows[bid]["available"] == doctor[bid]["available"], (bid, token, weights)
                assert rows[bid]["reason"] == doctor[bid]["reason"]
            assert rows["cloud-clip"]["available"] is bool(token)
            defaults = [bid for bid, r in rows.items() if r["default"]]
            assert defaults == ([routing["runs"]] if routing["runs"] else [])
            expected = "local-clip" if weights else ("cloud-clip" if token else None)
            assert routing["runs"] == expected
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "* local-clip" not in out and "* cloud-clip" in out  # weights off, key on
    assert "tiny-wan (not ready)" in out


def test_no_backend_installed_says_which_plugins_make_one() -> None:
    for spec in (None, "auto", ["auto"]):
        with pytest.raises(UnknownModelError, match=r"no video backend is installed.*arthur-gen-mlx-video"):
            arthur_gen.plan("video", "w", backend=spec)
    set_config_value("defaults.video_backend", "auto")
    with pytest.raises(UnknownModelError, match="no video backend is installed"):
        arthur_gen.generate_video("w")


def test_a_configured_backend_that_cannot_run_is_not_marked_default(pair: Pair, capsys: Any) -> None:
    from arthur_gen.cli._main import main

    pair[0].weights = False
    set_config_value("defaults.video_backend", "local-clip")
    assert main(["backends", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["local-clip"]["available"] and not rows["local-clip"]["default"]
    assert main(["doctor", "--json"]) == 0
    routing = json.loads(capsys.readouterr().out)["routing"]["video"]
    assert routing["runs"] is None and "weights of tiny-wan" in routing["error"]
    pair[0].weights = True
    assert main(["backends", "--json"]) == 0
    assert {r["id"]: r for r in json.loads(capsys.readouterr().out)}["local-clip"]["default"]


def test_estimate_shows_every_option_with_its_cost(pair: Pair, monkeypatch: Any) -> None:
    local, _ = pair
    local.weights = False
    monkeypatch.setenv(TOKEN_ENV, "tok")
    cost = arthur_gen.estimate("video", "waves")
    assert cost.usd == 0.5  # what would run: the cloud
    options = {o.backend: (o.usd, o.runs, o.chosen) for o in cost.options}
    assert options == {"local-clip": (0.0, False, False), "cloud-clip": (0.5, True, True)}
    assert [o["backend"] for o in cost.to_dict()["options"]] == ["local-clip", "cloud-clip"]  # type: ignore[union-attr]
    named = arthur_gen.estimate("video", "waves", backend="cloud-clip")
    assert named.usd == 0.5 and named.options == () and "options" not in named.to_dict()
