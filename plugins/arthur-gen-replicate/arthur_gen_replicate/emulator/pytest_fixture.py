"""The `replicate_emulator` pytest fixture: a started `Emulator`, stopped after the test.

Enable it with ``pytest_plugins = ["arthur_gen_replicate.emulator.pytest_fixture"]`` in a
conftest, or import ``replicate_emulator`` into a test module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import Emulator


@pytest.fixture
def replicate_emulator() -> Iterator[Emulator]:
    """An emulator with short timings (starting 0.05 s, processing 0.1 s)."""
    with Emulator(starting_s=0.05, processing_s=0.1) as emulator:
        yield emulator
