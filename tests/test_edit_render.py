"""The render engine: outputs decoded with PyAV and checked pixel by pixel, sample by sample."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from arthur_gen.errors import InvalidRequestError
from arthur_gen.media import read_mp4_metadata, write_video
from arthur_gen.media._audio import decode_audio, integrated_loudness
from arthur_gen.media._mp4meta import top_level_boxes
from arthur_gen.media._recipe import (
    Captions,
    Card,
    EditRecipe,
    EditRequest,
    Fps,
    Gif,
    Logo,
    Music,
    Poster,
    Reformat,
    Speed,
    Still,
    Transition,
    Trim,
)
from arthur_gen.media._render import plan_render, render

from ._edit_media import make_media, tone


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def ffmpeg_lufs(path: Path) -> float:
    import imageio_ffmpeg

    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return float(re.findall(r"I:\s+(-?[0-9.]+) LUFS", out)[-1])


def test_write_video_encoding_faststart_and_metadata(tmp_path: Path) -> None:
    path = write_video(
        (np.full((90, 160, 3), i * 5, np.uint8) for i in range(36)),
        tmp_path / "v.mp4",
        fps=24,
        metadata={"job_id": "abc", "request": {"kind": "edit"}},
        audio=(tone(1.5, 440, 0.2), 44_100),
    )
    boxes = [kind for kind, _, _ in top_level_boxes(path)]
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # +faststart
    assert read_mp4_metadata(path) == {"job_id": "abc", "request": {"kind": "edit"}}
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        cc = v.codec_context
        assert (cc.width, cc.height, cc.name, cc.profile, cc.pix_fmt) == (160, 90, "h264", "High", "yuv420p")
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (1, 1, 1)  # BT.709 tags
        assert v.frames == 36 and v.average_rate == 24
        assert a.codec_context.name == "aac" and a.rate == 48_000
    assert not list(tmp_path.glob(".*part"))


def keyframes_of(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        packets = sorted((p for p in c.demux(video=0) if p.size), key=lambda p: p.pts)
    return [i for i, p in enumerate(packets) if p.is_keyframe]


@pytest.mark.parametrize("mac", [False, True])
def test_closed_gops_of_half_the_frame_rate_and_the_videotoolbox_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mac: bool
) -> None:
    """Keyframes every 12 frames at 24 fps; on a Mac whose h264_videotoolbox cannot open (a VM,
    no hardware; here: the Linux build has none), the same libx264 encoding, not a failure."""
    from arthur_gen.media import _encode

    if mac:
        monkeypatch.setattr(_encode.platform, "system", lambda: "Darwin")
        monkeypatch.setattr(av, "codecs_available", {*av.codecs_available, "h264_videotoolbox"})
        assert _encode._video_codec() == "h264_videotoolbox"
    path = write_video(
        (np.full((90, 160, 3), i * 5, np.uint8) for i in range(48)), tmp_path / "g.mp4", fps=24
    )
    assert keyframes_of(path) == [0, 12, 24, 36]
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.profile == "High"


def test_write_video_rejects_bad_frames_without_leaving_a_file(tmp_path: Path) -> None:
    from arthur_gen.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="HxWx3 uint8"):
        write_video([np.zeros((10, 10), np.uint8)], tmp_path / "x.mp4", fps=24)
    with pytest.raises(InvalidRequestError, match="no frames"):
        write_video([], tmp_path / "x.mp4", fps=24)
    assert list(tmp_path.iterdir()) == []


def test_fill_crossfade_logo_and_timed_caption(media: dict[str, Path], tmp_path: Path) -> None:
    recipe = EditRecipe(
        [
            Reformat(width=320, height=400, mode="fill"),
            Transition(kind="crossfade", duration=0.5),
            Logo(path=str(media["logo"]), corner="top-right", size=0.1, margin=0.05),
            Captions(cues=[(0.2, 1.0, "HELLO")], color="white", box=None, stroke=0, size=0.1),
        ]
    )
    (out, kind), *_ = render(EditRequest(inputs=[media["red"], media["blue"]], recipe=recipe), tmp_path)
    assert kind == "video/mp4"
    frames = frames_of(out)
    assert len(frames) == 48 + 48 - 12  # 2 s + 2 s at 24 fps, minus a 0.5 s overlap
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 24
        assert abs(c.duration / 1e6 - 3.5) < 0.05
    assert frames[0].shape == (400, 320, 3)
    # the logo: 32 px green square 16 px from the top-right corner, in every frame
    for f in frames[::10]:
        patch = f[20:44, 276:300].astype(int)
        assert patch[..., 1].mean() > 200 and patch[..., 0].mean() < 60
    # the caption: white pixels in its band only between 0.2 s and 1.0 s
    band = slice(300, 360)

    def white(f: np.ndarray) -> int:
        return int((f[band].min(axis=2) > 200).sum())

    assert white(frames[12]) > 50  # 0.5 s
    assert white(frames[2]) == 0 and white(frames[30]) == 0  # 0.08 s and 1.25 s
    # crossfade frames (1.5-2.0 s) are blends of red and blue, red falling as blue rises
    mid = [f[200:260, 100:200].reshape(-1, 3).mean(axis=0) for f in frames[34:50]]
    reds, blues = [m[0] for m in mid], [m[2] for m in mid]
    assert reds[0] > 170 and blues[0] < 50 and reds[-1] < 50 and blues[-1] > 170
    blended = [m for m in mid if 50 < m[0] < 170 and 50 < m[2] < 170]
    assert len(blended) >= 4
    assert all(a >= b - 3 for a, b in itertools.pairwise(reds))


def test_fit_pads_with_colour_and_blur_fills_behind(media: dict[str, Path], tmp_path: Path) -> None:
    fit = EditRecipe([Reformat(width=200, height=200, mode="fit", color="#00ff00")])
    (out, _), *_ = render(EditRequest(inputs=[media["red"]], recipe=fit), tmp_path / "fit")
    f = frames_of(out)[0].astype(int)
    assert f[5, 100, 1] > 200 and f[5, 100, 0] < 60  # padding above the 200x112 picture
    assert f[100, 100, 0] > 170  # the red clip in the middle
    blur = EditRecipe([Reformat(width=200, height=200, mode="blur")])
    (out, _), *_ = render(EditRequest(inputs=[media["red"]], recipe=blur), tmp_path / "blur")
    f = frames_of(out)[0].astype(int)
    assert f[5, 100, 0] > 120  # the blurred red clip behind, not black bars


def test_trim_speed_and_fade_through_black(media: dict[str, Path], tmp_path: Path) -> None:
    recipe = EditRecipe(
        [Trim(start=0.5, end=1.5, input=0), Speed(factor=2.0, input=0), Transition(kind="fade", duration=0.5)]
    )
    (out, _), *_ = render(EditRequest(inputs=[media["red"], media["red"]], recipe=recipe), tmp_path)
    frames = frames_of(out)
    assert len(frames) == 12 + 48  # 1 s at 2x = 0.5 s, then the whole 2 s clip
    levels = [f.mean() for f in frames[6:20]]
    assert min(levels) < 20 < max(levels)  # through black at the join


def test_each_join_has_its_own_transition(media: dict[str, Path], tmp_path: Path) -> None:
    """red -> blue crossfades, blue -> red fades through black: mixed transitions as asked."""
    recipe = EditRecipe(
        [
            Reformat(width=160, height=90),
            Fps(fps=24),
            Transition(kind="crossfade", duration=0.5, after=0),
            Transition(kind="fade", duration=0.5, after=1),
        ]
    )
    inputs = [media["red"], media["blue"], media["red"]]
    (out, _), *_ = render(EditRequest(inputs=inputs, recipe=recipe), tmp_path)
    frames = [f[20:70, 40:120].reshape(-1, 3).mean(axis=0) for f in frames_of(out)]
    assert len(frames) == 3 * 48 - 12  # only the crossfade overlaps
    r, b = np.array([f[0] for f in frames]), np.array([f[2] for f in frames])
    blended = (r > 60) & (b > 60)  # both clips at once
    assert blended[36:48].sum() >= 5 and not blended[:30].any()  # the crossfade at 1.5-2 s
    join = 2 * 48 - 12  # blue -> red
    assert not blended[join - 12 : join + 12].any()  # no blend at the second join ...
    assert (r + b)[join - 3 : join + 3].min() < 60 < (r + b)[join - 12]  # ... it goes through black


def test_transitions_are_checked(media: dict[str, Path]) -> None:
    with pytest.raises(InvalidRequestError, match="two transitions for every join"):
        EditRecipe([Transition(kind="fade"), Transition(kind="crossfade")])
    with pytest.raises(InvalidRequestError, match="after=3 names no join"):
        plan_render(
            EditRequest(inputs=[media["red"], media["blue"]], recipe=EditRecipe([Transition(after=3)]))
        )


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.shape[0])))
    return float(np.fft.rfftfreq(samples.shape[0], 1 / 48_000)[spectrum.argmax()])


@pytest.mark.parametrize("factor", [2.0, 0.5, 3.0])
def test_speed_keeps_the_pitch(media: dict[str, Path], tmp_path: Path, factor: float) -> None:
    """A sped-up or slowed clip sounds at its own pitch (atempo), not resampled up or down."""
    recipe = EditRecipe([Trim(start=0.0, end=1.5), Speed(factor=factor)])
    (out, _), *_ = render(EditRequest(inputs=[media["red"]], recipe=recipe), tmp_path)
    audio = decode_audio(out)
    assert audio.shape[1] == pytest.approx(1.5 / factor * 48_000, rel=0.03)  # as long as the video
    middle = audio[0, audio.shape[1] // 4 : audio.shape[1] * 3 // 4]
    assert dominant_hz(middle) == pytest.approx(440, rel=0.03)  # the red clip's 440 Hz tone


def test_still_becomes_a_clip_with_zoom_and_cards(media: dict[str, Path], tmp_path: Path) -> None:
    recipe = EditRecipe(
        [
            Reformat(width=160, height=90),
            Still(duration=1.0, zoom=1.5),
            Card(where="outro", text="THE END", duration=0.5, background="blue"),
        ]
    )
    (out, _), *_ = render(EditRequest(inputs=[media["still"]], recipe=recipe), tmp_path)
    frames = frames_of(out)
    assert len(frames) == 30 + 15  # 30 fps default for stills
    assert np.abs(frames[0].astype(int) - frames[29].astype(int)).mean() > 5  # it zooms
    assert frames[-1][..., 2].mean() > 100  # the blue outro card


def test_music_ducked_and_loudness_normalised(media: dict[str, Path], tmp_path: Path) -> None:
    recipe = EditRecipe([Music(path=str(media["music"]), fade_out=0.5)])
    (out, _), *_ = render(EditRequest(inputs=[media["red"], media["blue"]], recipe=recipe), tmp_path)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac" and c.streams.audio[0].rate == 48_000
    assert ffmpeg_lufs(out) == pytest.approx(-14.0, abs=1.0)
    audio = decode_audio(out)
    assert audio.shape[1] == pytest.approx(4.0 * 48_000, rel=0.02)
    # music is louder (relative to the mix) in the second clip, where nothing is ducking it
    first, second = audio[:, 24_000:72_000], audio[:, 120_000:168_000]
    spectrum1, spectrum2 = np.abs(np.fft.rfft(first[0])), np.abs(np.fft.rfft(second[0]))
    hz = np.fft.rfftfreq(first.shape[1], 1 / 48_000)
    music1 = spectrum1[np.argmin(abs(hz - 220))] / spectrum1[np.argmin(abs(hz - 440))]
    assert spectrum2[np.argmin(abs(hz - 220))] > 2.5 * spectrum1[np.argmin(abs(hz - 220))]
    assert music1 < 0.5


def test_loudness_matches_ffmpeg(tmp_path: Path) -> None:
    signal = np.stack([tone(3.0, 1000, 0.1), tone(3.0, 300, 0.05)])
    path = write_video((np.zeros((16, 16, 3), np.uint8) for _ in range(72)), tmp_path / "t.mp4", fps=24,
                       audio=(signal, 48_000))  # fmt: skip
    assert integrated_loudness(decode_audio(path)) == pytest.approx(ffmpeg_lufs(path), abs=0.5)


def test_poster_and_gif(media: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    recipe = EditRecipe([Poster(), Gif(duration=1.0, width=80, fps=10)])
    outputs = render(EditRequest(inputs=[media["still"], media["red"]], recipe=recipe), tmp_path)
    kinds = [k for _, k in outputs]
    assert kinds == ["video/mp4", "image/jpeg", "image/gif"]
    with Image.open(outputs[1][0]) as poster:
        assert poster.size == (160, 90)  # the first video's size
        assert np.asarray(poster.convert("L")).std() > 40  # the sharp grid, not the flat red clip
    with Image.open(outputs[2][0]) as gif:
        assert gif.size[0] == 80 and gif.n_frames == 10
