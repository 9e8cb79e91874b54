"""The backend contract suite that plugin authors run, here against the core's own fakes."""

from __future__ import annotations

import os
from pathlib import Path

from arthur_gen.testing import BackendConformance, FakeImageBackend, FakeProvider, FakeVideoBackend


def _provider() -> FakeProvider:
    # called inside each test, when ARTHUR_GEN_HOME is the test's own tmp_path
    return FakeProvider(Path(os.environ["ARTHUR_GEN_HOME"]) / "conformance-provider", latency_s=0.05)


class TestFakeImageBackendConformance(BackendConformance):
    backend_factory = staticmethod(lambda: FakeImageBackend())
    run_generation = True


class TestFakeVideoBackendConformance(BackendConformance):
    backend_factory = staticmethod(lambda: FakeVideoBackend(_provider()))
    sample_prompt = "waves at dusk"
    run_generation = True
