"""A mistyped backend or model id gets a "did you mean" with the closest real ids."""

from __future__ import annotations

import pytest

from arthur_gen import UnknownModelError
from arthur_gen._models import Kind
from arthur_gen._registry import choose_backend, find_model
from arthur_gen.testing import FakeImageBackend, FakePlugin, FakeProvider, registered


def test_mistyped_model_id_suggests_the_closest(image_backend: FakeImageBackend) -> None:
    with pytest.raises(
        UnknownModelError, match=r"no model 'fake-skech'.*did you mean 'fake-sketch'\?"
    ) as info:
        find_model(image_backend, "fake-skech")
    assert "`arthur-gen models`" in str(info.value)


def test_case_and_partial_ids_are_suggested(image_backend: FakeImageBackend) -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean 'fake-sketch'\?"):
        find_model(image_backend, "FAKE-SKETCH")
    with pytest.raises(UnknownModelError, match=r"did you mean 'fake-sketch'\?"):
        find_model(image_backend, "ske")


def test_unrelated_id_gets_no_guess(image_backend: FakeImageBackend) -> None:
    with pytest.raises(UnknownModelError) as info:
        find_model(image_backend, "zzzzzz")
    assert "did you mean" not in str(info.value)


def test_mistyped_backend_id_suggests_the_closest(provider: FakeProvider) -> None:
    with registered(FakePlugin(FakeImageBackend(), FakeImageBackend(backend_id="replicate"))):
        with pytest.raises(UnknownModelError, match=r"backend 'replicat'.*did you mean 'replicate'\?"):
            choose_backend(Kind.IMAGE, "replicat")
        with pytest.raises(UnknownModelError) as info:
            choose_backend(Kind.IMAGE, "qqqq")
        assert "did you mean" not in str(info.value)


def test_no_backend_hint_names_a_plugin_of_that_kind(provider: FakeProvider) -> None:
    with pytest.raises(
        UnknownModelError, match=r"no video backend is installed.*arthur-gen-mlx-video"
    ) as info:
        choose_backend(Kind.VIDEO, None)
    assert "arthur-gen-mflux" not in str(info.value) and "arthur-gen-replicate" in str(info.value)
    with pytest.raises(UnknownModelError, match=r"no image backend is installed.*arthur-gen-mflux"):
        choose_backend(Kind.IMAGE, None)
