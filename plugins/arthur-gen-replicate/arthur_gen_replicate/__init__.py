"""arthur-gen-replicate: images and videos on Replicate, as arthur-gen backends.

Registers the ``replicate`` image backend (FLUX schnell, dev, 1.1-pro) and the ``replicate``
video backend (MiniMax video-01 and peers, Kling, Wan, and any other Replicate model by id).
Importing this module is cheap: ``replicate`` and ``httpx`` load only when a job runs.

The loopback emulator of Replicate's API used by the tests (and usable offline) lives in
:mod:`arthur_gen_replicate.emulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import arthur_gen

from ._backend import ReplicateImageBackend, ReplicateVideoBackend

if TYPE_CHECKING:
    from arthur_gen._registry import RegisterImageBackend, RegisterVideoBackend

__all__ = [
    "ReplicateImageBackend",
    "ReplicateVideoBackend",
    "register_image_backends",
    "register_video_backends",
]


@arthur_gen.hookimpl
def register_image_backends(register: RegisterImageBackend) -> None:
    register(ReplicateImageBackend())


@arthur_gen.hookimpl
def register_video_backends(register: RegisterVideoBackend) -> None:
    register(ReplicateVideoBackend())
