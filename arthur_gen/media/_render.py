"""The one-pass render: decode -> filter graph (crop/scale/pad/blur) -> timeline -> overlays ->
encode, streaming one frame at a time. Audio (small) is mixed whole, then normalised.
"""

from __future__ import annotations

import fractions
import functools
import math
from collections.abc import Callable, Iterator
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
    Loudness,
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
    transition: Transition
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
    transition: Transition = recipe.first(Transition) or Transition(kind="cut", duration=0)
    overlaps, fades = [], []
    for i in range(len(segments) - 1):
        limit = min(counts[i], counts[i + 1]) // 2
        frames = min(limit, round(transition.duration * fps))
        overlaps.append(frames if transition.kind == "crossfade" else 0)
        fades.append(max(1, frames // 2) if transition.kind == "fade" and frames else 0)
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


def _video_frames(seg: Segment, plan: RenderPlan, count: int) -> Iterator[np.ndarray]:
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


def _timeline(plan: RenderPlan) -> Iterator[np.ndarray]:
    """Every output frame in order: segments joined by cut, crossfade or fade through black."""
    import numpy as np

    tail: list[np.ndarray] = []
    last = len(plan.segments) - 1
    for i, seg in enumerate(plan.segments):
        count = plan.frame_counts[i]
        source = _video_frames(seg, plan, count) if seg.still is None and seg.card is None else None
        frames = source if source is not None else _still_frames(seg, plan, count)
        keep = plan.overlaps[i] if i < last else 0
        fade_in = plan.fades[i - 1] if i > 0 else 0
        fade_out = plan.fades[i] if i < last else 0
        new_tail: list[np.ndarray] = []
        for j, frame in enumerate(frames):
            if j < len(tail):  # crossfade: a blend of the previous clip's tail and this head
                a = (j + 1) / (len(tail) + 1)
                frame = (tail[j] * (1 - a) + frame * a).astype(np.uint8)
            if j < fade_in:
                frame = (frame * ((j + 1) / (fade_in + 1))).astype(np.uint8)
            if count - j <= fade_out:
                frame = (frame * ((count - j) / (fade_out + 1))).astype(np.uint8)
            if j >= count - keep:
                new_tail.append(frame)
                continue
            yield frame
        tail = new_tail


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


# --- audio ----------------------------------------------------------------------------------


def _mix_audio(request: EditRequest, plan: RenderPlan) -> np.ndarray | None:
    import numpy as np

    from ._audio import decode_audio, duck_envelope, fade, fit_length, normalize, resample

    if not plan.has_audio:
        return None
    total = round(plan.duration * RATE)
    clips = np.zeros((2, total), dtype=np.float32)
    pos = 0
    for i, seg in enumerate(plan.segments):
        n = round(plan.frame_counts[i] / plan.fps * RATE)
        if seg.source is not None and seg.source.has_audio and seg.still is None:
            piece = decode_audio(seg.source.path, start=seg.start, end=seg.end)
            if seg.speed != 1.0:
                piece = resample(piece, round(RATE * seg.speed), RATE)
            piece = fit_length(piece, n, loop=False).copy()
            ov_in = round(plan.overlaps[i - 1] / plan.fps * RATE) if i > 0 else 0
            ov_out = round(plan.overlaps[i] / plan.fps * RATE) if i < len(plan.overlaps) else 0
            fd_in = round(plan.fades[i - 1] / plan.fps * RATE) if i > 0 else 0
            fd_out = round(plan.fades[i] / plan.fps * RATE) if i < len(plan.fades) else 0
            fade(piece, fade_in=max(ov_in, fd_in) / RATE, fade_out=max(ov_out, fd_out) / RATE)
            end = min(total, pos + n)
            clips[:, pos:end] += piece[:, : end - pos]
        ov = round(plan.overlaps[i] / plan.fps * RATE) if i < len(plan.overlaps) else 0
        pos += n - ov
    mix = clips
    music: Music | None = request.recipe.first(Music)
    if music is not None:
        track = decode_audio(music.path, start=music.start, end=music.end)
        if track.shape[1] == 0:
            raise InvalidRequestError(f"music={music.path!r} has no audio stream", field="music")
        track = fit_length(track, total, loop=music.loop).copy()
        fade(track, fade_in=music.fade_in, fade_out=music.fade_out)
        track *= np.float32(10 ** (music.volume_db / 20))
        if music.duck_db > 0 and np.abs(clips).max(initial=0.0) > 1e-4:
            track *= duck_envelope(clips, depth_db=music.duck_db)[None, :]
        mix = clips + track
    loudness: Loudness = request.recipe.first(Loudness) or Loudness()
    return normalize(mix, loudness.target)


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
    audio = _mix_audio(request, plan)
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
            if progress is not None and (k % 30 == 0 or k == total - 1):
                progress(k + 1, total)
        if audio is not None:
            encoder.add_audio(audio)
        encoder.close()
    except BaseException:
        encoder.abort()
        out.unlink(missing_ok=True)
        raise
    if plan.preset is not None:
        from ._presets import get_preset

        get_preset(plan.preset).check_size(out.stat().st_size)
    return [(out, "video/mp4"), *extras.write(workdir)]
