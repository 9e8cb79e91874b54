"""The reference edit through arthur-gen vs the ffmpeg CLI running the same graph, in one run.

Two clips of different size and frame rate (1920x1080@30 for --seconds, 1280x720@24 for 10 s)
-> linkedin-portrait fill, 0.5 s crossfade, logo, two timed captions, music ducked under the
clips and normalised to -14 LUFS. Both sides use libx264 veryfast, 8 Mb/s, GOP 15, AAC 192k,
+faststart. Captions are Pillow-rendered PNGs for ffmpeg too (the PyPI builds have no drawtext).
Prints wall time, the ratio (goal <= 1.3x), each side's CPU time (user + system: the work
itself, steadier than wall time on a shared box) and peak RSS (goal <= 300 MiB).

    .venv/bin/python bench/edit.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds: user + system) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd[:3])}...\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    import imageio_ffmpeg
    from PIL import Image

    from arthur_gen.media._draw import load_font, text_patch

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the 1080p clip")
    args = parser.parse_args()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    work = Path(tempfile.mkdtemp(prefix="bench-edit-"))
    a, b, music, logo = work / "a.mp4", work / "b.mp4", work / "music.m4a", work / "logo.png"
    da, db = args.seconds, 10.0
    for path, size, rate, dur, freq in ((a, "1920x1080", 30, da, 440), (b, "1280x720", 24, db, 660)):
        subprocess.run(
            [ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i",
             f"testsrc2=size={size}:rate={rate}:duration={dur}",
             "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={dur}", "-c:v", "libx264", "-preset",
             "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
            check=True,
        )  # fmt: skip
    subprocess.run(
        [ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=20", "-c:a", "aac",
         str(music)],
        check=True,
    )  # fmt: skip
    Image.new("RGBA", (200, 200), (0, 200, 80, 220)).save(logo)
    W, H = 1080, 1350
    captions = [(1.0, 3.0, "Two clips, one pass"), (4.0, 6.0, "Branded for LinkedIn")]
    pngs = []
    for i, (_, _, text) in enumerate(captions):
        patch = text_patch(text, font=load_font(None, 68), max_width=round(W * 0.9), stroke_width=5,
                           box="#00000090", padding=20)  # fmt: skip
        png = work / f"cap{i}.png"
        Image.fromarray(patch).save(png)
        pngs.append((png, patch.shape[1], patch.shape[0]))

    # --- arthur-gen -------------------------------------------------------------------------
    recipe = {
        "operations": [
            {"op": "reformat", "preset": "linkedin-portrait", "mode": "fill"},
            {"op": "fps", "fps": 30},
            {"op": "transition", "kind": "crossfade", "duration": 0.5},
            {"op": "logo", "path": str(logo), "corner": "top-right", "size": 0.15, "margin": 0.03},
            {"op": "captions", "cues": [list(c) for c in captions], "size": 68 / H},
            {"op": "music", "path": str(music), "duck_db": 12, "fade_in": 0, "fade_out": 0},
        ]
    }
    (work / "recipe.json").write_text(json.dumps(recipe))
    env = dict(os.environ, ARTHUR_GEN_HOME=str(work / "home"))
    ours = run(
        [sys.executable, "-m", "arthur_gen", "edit", str(a), str(b), "--recipe", str(work / "recipe.json"),
         "--out", str(work / "ours")],
        env,
    )  # fmt: skip

    # --- ffmpeg CLI, the same graph -----------------------------------------------------------
    lw = round(0.15 * W)
    m = round(0.03 * W)
    cap = [f"[xl{i}][{4 + i}:v]overlay=(W-w)/2:{round(H * 0.9)}-h:enable='between(t,{s},{e})'[xl{i + 1}]"
           for i, (s, e, _) in enumerate(captions)]  # fmt: skip
    graph = ";".join(
        [
            f"[0:v]fps=30,scale={W}:{H}:force_original_aspect_ratio=increase,crop={W}:{H},setsar=1[v0]",
            f"[1:v]fps=30,scale={W}:{H}:force_original_aspect_ratio=increase,crop={W}:{H},setsar=1[v1]",
            f"[v0][v1]xfade=transition=fade:duration=0.5:offset={da - 0.5}[x]",
            f"[2:v]scale={lw}:-1[lg]",
            f"[x][lg]overlay=W-w-{m}:{m}[xl0]",
            *cap,
            f"[xl{len(captions)}]format=yuv420p[vout]",
            "[0:a][1:a]acrossfade=d=0.5[ca]",
            "[ca]asplit[ca1][ca2]",
            "[3:a]aresample=48000[mu]",
            "[mu][ca1]sidechaincompress=threshold=0.01:ratio=8[md]",
            "[ca2][md]amix=inputs=2:duration=first:normalize=0,loudnorm=I=-14[aout]",
        ]
    )
    theirs = run(
        [ffmpeg, "-y", "-v", "error", "-i", str(a), "-i", str(b), "-i", str(logo), "-stream_loop", "-1",
         "-i", str(music), *(x for p, _, _ in pngs for x in ("-i", str(p))), "-filter_complex", graph,
         "-map", "[vout]", "-map", "[aout]", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
         "-b:v", "8M", "-maxrate", "12M", "-bufsize", "16M", "-g", "15", "-x264-params",
         "open-gop=0:scenecut=0", "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
         "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-movflags", "+faststart", str(work / "ffmpeg.mp4")],
    )  # fmt: skip
    print(f"reference edit: {da:g} s 1920x1080@30 + {db:g} s 1280x720@24 -> linkedin-portrait 1080x1350")
    print(f"arthur-gen edit : {ours[0]:7.2f} s   CPU {ours[2]:7.2f} s   peak RSS {ours[1]:6.0f} MiB")
    print(f"ffmpeg CLI      : {theirs[0]:7.2f} s   CPU {theirs[2]:7.2f} s   peak RSS {theirs[1]:6.0f} MiB")
    print(f"ratio           : {ours[0] / theirs[0]:.2f}x the ffmpeg CLI (goal <= 1.3x); "
          f"RSS goal <= 300 MiB: {'met' if ours[1] <= 300 else 'NOT met'}")  # fmt: skip
    print(f"CPU-time ratio  : {ours[2] / theirs[2]:.2f}x (the work itself, whatever else runs on the box)")
    shutil.rmtree(work, ignore_errors=True)  # inputs and both outputs: hundreds of MB at 60 s


if __name__ == "__main__":
    main()
