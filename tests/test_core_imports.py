"""Listing backends and models loads no heavy dependency (mlx, mflux, torch, replicate...)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

HEAVY = ("mlx", "mflux", "torch", "replicate", "httpx", "av")
PROBE = (
    "import arthur_gen, sys; arthur_gen.list_backends(); arthur_gen.list_models(); "
    f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
)


def _env_with_all_plugins(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ARTHUR_GEN_LOAD_PLUGINS"}
    env["ARTHUR_GEN_HOME"] = str(home)
    return env


def test_listing_imports_nothing_heavy(children: Any, home: Path) -> None:
    done = children.run([sys.executable, "-c", PROBE], _env_with_all_plugins(home))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_plain_import_is_lazy(children: Any, home: Path) -> None:
    code = (
        "import arthur_gen, json, sys; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('arthur_gen'))))"
    )
    done = children.run([sys.executable, "-c", code], _env_with_all_plugins(home))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["arthur_gen"]


def test_backends_cli_imports_nothing_heavy(children: Any, helpers: Any, home: Path) -> None:
    code = (
        "import runpy, sys, atexit\n"
        f"atexit.register(lambda: print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
        f"sys.argv = [{helpers.CLI!r}, 'backends', '--json']\n"
        "from arthur_gen.cli._main import main\n"
        "code = main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "sys.exit(code)\n"
    )
    done = children.run([sys.executable, "-c", code], _env_with_all_plugins(home))
    assert done.returncode == 0, done.stderr
    body, _, heavy = done.stdout.rpartition("HEAVY")
    assert heavy.strip() == "[]"
    rows = json.loads(body)
    assert all({"id", "kind", "available", "reason"} <= set(r) for r in rows)

    real = children.run([helpers.CLI, "backends", "--json"], _env_with_all_plugins(home))
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout) == rows
