"""The one-pass render: decode -> filter graph (crop/scale/pad/blur) -> timeline -> overlays ->
encode, streaming one frame at a time; the sound is streamed too (``_mixdown``), interleaved.
"""

from __future__ import annotations

import fractions
import functools
import math
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidRequestError, JobCanceledError
from ._probe import Probe, probe
from ._recipe import (
    Captions,
    Card,
    Custom,
    EditRequest,
    Fps,
    Gif,
    Logo,
    LowerThird,
    Music,
    Poster,
    Reformat,
    Speed,
    Still,
    Title,
    Transition,
    Trim,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["RenderPlan", "Segment", "plan_render", "render"]

RATE = 48_000


@attrs.frozen(kw_only=True)
class Segment:
    """A piece of the timeline: a video span, a still, or a card."""

    source: Probe | None  # None for a text card
    start: float = 0.0
    end: float = 0.0
    speed: float = 1.0
    duration: float  # output seconds
    still: Still | None = None
    card: Card | None = None


@attrs.frozen(kw_only=True)
class RenderPlan:
    width: int
    height: int
    fps: float
    mode: str
    color: str
    segments: tuple[Segment, ...]
    transition: Transition  # the general one
    joins: tuple[Transition, ...]  # the transition at each junction
    overlaps: tuple[int, ...]  # frames shared with the next segment (crossfade)
    fades: tuple[int, ...]  # frames faded to/from black at each junction (each side)
    frame_counts: tuple[int, ...]
    preset: str | None
    bitrate: int | None
    has_audio: bool

    @property
    def total_frames(self) -> int:
        return sum(self.frame_counts) - sum(self.overlaps)

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps


def plan_render(request: EditRequest) -> RenderPlan:
    """Everything about the output, from the inputs' probes; InvalidRequestError if impossible."""
    from ._presets import get_preset

    recipe = request.recipe
    probes = [probe(p) for p in request.inputs]
    reformat: Reformat | None = recipe.first(Reformat)
    preset = get_preset(reformat.preset) if reformat and reformat.preset else None
    first_video = next((p for p in probes if not p.is_image), None)
    if reformat is not None:
        width, height = reformat.size()
    else:
        base = first_video or probes[0]
        width, height = base.width - base.width % 2, base.height - base.height % 2
    fps_op: Fps | None = recipe.first(Fps)
    if fps_op is not None:
        fps = float(fps_op.fps)
    else:
        fps = round(first_video.fps, 3) if first_video else 30.0
        if preset is not None:
            fps = min(max(fps, preset.min_fps), preset.max_fps)
    still = recipe.first(Still) or Still()
    trims = recipe.all(Trim)
    speeds = recipe.all(Speed)
    segments: list[Segment] = []
    for index, pr in enumerate(probes):
        if pr.is_image:
            segments.append(Segment(source=pr, duration=still.duration, still=still))
            continue
        start, end, speed = 0.0, pr.duration, 1.0
        for t in trims:
            if t.input in (None, index):
                start, end = t.start, min(pr.duration, t.end if t.end is not None else pr.duration)
        for s in speeds:
            if s.input in (None, index):
                speed = s.factor
        if start >= pr.duration or end - start < 1 / fps:
            raise InvalidRequestError(
                f"trim of {pr.path} keeps nothing: it is {pr.duration:.2f} s long, trim asks "
                f"{start:g}-{end:g} s",
                field="trim",
            )
        segments.append(Segment(source=pr, start=start, end=end, speed=speed, duration=(end - start) / speed))
    for card in recipe.all(Card):
        piece = Segment(source=None, duration=card.duration, card=card)
        segments.insert(0, piece) if card.where == "intro" else segments.append(piece)
    counts = [max(1, round(s.duration * fps)) for s in segments]
    general = [t for t in recipe.all(Transition) if t.after is None]
    transition: Transition = general[0] if general else Transition(kind="cut", duration=0)
    own = {t.after: t for t in recipe.all(Transition) if t.after is not None}
    for after in own:
        if after >= len(probes) - 1:
            raise InvalidRequestError(
                f"transition after={after} names no join: there are {len(probes)} inputs "
                f"(joins after 0 to {len(probes) - 2})",
                field="transition",
            )
    inputs_at = [k for k, seg in enumerate(segments) if seg.card is None]  # input i -> segment
    overlaps, fades, joins = [], [], []
    for i in range(len(segments) - 1):
        here = transition
        if i in inputs_at and i + 1 in inputs_at and inputs_at.index(i) + 1 == inputs_at.index(i + 1):
            here = own.get(inputs_at.index(i), transition)
        joins.append(here)
        limit = min(counts[i], counts[i + 1]) // 2
        frames = min(limit, round(here.duration * fps))
        overlaps.append(frames if here.kind == "crossfade" else 0)
        fades.append(max(1, frames // 2) if here.kind == "fade" and frames else 0)
    music: Music | None = recipe.first(Music)
    has_audio = music is not None or any(s.source is not None and s.source.has_audio for s in segments)
    plan = RenderPlan(
        width=width,
        height=height,
        fps=fps,
        mode=reformat.mode if reformat else "fit",
        color=reformat.color if reformat else "black",
        segments=tuple(segments),
        transition=transition,
        joins=tuple(joins),
        overlaps=tuple(overlaps),
        fades=tuple(fades),
        frame_counts=tuple(counts),
        preset=preset.name if preset else None,
        bitrate=preset.bitrate if preset else None,
        has_audio=has_audio,
    )
    if preset is not None:
        preset.check_timing(plan.duration, fps)
    for op in recipe.all(Captions):
        op.all_cues()  # a bad file fails here, before anything is written
    return plan


# --- video: one filter graph per source ---------------------------------------------------


def _graph(frame: Any, plan: RenderPlan) -> Any:
    """A libavfilter graph turning ``frame``-shaped input into an output-sized rgb24 frame."""
    import av.filter

    w, h, W, H = frame.width, frame.height, plan.width, plan.height
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format=frame.format.name, time_base=fractions.Fraction(1, 1000))
    sink = graph.add("buffersink")
    cover = max(W / w, H / h)
    contain = min(W / w, H / h)
    if plan.mode == "fill":
        cw, ch = min(w, round(W / cover)), min(h, round(H / cover))
        crop = graph.add("crop", f"{cw}:{ch}:{(w - cw) // 2}:{(h - ch) // 2}")
        scale = graph.add("scale", f"{W}:{H}:flags=bicubic")
        fmt = graph.add("format", "rgb24")
        src.link_to(crop)
        crop.link_to(scale)
        scale.link_to(fmt)
        fmt.link_to(sink)
    else:
        fw, fh = max(2, round(w * contain) // 2 * 2), max(2, round(h * contain) // 2 * 2)
        scale = graph.add("scale", f"{fw}:{fh}:flags=bicubic")
        fmt = graph.add("format", "rgb24")
        if plan.mode == "fit":
            from ._draw import check_color

            r, g, b, _ = check_color(plan.color, "color")
            pad = graph.add("pad", f"{W}:{H}:{(W - fw) // 2}:{(H - fh) // 2}:0x{r:02x}{g:02x}{b:02x}")
            src.link_to(scale)
            scale.link_to(pad)
            pad.link_to(fmt)
            fmt.link_to(sink)
        else:  # blur: the clip filled, shrunk, blurred, stretched back, under the fitted clip
            split = graph.add("split")
            cw, ch = min(w, round(W / cover)), min(h, round(H / cover))
            crop = graph.add("crop", f"{cw}:{ch}:{(w - cw) // 2}:{(h - ch) // 2}")
            small = graph.add("scale", f"{max(2, W // 8)}:{max(2, H // 8)}")
            blur = graph.add("gblur", "sigma=2")
            big = graph.add("scale", f"{W}:{H}:flags=bilinear")
            over = graph.add("overlay", f"{(W - fw) // 2}:{(H - fh) // 2}")
            src.link_to(split)
            split.link_to(crop, 0, 0)
            split.link_to(scale, 1, 0)
            crop.link_to(small)
            small.link_to(blur)
            blur.link_to(big)
            big.link_to(over, 0, 0)
            scale.link_to(over, 0, 1)
            over.link_to(fmt)
            fmt.link_to(sink)
    graph.configure()
    return graph


def _video_frames(seg: Segment, plan: RenderPlan, count: int) -> Generator[np.ndarray, None, None]:
    """``count`` output frames of a video span: frame-rate change and speed by timestamp."""
    import av

    assert seg.source is not None
    container = av.open(seg.source.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if seg.start > 0 and stream.time_base is not None:
            container.seek(int(seg.start / stream.time_base), stream=stream, backward=True)
        decoded = container.decode(stream)
        graph = None
        current_rgb = None
        pending: Any = None  # the next decoded frame not yet shown
        ahead: Any = None
        exhausted = False
        step = 1 / plan.fps
        for j in range(count):
            want = seg.start + (j + 0.5) * step * seg.speed  # the frame on screen mid-interval
            chosen = None
            while not exhausted:
                if ahead is None:
                    try:
                        ahead = next(decoded)
                    except StopIteration:
                        exhausted = True
                        break
                    except av.error.FFmpegError as exc:
                        raise InvalidRequestError(
                            f"{seg.source.path}: decoding failed ({exc}); the file is damaged", field="inputs"
                        ) from None
                t = float(ahead.time) if ahead.time is not None else 0.0
                if t <= want:
                    chosen, ahead = ahead, None
                    continue
                break
            if chosen is not None:
                pending = chosen
            if pending is not None:
                if graph is None:
                    graph = _graph(pending, plan)
                graph.push(pending)
                current_rgb = graph.pull().to_ndarray()
                pending = None
            if current_rgb is None:  # nothing decoded up to the first wanted time: take the next
                if ahead is None:
                    raise InvalidRequestError(
                        f"{seg.source.path}: no frames in the trimmed span", field="trim"
                    )
                graph = graph or _graph(ahead, plan)
                graph.push(ahead)
                current_rgb = graph.pull().to_ndarray()
                ahead = None
            yield current_rgb.copy()
    finally:
        container.close()


def _still_frames(seg: Segment, plan: RenderPlan, count: int) -> Iterator[np.ndarray]:
    """A still with a slow zoom/pan (Ken Burns), or a static card."""
    import numpy as np
    from PIL import Image

    from ._draw import fit_image

    W, H = plan.width, plan.height
    if seg.card is not None:
        base = _card_image(seg.card, plan)
        for _ in range(count):
            yield base.copy()
        return
    assert seg.source is not None and seg.still is not None
    zoom, pan = seg.still.zoom, seg.still.pan
    bw, bh = round(W * zoom), round(H * zoom)
    base_img = Image.fromarray(fit_image(seg.source.path, bw, bh, plan.mode, plan.color))
    for j in range(count):
        u = j / max(1, count - 1)
        z = 1 + (zoom - 1) * u
        ww, wh = bw / z, bh / z
        cx = {"left": 1 - u, "right": u}.get(pan, 0.5)
        cy = {"up": 1 - u, "down": u}.get(pan, 0.5)
        x0, y0 = (bw - ww) * cx, (bh - wh) * cy
        frame = base_img.resize((W, H), Image.Resampling.BILINEAR, box=(x0, y0, x0 + ww, y0 + wh))
        yield np.array(frame, dtype=np.uint8)  # writable: overlays draw on it


def _card_image(card: Card, plan: RenderPlan) -> np.ndarray:
    import numpy as np

    from ._draw import blend, check_color, fit_image, load_font, text_patch

    W, H = plan.width, plan.height
    if card.image:
        frame = fit_image(card.image, W, H, "fit", card.background).copy()
    else:
        r, g, b, _ = check_color(card.background, "background")
        frame = np.empty((H, W, 3), dtype=np.uint8)
        frame[:] = (r, g, b)
    if card.text:
        patch = _text(card, card.text, plan, load_font, text_patch)
        blend(frame, patch, (W - patch.shape[1]) // 2, (H - patch.shape[0]) // 2)
    return frame


def _text(
    op: Any, text: str, plan: RenderPlan, load_font: Callable[..., Any], text_patch: Callable[..., Any]
) -> Any:
    px = max(6, round(op.size * plan.height))
    return text_patch(
        text,
        font=load_font(op.font, px),
        max_width=round(plan.width * 0.9),
        color=op.color,
        stroke_color=op.stroke_color,
        stroke_width=round(op.stroke * px),
        box=op.box,
        padding=round(px * 0.3) if op.box else 0,
    )


def _scaled(frame: np.ndarray, weight: float) -> np.ndarray:
    """``frame`` times ``weight`` (0..1) in 8-bit fixed point: no float copy of a 1080p frame."""
    import numpy as np

    w = round(weight * 256)
    out = frame.astype(np.uint16)
    out *= w
    out >>= 8
    return out.astype(np.uint8)


def _blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``a`` * (1 - weight) + ``b`` * weight, in 8-bit fixed point."""
    import numpy as np

    w = round(weight * 256)
    out = a.astype(np.uint16)
    out *= 256 - w
    tmp = b.astype(np.uint16)
    tmp *= w
    out += tmp
    out >>= 8
    return out.astype(np.uint8)


def _segment_frames(plan: RenderPlan, i: int) -> Generator[np.ndarray, None, None]:
    """Segment ``i``'s frames with its own fades through black (to and from its neighbours)."""
    seg, count, last = plan.segments[i], plan.frame_counts[i], len(plan.segments) - 1
    frames = _video_frames(seg, plan, count) if seg.still is None and seg.card is None else None
    fade_in = plan.fades[i - 1] if i > 0 else 0
    fade_out = plan.fades[i] if i < last else 0
    try:
        for j, frame in enumerate(frames if frames is not None else _still_frames(seg, plan, count)):
            if j < fade_in:
                frame = _scaled(frame, (j + 1) / (fade_in + 1))
            if count - j <= fade_out:
                frame = _scaled(frame, (count - j) / (fade_out + 1))
            yield frame
    finally:
        if frames is not None:
            frames.close()


def _timeline(plan: RenderPlan) -> Iterator[np.ndarray]:
    """Every output frame in order: segments joined by cut, crossfade or fade through black.

    A crossfade decodes both sides at once and blends frame by frame, so no frames are kept.
    """
    n = len(plan.segments)
    current = _segment_frames(plan, 0)
    done = 0  # frames of the current segment already shown (blended into the previous one)
    try:
        for i in range(n):
            keep = plan.overlaps[i] if i < n - 1 else 0
            for _ in range(plan.frame_counts[i] - keep - done):
                yield next(current)
            if i == n - 1:
                break
            following = _segment_frames(plan, i + 1)
            try:
                for j in range(keep):
                    yield _blend(next(current), next(following), (j + 1) / (keep + 1))
            except BaseException:
                following.close()
                raise
            current.close()
            current, done = following, keep
    finally:
        current.close()


# --- overlays -------------------------------------------------------------------------------


class _Overlays:
    """Logos, titles, lower thirds, captions and plugin operations, applied in recipe order."""

    def __init__(self, request: EditRequest, plan: RenderPlan) -> None:
        from ._draw import load_font, logo_patch, text_patch

        self.plan = plan
        self.items: list[tuple[float, float, Any, int, int]] = []  # start, end, patch, x, y
        self.custom: list[tuple[Any, dict[str, Any]]] = []
        W, H = plan.width, plan.height
        self._steps: list[Callable[[Any, float], None]] = []
        for op in request.recipe.operations:
            if isinstance(op, Logo):
                patch = logo_patch(op.path, max(1, round(op.size * W)), op.opacity)
                m = round(op.margin * W)
                x = m if op.corner.endswith("left") else W - patch.shape[1] - m
                y = m if op.corner.startswith("top") else H - patch.shape[0] - m
                self._add(0.0, math.inf, patch, x, y)
            elif isinstance(op, Title):
                patch = _text(op, op.text, plan, load_font, text_patch)
                x = (W - patch.shape[1]) // 2
                y = {"top": round(H * 0.08), "bottom": round(H * 0.92) - patch.shape[0]}.get(
                    op.position, (H - patch.shape[0]) // 2
                )
                self._add(op.start, op.start + op.duration, patch, x, y)
            elif isinstance(op, LowerThird):
                patch = _text(op, op.text, plan, load_font, text_patch)
                self._add(op.start, op.start + op.duration, patch, round(W * 0.05), round(H * 0.72))
            elif isinstance(op, Captions):
                for start, end, text in op.all_cues():
                    patch = _text(op, text, plan, load_font, text_patch)
                    x, y = (W - patch.shape[1]) // 2, round(H * 0.9) - patch.shape[0]
                    self._add(start, end, patch, x, y)
            elif isinstance(op, Custom):
                from ._postprocessors import get_postprocessor

                processor, params = get_postprocessor(op.name), dict(op.params)
                self._steps.append(functools.partial(_custom, processor=processor, params=params))

    def _add(self, start: float, end: float, patch: Any, x: int, y: int) -> None:
        from ._draw import blend

        def step(frame: Any, t: float) -> None:
            if start <= t < end:
                blend(frame, patch, x, y)

        self._steps.append(step)

    def apply(self, frame: Any, t: float) -> Any:
        for step in self._steps:
            step(frame, t)
        return frame


def _custom(frame: Any, t: float, processor: Any, params: dict[str, Any]) -> None:
    out = processor.process(frame, t, params)
    if out is not frame:
        if getattr(out, "shape", None) != frame.shape:
            raise InvalidRequestError(
                f"post-processor {processor.name!r} returned a frame of shape {getattr(out, 'shape', out)}, "
                f"expected {frame.shape}"
            )
        frame[...] = out


# --- extras: poster and GIF -----------------------------------------------------------------


class _Extras:
    def __init__(self, request: EditRequest, plan: RenderPlan) -> None:
        self.poster: Poster | None = request.recipe.first(Poster)
        self.gif: Gif | None = request.recipe.first(Gif)
        self.plan = plan
        self.best: Any = None
        self.best_score = -1.0
        self.gif_frames: list[Any] = []
        self._gif_slot = -1
        self._every = max(1, round(plan.fps / 4))

    def see(self, k: int, frame: Any) -> None:
        import numpy as np

        t = k / self.plan.fps
        if self.poster is not None:
            if self.poster.at is not None:
                if self.best is None or abs(t - self.poster.at) < abs(self.best_score - self.poster.at):
                    self.best, self.best_score = frame.copy(), t
            elif k % self._every == 0:
                gray = frame[::4, ::4].astype(np.float32).mean(axis=2)
                lap = (
                    gray[1:-1, 1:-1] * 4 - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
                )
                score = float(lap.var()) if lap.size else 0.0
                if score > self.best_score:
                    self.best, self.best_score = frame.copy(), score
        if self.gif is not None and self.gif.start <= t < self.gif.start + self.gif.duration:
            slot = int((t - self.gif.start) * self.gif.fps)
            if slot != self._gif_slot:
                from PIL import Image

                self._gif_slot = slot
                h = max(2, round(frame.shape[0] * self.gif.width / frame.shape[1]))
                self.gif_frames.append(
                    Image.fromarray(frame).resize((self.gif.width, h), Image.Resampling.BILINEAR)
                )

    def write(self, workdir: Path) -> list[tuple[Path, str]]:
        from PIL import Image

        out: list[tuple[Path, str]] = []
        if self.poster is not None and self.best is not None:
            path = workdir / "poster.jpg"
            Image.fromarray(self.best).save(path, "JPEG", quality=92)
            out.append((path, "image/jpeg"))
        if self.gif is not None and self.gif_frames:
            path = workdir / "clip.gif"
            frames = self.gif_frames
            # palettegen: one palette from a mosaic of the frames; paletteuse: dithered mapping
            w, h = frames[0].size
            sample = frames[:: max(1, len(frames) // 16)]
            mosaic = Image.new("RGB", (w, h * len(sample)))
            for i, f in enumerate(sample):
                mosaic.paste(f, (0, i * h))
            palette = mosaic.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
            mapped = [f.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for f in frames]
            mapped[0].save(
                path, save_all=True, append_images=mapped[1:], duration=round(1000 / self.gif.fps), loop=0
            )
            out.append((path, "image/gif"))
        return out


# --- the pass --------------------------------------------------------------------------------


def render(
    request: EditRequest,
    workdir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[tuple[Path, str]]:
    """Render ``request`` into ``workdir``: ``[(path, media type), ...]``, the MP4 first."""
    from ._encode import Mp4Encoder

    plan = plan_render(request)
    overlays = _Overlays(request, plan)
    audio: Any = None
    if plan.has_audio:
        from ._mixdown import Mixdown

        mixdown = Mixdown(request, plan)
        mixdown.measure()  # a music file without sound fails here, before anything is written
        audio = mixdown.blocks()
    extras = _Extras(request, plan)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "edit.mp4"
    encoder = Mp4Encoder(
        out, width=plan.width, height=plan.height, fps=plan.fps, bitrate=plan.bitrate, audio=audio is not None
    )
    total = plan.total_frames
    try:
        for k, frame in enumerate(_timeline(plan)):
            if cancelled is not None and cancelled():
                raise JobCanceledError("the edit was cancelled")
            frame = overlays.apply(frame, k / plan.fps)
            extras.see(k, frame)
            encoder.add(frame)
            if audio is not None:  # the sound up to the end of this frame: the two interleave
                due = round((k + 1) / plan.fps * RATE)
                while encoder.audio_samples < due:
                    block = next(audio, None)
                    if block is None:
                        break
                    encoder.add_audio(block)
            if progress is not None and (k % 30 == 0 or k == total - 1):
                progress(k + 1, total)
        if audio is not None:
            for block in audio:
                encoder.add_audio(block)
        encoder.close()
    except BaseException:
        if audio is not None:
            audio.close()
        encoder.abort()
        out.unlink(missing_ok=True)
        raise
    if plan.preset is not None:
        from ._presets import get_preset

        get_preset(plan.preset).check_size(out.stat().st_size)
    return [(out, "video/mp4"), *extras.write(workdir)]
