"""Checks of a call's run arguments made before anything is planned, stored or paid for.

Each failure is an InvalidRequestError naming the argument, the value and the fix; no job row
exists yet, so nothing is left behind that a later ``resume`` could submit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError

__all__ = ["check_input_images", "check_output_folder", "check_prompt", "check_run_arguments"]


def check_prompt(prompt: Any) -> None:
    """A prompt must be sendable: encodable as UTF-8 (no lone surrogates)."""
    if isinstance(prompt, str):
        try:
            prompt.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequestError(
                f"the prompt has a character that is not valid text at position {exc.start} "
                f"({prompt[exc.start]!r}, a lone surrogate); remove it or re-read the text as UTF-8"
            ) from None


def check_output_folder(folder: Path, what: str = "the output folder") -> None:
    """The folder (or the nearest existing parent) must be a writable directory."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == folder else f"is under a file ({probe})"
        raise InvalidRequestError(f"{what} {folder} {where}; pass a folder, e.g. --out ./videos")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise InvalidRequestError(
            f"{what} {folder} is not writable (no permission on {probe}); choose another folder"
        )


def check_run_arguments(run: Mapping[str, Any]) -> None:
    """Type and value checks of key, out_dir, timeout, cache, parents, on_progress, cancel_event."""
    from .._secrets import Secret

    key = run.get("key")
    if key is not None and not isinstance(key, str | Secret):
        raise InvalidRequestError(f"key={type(key).__name__} value: pass the API token as a string")
    timeout = run.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise InvalidRequestError(
                f"timeout={timeout!r} is not a number of seconds; pass e.g. timeout=600"
            )
        if not math.isfinite(timeout) or timeout <= 0:
            raise InvalidRequestError(
                f"timeout={timeout!r} is not a positive number of seconds; pass e.g. timeout=600 "
                "(or leave it out for the model's default)"
            )
    out_dir = run.get("out_dir")
    if out_dir is not None:
        if not isinstance(out_dir, str | os.PathLike) or (isinstance(out_dir, str) and not out_dir.strip()):
            raise InvalidRequestError(f"out_dir={out_dir!r} is not a folder path; pass e.g. out_dir='videos'")
        try:
            folder = Path(out_dir).expanduser()
        except (RuntimeError, ValueError):
            raise InvalidRequestError(
                f"out_dir={out_dir!r} names an unknown home folder; pass a full path"
            ) from None
        check_output_folder(folder)
    else:
        from .._config import load_settings

        configured: Any = load_settings().output_dir
        if not isinstance(configured, str | os.PathLike):
            raise InvalidRequestError(
                f"output_dir = {configured!r} in the config file is not a folder path; set it to a "
                'quoted path, e.g. output_dir = "~/Videos/arthur-gen"'
            )
        check_output_folder(Path(configured).expanduser(), "the configured output_dir")
    cache = run.get("cache", True)
    if not isinstance(cache, bool):
        raise InvalidRequestError(f"cache={cache!r}: pass True or False")
    parents = run.get("parents") or ()
    if isinstance(parents, str | bytes) or not all(isinstance(p, str) for p in _iter(parents, "parents")):
        raise InvalidRequestError(f"parents={parents!r}: pass a list of job ids, e.g. parents=['01a2...']")
    progress = run.get("on_progress")
    if progress is not None and not callable(progress):
        raise InvalidRequestError(f"on_progress={progress!r} is not callable; pass a function of one event")
    cancel = run.get("cancel_event")
    if cancel is not None and not (
        callable(getattr(cancel, "is_set", None)) and callable(getattr(cancel, "wait", None))
    ):
        raise InvalidRequestError(f"cancel_event={cancel!r} is not a threading.Event; pass threading.Event()")


def _iter(value: Any, name: str) -> list[Any]:
    try:
        return list(value)
    except TypeError:
        raise InvalidRequestError(f"{name}={value!r}: pass a list of job ids") from None


def check_input_images(fields: Mapping[str, Any]) -> None:
    """Local input images (``image``, ``first_frame``, ``last_frame``) must be real images:
    decoded far enough (Pillow) to know their format and size, before anything is uploaded."""
    from .._requests import is_url

    for name in ("image", "first_frame", "last_frame"):
        value = fields.get(name)
        if not isinstance(value, str | os.PathLike) or (isinstance(value, str) and is_url(value)):
            continue
        try:
            path = Path(value).expanduser()
            if not path.is_file():
                continue  # the request's own check names a missing file
        except (OSError, RuntimeError, ValueError):
            continue  # an unusable path: the request's own check names it
        if path.stat().st_size == 0:
            raise InvalidRequestError(f"{name} {path} is an empty file; pass a PNG, JPEG or WebP image")
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow comes with the edit and mflux extras
            continue
        try:
            with Image.open(path) as image:
                image.verify()
                size, kind = image.size, image.format
        except Exception as exc:
            raise InvalidRequestError(
                f"{name} {path} is not an image Pillow can read ({type(exc).__name__}); pass a PNG, "
                "JPEG or WebP image"
            ) from None
        if not size[0] or not size[1] or kind is None:
            raise InvalidRequestError(f"{name} {path} has no pixels; pass a PNG, JPEG or WebP image")
