"""Headless Chromium for the page-rendering tests: where it is and the environment it runs in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def chromium_env() -> dict[str, str]:
    """This process's environment without ``LD_PRELOAD``: the OpenBLAS that
    ``scripts/mlx-cpu-env.sh`` preloads for MLX keeps Chromium's zygote from starting."""
    return {name: value for name, value in os.environ.items() if name != "LD_PRELOAD"}
