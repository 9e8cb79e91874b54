"""The registry: backends from registered plugins, choice of backend and model, ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

import arthur_gen
from arthur_gen import PluginError, UnknownModelError
from arthur_gen._models import Capability, Kind, ModelInfo, Price
from arthur_gen._registry import backends, choose_backend, find_model
from arthur_gen.testing import FakeImageBackend, FakePlugin, FakeProvider, FakeVideoBackend, registered


def test_new_plugin_under_a_reused_name_is_seen() -> None:
    """Registering a fresh plugin object under the same name never serves the old backend
    (regression: the cache was keyed by id(), which CPython reuses)."""
    for _ in range(100):  # what fixtures do; CPython soon hands out a freed plugin's id again
        backend = FakeImageBackend()
        with registered(FakePlugin(backend), name="same-name"):
            assert backends(Kind.IMAGE)["fake-image"] is backend


def test_registered_plugins_are_listed_and_removed(image_backend: FakeImageBackend) -> None:
    assert [b["id"] for b in arthur_gen.list_backends()] == ["fake-image"]
    with registered(FakePlugin(FakeImageBackend(backend_id="other-image"))):
        assert [b["id"] for b in arthur_gen.list_backends("image")] == ["fake-image", "other-image"]
    assert [b["id"] for b in arthur_gen.list_backends()] == ["fake-image"]
    names = {p["name"]: p for p in arthur_gen.get_plugins()}
    assert names["test-fake-image"]["distribution"] is None
    assert names["test-fake-image"]["hooks"] == ["register_image_backends", "register_video_backends"]


def test_choose_backend_rules(provider: FakeProvider) -> None:
    with pytest.raises(UnknownModelError, match="no image backend is installed"):
        choose_backend(Kind.IMAGE, None)
    one = FakeImageBackend()
    with registered(FakePlugin(one)):
        assert choose_backend(Kind.IMAGE, None) is one
        with registered(FakePlugin(FakeImageBackend(backend_id="second"))):
            with pytest.raises(UnknownModelError, match=r"several image backends.*fake-image, second"):
                choose_backend(Kind.IMAGE, None)
            assert choose_backend(Kind.IMAGE, "second").id == "second"
            arthur_gen._config.set_config_value("defaults.image_backend", "second")
            assert choose_backend(Kind.IMAGE, None).id == "second"
        with pytest.raises(UnknownModelError, match="no image backend 'nope'; installed: fake-image"):
            choose_backend(Kind.IMAGE, "nope")


def test_the_only_ready_local_backend_is_chosen() -> None:
    class Unavailable(FakeImageBackend):
        def availability(self) -> arthur_gen.Availability:
            return arthur_gen.Availability.no("needs Apple Silicon", "use a Mac")

    ready = FakeImageBackend()
    with registered(FakePlugin(ready, Unavailable(backend_id="mac-only"))):
        assert choose_backend(Kind.IMAGE, None) is ready
        (row,) = [b for b in arthur_gen.list_backends() if b["id"] == "mac-only"]
        assert row["available"] is False and row["reason"] == "needs Apple Silicon"


def test_find_model_by_id_alias_and_default(image_backend: FakeImageBackend) -> None:
    assert find_model(image_backend, None).id == "fake-sketch"
    assert find_model(image_backend, "sketch").id == "fake-sketch"
    with pytest.raises(UnknownModelError, match="has no model 'nope'; its models: fake-sketch") as info:
        find_model(image_backend, "nope")
    assert isinstance(info.value, KeyError)
    assert str(info.value).startswith("backend 'fake-image'")  # plain text, not KeyError's quotes


def test_registering_a_non_backend_is_a_plugin_error() -> None:
    class Bad:
        __name__ = "Bad"

        @arthur_gen.hookimpl
        def register_image_backends(self, register: object) -> None:
            register(object())  # type: ignore[operator]

    with registered(Bad()), pytest.raises(PluginError, match=r"not an arthur_gen\.ImageBackend"):
        arthur_gen.list_backends()


def test_video_backend_under_image_hook_is_a_plugin_error(provider: FakeProvider) -> None:
    class Wrong:
        __name__ = "Wrong"

        @arthur_gen.hookimpl
        def register_image_backends(self, register: object) -> None:
            register(FakeVideoBackend(provider))  # type: ignore[operator]

    with registered(Wrong()), pytest.raises(PluginError, match="video"):
        arthur_gen.list_backends("image")


def test_one_model_id_twice_in_a_backend_is_a_plugin_error() -> None:
    class Twice(FakeImageBackend):
        id: ClassVar[str] = "twice"

        def models(self) -> Sequence[ModelInfo]:
            base = ModelInfo(
                id="m", kind=Kind.IMAGE, capabilities={Capability.TEXT_TO_IMAGE}, price=Price.free()
            )
            other = ModelInfo(
                id="n",
                kind=Kind.IMAGE,
                capabilities={Capability.TEXT_TO_IMAGE},
                price=Price.free(),
                aliases=("m",),
            )
            return (base, other)

    with registered(FakePlugin(Twice())), pytest.raises(PluginError, match="declares 'm' twice"):
        arthur_gen.list_models()


def test_hook_implementations_may_take_no_arguments() -> None:
    class Quiet:
        __name__ = "Quiet"

        @arthur_gen.hookimpl
        def register_image_backends(self) -> None:
            pass

    with registered(Quiet()):
        assert arthur_gen.list_backends() == []
