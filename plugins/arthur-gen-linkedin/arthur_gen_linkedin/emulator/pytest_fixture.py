"""The ``linkedin_emulator`` pytest fixture: a started :class:`Emulator`, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import Emulator


@pytest.fixture
def linkedin_emulator() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator
