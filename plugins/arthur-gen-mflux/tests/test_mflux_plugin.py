"""The plugin as a package: cheap to import, found through its entry point, registers once."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import arthur_gen_mflux
from arthur_gen_mflux import MfluxBackend

HEAVY = ("mlx", "mflux", "torch", "huggingface_hub", "transformers", "numpy", "PIL")


def _modules_after(code: str) -> list[str]:
    script = (
        f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    loaded: list[str] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_import_is_light() -> None:
    assert _modules_after("import arthur_gen_mflux") == []


def test_catalog_and_checks_are_light() -> None:
    code = (
        "import arthur_gen_mflux\n"
        "b = arthur_gen_mflux.MfluxBackend()\n"
        "b.availability()\n"
        "for m in b.models():\n"
        "    b.model_availability(m); b.model_version(m); m.to_dict()\n"
    )
    assert _modules_after(code) == []


def test_entry_point() -> None:
    (ep,) = importlib.metadata.entry_points(group="arthur_gen", name="mflux")
    assert ep.value == "arthur_gen_mflux"
    assert ep.load() is arthur_gen_mflux


def test_hook_registers_one_shared_backend() -> None:
    registered: list[object] = []
    arthur_gen_mflux.register_image_backends(register=registered.append)
    arthur_gen_mflux.register_image_backends(register=registered.append)
    first, second = registered
    assert isinstance(first, MfluxBackend)
    assert first is second  # warm models survive the core collecting backends again
    assert first.id == "mflux"
