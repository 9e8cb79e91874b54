"""Every hook is documented under its exact signature (datasette's check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arthur_gen._plugins import pm

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugin_hooks.md"
HOOKS = sorted(name for name in dir(pm.hook) if not name.startswith("_"))


def test_hooks_found() -> None:
    assert "register_image_backends" in HOOKS and "register_video_backends" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hook_is_documented(hook: str) -> None:
    caller = getattr(pm.hook, hook)
    assert caller.spec is not None, f"{hook} has no hookspec"
    signature = f"{hook}({', '.join(caller.spec.argnames)})"
    assert f"## {signature}" in DOCS.read_text(), f"docs/plugin_hooks.md has no section '## {signature}'"


def test_hookspecs_take_keyword_arguments_without_defaults() -> None:
    for hook in HOOKS:
        spec = getattr(pm.hook, hook).spec
        assert spec is not None
        assert not spec.kwargnames, f"{hook} has arguments with defaults: {spec.kwargnames}"
