"""Tiny test media for the edit tests, made once per session with arthur_gen.media.write_video."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tone(seconds: float, freq: float, amp: float, rate: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp).astype(np.float32)


def make_media(folder: Path) -> dict[str, Path]:
    from PIL import Image

    from arthur_gen.media import write_video

    folder.mkdir(parents=True, exist_ok=True)
    red = write_video(
        (np.full((90, 160, 3), (200, 20, 20), np.uint8) for _ in range(48)),
        folder / "red.mp4",
        fps=24,
        audio=(tone(2.0, 440, 0.3), 48_000),
    )
    blue = write_video(
        (np.full((120, 120, 3), (20, 20, 200), np.uint8) for _ in range(60)), folder / "blue.mp4", fps=30
    )
    music = write_video(
        (np.zeros((16, 16, 3), np.uint8) for _ in range(24 * 3)),
        folder / "music.mp4",
        fps=24,
        audio=(tone(3.0, 220, 0.1), 48_000),
    )
    logo = folder / "logo.png"
    Image.new("RGBA", (40, 40), (0, 255, 0, 255)).save(logo)
    still = folder / "still.png"
    grid = np.zeros((180, 320, 3), np.uint8)
    grid[::20, :] = 255
    grid[:, ::20] = 255
    Image.fromarray(grid).save(still)
    return {"red": red, "blue": blue, "music": music, "logo": logo, "still": still}
