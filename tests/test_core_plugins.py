"""Plugin loading against real (dummy) distributions installed on a private site dir."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen import PluginError, PluginWarning
from arthur_gen._plugins import pm

DUMMY = '''
"""A dummy arthur-gen plugin: one local image backend, {backend_id!r}."""
from arthur_gen import (
    Capability, ImageBackend, Kind, LocalBackend, LocalOutput, ModelInfo, Price, hookimpl,
)


class DummyBackend(LocalBackend, ImageBackend):
    id = {backend_id!r}

    @property
    def default_model(self):
        return "dummy-model"

    def models(self):
        return (
            ModelInfo(
                id="dummy-model",
                kind=Kind.IMAGE,
                capabilities={{Capability.TEXT_TO_IMAGE}},
                price=Price.free(),
            ),
        )

    def generate(self, request, model, ctx):
        from arthur_gen.testing import png_bytes

        path = ctx.workdir / "out.png"
        path.write_bytes(png_bytes(8, 8, request.seed or 0))
        return [LocalOutput(path=path, seed=request.seed)]


@hookimpl
def {hook}(register):
    register(DummyBackend())
'''


def install(
    helpers: Any,
    site: Path,
    dist: str,
    *,
    backend_id: str = "dummy",
    hook: str = "register_image_backends",
    source: str | None = None,
) -> str:
    module = dist.replace("-", "_")
    name = module.removeprefix("arthur_gen_")
    code = source if source is not None else DUMMY.format(backend_id=backend_id, hook=hook)
    helpers.make_dist(site, dist, {name: module}, {module: code})
    return name


def backend_ids() -> list[str]:
    return [b["id"] for b in arthur_gen.list_backends()]


def test_installed_dummy_loads_and_is_listed(
    site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(helpers, site_dir, "arthur-gen-dummy")
    monkeypatch.delenv("ARTHUR_GEN_LOAD_PLUGINS")  # everything installed, as users run it
    (entry,) = [b for b in arthur_gen.list_backends() if b["id"] == "dummy"]
    assert entry["plugin"] == "dummy"
    assert entry["available"] is True
    assert ("dummy", "dummy-model") in [(b, m.id) for b, m in arthur_gen.list_models()]
    plugins = {p["name"]: p for p in arthur_gen.get_plugins()}
    assert plugins["dummy"]["distribution"] == "arthur-gen-dummy 0.1"
    assert plugins["dummy"]["hooks"] == ["register_image_backends"]
    result = arthur_gen.generate_image("a dot", backend="dummy", seed=1, out_dir=tmp_path / "out")
    assert result.path.exists() and result.backend == "dummy"


def test_empty_load_plugins_loads_none(site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    install(helpers, site_dir, "arthur-gen-dummy")
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "")
    assert arthur_gen.list_backends() == []
    assert pm.get_plugin("dummy") is None
    assert "arthur_gen_dummy" not in sys.modules


def test_comma_list_loads_only_those_distributions(
    site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arthur_gen import _plugins

    install(helpers, site_dir, "arthur-gen-dummy", backend_id="dummy")
    install(helpers, site_dir, "arthur-gen-dummy2", backend_id="dummy2")
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "arthur-gen-dummy2")
    assert backend_ids() == ["dummy2"]
    assert "arthur_gen_dummy" not in sys.modules
    assert pm.get_plugin("replicate") is None and pm.get_plugin("mflux") is None

    # read at call time; names are normalised (case, '_' vs '-', spaces)
    _plugins._reset_for_tests()
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", " Arthur_Gen_Dummy , arthur-gen-dummy2")
    assert backend_ids() == ["dummy", "dummy2"]


def test_broken_plugin_is_a_warning_naming_it(
    site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(helpers, site_dir, "arthur-gen-dummy")
    install(helpers, site_dir, "arthur-gen-broken", source="raise ImportError('needs libfoo 2')\n")
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "arthur-gen-dummy,arthur-gen-broken")
    with pytest.warns(PluginWarning, match=r"'broken' from arthur-gen-broken .*needs libfoo 2"):
        ids = backend_ids()
    assert ids == ["dummy"]
    assert pm.get_plugin("broken") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loaded once: no second warning
        result = arthur_gen.generate_image("still works", backend="dummy", out_dir=tmp_path / "o")
    assert result.path.exists()


def test_misspelled_hook_fails_loudly(site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    install(helpers, site_dir, "arthur-gen-dummy-typo", hook="register_image_backend")
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "arthur-gen-dummy-typo")
    with pytest.raises(PluginError, match="register_image_backend") as info:
        arthur_gen.list_backends()
    assert "plugin_hooks.md" in str(info.value)


def test_two_plugins_with_one_backend_id_is_an_error(
    site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(helpers, site_dir, "arthur-gen-dummy", backend_id="same")
    install(helpers, site_dir, "arthur-gen-dummy2", backend_id="same")
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "arthur-gen-dummy,arthur-gen-dummy2")
    with pytest.raises(PluginError, match="'same'") as info:
        arthur_gen.list_backends()
    message = str(info.value)
    assert "'dummy'" in message and "'dummy2'" in message
    with pytest.raises(PluginError):
        arthur_gen.generate_image("x", backend="same")


def test_plugins_load_lazily_and_once(site_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from arthur_gen import _plugins

    install(helpers, site_dir, "arthur-gen-dummy")
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "arthur-gen-dummy")
    real: Callable[..., Any] = _plugins.find_entry_points
    calls: list[Any] = []

    def counting(group: str) -> Any:
        calls.append({"group": group})
        return real(group)

    monkeypatch.setattr(_plugins, "find_entry_points", counting)
    assert not _plugins._loaded
    arthur_gen.Kind  # noqa: B018 - touching the public API loads nothing
    assert calls == [] and "arthur_gen_dummy" not in sys.modules
    assert backend_ids() == ["dummy"]
    arthur_gen.list_models()
    arthur_gen.get_plugins()
    backend_ids()
    assert calls == [{"group": "arthur_gen"}]


def test_backends_cli_lists_installed_dummy(site_dir: Path, helpers: Any, children: Any, home: Path) -> None:
    install(helpers, site_dir, "arthur-gen-dummy")
    env = {k: v for k, v in os.environ.items() if k != "ARTHUR_GEN_LOAD_PLUGINS"}
    env.update(PYTHONPATH=str(site_dir), ARTHUR_GEN_HOME=str(home))
    done = children.run([helpers.CLI, "backends", "--json"], env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {"id": "dummy", "plugin": "dummy", "kind": "image"}.items() <= next(
        r for r in rows if r["id"] == "dummy"
    ).items()
    assert "Traceback" not in done.stderr

    env["ARTHUR_GEN_LOAD_PLUGINS"] = ""
    done = children.run([helpers.CLI, "backends", "--json"], env)
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_trace_plugins_prints_hook_calls(site_dir: Path, helpers: Any, children: Any, home: Path) -> None:
    install(helpers, site_dir, "arthur-gen-dummy")
    env = dict(
        os.environ,
        PYTHONPATH=str(site_dir),
        ARTHUR_GEN_HOME=str(home),
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-dummy",
        ARTHUR_GEN_TRACE_PLUGINS="1",
    )
    done = children.run([helpers.CLI, "backends", "--json"], env)
    assert done.returncode == 0, done.stderr
    assert "register_image_backends [hook]" in done.stderr  # the dummy implements only this hook
    assert [r["id"] for r in json.loads(done.stdout)] == ["dummy"]


@pytest.mark.parametrize("group", ["arthur_gen", "console_scripts", "pytest11"])
def test_entry_point_scanner_agrees_with_importlib_metadata(group: str) -> None:
    import importlib.metadata

    from arthur_gen._entry_points import find_entry_points

    ours = sorted((ep.name, ep.value, ep.dist, ep.version) for ep in find_entry_points(group))
    theirs = sorted(
        (ep.name, ep.value, ep.dist.name if ep.dist else "", ep.dist.version if ep.dist else "")
        for ep in importlib.metadata.entry_points(group=group)
    )
    assert ours == theirs
