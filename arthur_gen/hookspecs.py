"""Hook specifications: what a plugin may implement.

Plugins write ``@arthur_gen.hookimpl`` functions with these names in a module named by an
entry point in the ``arthur_gen`` group. Each hook receives a ``register`` callable; call it
once per backend. Hook arguments have no defaults and are passed by keyword.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    from ._registry import RegisterImageBackend, RegisterVideoBackend
    from .media._postprocessors import RegisterPostprocessor
    from .publish import RegisterPublisher

__all__ = [
    "hookimpl",
    "hookspec",
    "register_image_backends",
    "register_postprocessors",
    "register_publishers",
    "register_video_backends",
]

hookspec = HookspecMarker("arthur_gen")
hookimpl = HookimplMarker("arthur_gen")


@hookspec
def register_image_backends(register: RegisterImageBackend) -> None:
    """Register image backends: call ``register(backend)`` for each ``ImageBackend``."""


@hookspec
def register_video_backends(register: RegisterVideoBackend) -> None:
    """Register video backends: call ``register(backend)`` for each ``VideoBackend``."""


@hookspec
def register_postprocessors(register: RegisterPostprocessor) -> None:
    """Register edit operations: call ``register(postprocessor)`` for each ``Postprocessor``."""


@hookspec
def register_publishers(register: RegisterPublisher) -> None:
    """Register publishing platforms: call ``register(publisher)`` for each ``Publisher``."""
