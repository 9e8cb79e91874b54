"""mflux's loop callbacks turned into ``ctx.progress(step, total)`` and cancellation.

mflux keeps callbacks in a registry on the model (``model.callbacks.register(obj)``, which
duck-types ``call_before_loop`` / ``call_in_loop`` / ``call_after_loop`` /
``call_interrupt``). Steps are reported when computed, then the ``decoding`` phase. A warm
model is reused across jobs, so one :class:`StepBridge` is registered per loaded model, once,
and pointed at the current job's context for each call.

Cancelling raises :class:`JobCanceledError` from the in-loop callback: mflux's denoising loop
catches only ``KeyboardInterrupt``, so the error leaves ``generate_image`` as it is, between
two steps.
"""

from __future__ import annotations

from typing import Any

from arthur_gen import LocalContext

__all__ = ["StepBridge"]


def _span(config: Any) -> tuple[int, int]:
    """(first step index, number of steps the loop runs); image-to-image skips the first."""
    total = int(getattr(config, "num_inference_steps", 0) or 0)
    start = int(getattr(config, "init_time_step", 0) or 0)
    return start, max(total - start, 0)


class StepBridge:
    """Registered once on a loaded mflux model; forwards steps to the current job."""

    def __init__(self) -> None:
        self.ctx: LocalContext | None = None
        self.steps_seen = 0

    def attach(self, ctx: LocalContext | None) -> None:
        self.ctx = ctx
        self.steps_seen = 0

    def call_before_loop(self, config: Any = None, **_: Any) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        ctx.check_cancelled()
        total = _span(config)[1]
        ctx.progress(0, total)

    def call_in_loop(self, t: int, config: Any = None, **_: Any) -> None:
        # mflux calls this after building step ``t`` lazily but before ``mx.eval`` computes it,
        # so step ``t`` is done only at the next call (or after the loop): report the steps
        # before it. No ``denoised`` parameter: mflux then skips computing it for us.
        ctx = self.ctx
        if ctx is None:
            return
        start, total = _span(config)
        done = t - start if total else self.steps_seen
        self.steps_seen += 1
        if done > 0:
            ctx.progress(done, max(total, done))
        ctx.check_cancelled()

    def call_after_loop(self, config: Any = None, **_: Any) -> None:
        """The last step is computed; mflux decodes the latents next."""
        ctx = self.ctx
        if ctx is None:
            return
        total = _span(config)[1] or self.steps_seen
        ctx.progress(total, total)
        ctx.phase("decoding")

    def call_interrupt(self, **_: Any) -> None:
        """mflux calls this on Ctrl-C before raising its StopImageGenerationException."""
