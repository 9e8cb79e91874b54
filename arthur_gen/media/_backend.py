"""The core's own edit backend: a local, free job kind run by the same runner as generations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .._backends import LocalBackend, LocalContext, LocalOutput
from .._models import Kind, ModelInfo, Price
from ..errors import InvalidRequestError

__all__ = ["EDIT_MODEL", "EditBackend"]

EDIT_MODEL = ModelInfo(
    id="pyav",
    kind=Kind.EDIT,
    capabilities=(),
    price=Price.free(),
    description="one-pass PyAV render: reformat, concat, overlays, audio, H.264/AAC export",
    supports_seed=False,
)


class EditBackend(LocalBackend):
    """Renders :class:`EditRequest` recipes with PyAV (``pip install 'arthur-gen[edit]'``)."""

    id: ClassVar[str] = "edit"
    kind: ClassVar[Kind] = Kind.EDIT
    display_name: ClassVar[str] = "arthur-gen edit (PyAV)"
    max_concurrency: ClassVar[int] = 2

    @property
    def default_model(self) -> str:
        return EDIT_MODEL.id

    def models(self) -> Sequence[ModelInfo]:
        return (EDIT_MODEL,)

    def availability(self) -> Any:
        from .._models import Availability

        try:
            import av  # noqa: F401
            import numpy  # noqa: F401
            import PIL  # noqa: F401
        except ImportError as exc:
            return Availability.no(f"{exc.name} is not installed", "pip install 'arthur-gen[edit]'")
        return Availability.yes()

    def validate(self, request: Any, model: ModelInfo) -> None:
        from ._recipe import EditRequest
        from ._render import plan_render

        if not isinstance(request, EditRequest):
            raise InvalidRequestError(f"the edit backend takes an EditRequest, not {type(request).__name__}")
        plan_render(request)  # probes every input, checks preset limits and caption files

    def describe_request(self, request: Any, model: ModelInfo) -> Mapping[str, Any]:
        from ._render import plan_render

        plan = plan_render(request)
        return {
            "width": plan.width,
            "height": plan.height,
            "fps": plan.fps,
            "duration_s": round(plan.duration, 3),
            "frames": plan.total_frames,
            "preset": plan.preset,
            "audio": plan.has_audio,
        }

    def generate(self, request: Any, model: ModelInfo, ctx: LocalContext) -> Sequence[LocalOutput]:
        from ._render import plan_render, render

        plan = plan_render(request)
        files = render(request, ctx.workdir, progress=ctx.progress, cancelled=lambda: ctx.cancelled)
        info = {
            "preset": plan.preset,
            "width": plan.width,
            "height": plan.height,
            "fps": plan.fps,
            "duration_s": round(plan.duration, 3),
        }
        return [LocalOutput(path=path, media_type=media, metadata=info) for path, media in files]
