"""Platform presets as data: output geometry, encoding, and the platform's upload limits."""

from __future__ import annotations

import attrs

from ..errors import InvalidRequestError

__all__ = ["PRESETS", "Preset", "get_preset", "preset_names", "presets"]


@attrs.frozen(kw_only=True)
class Preset:
    """One target: size, frame-rate cap, bitrate, and what the platform accepts."""

    name: str
    platform: str
    width: int
    height: int
    bitrate: int  # video bits per second (YouTube's recommended upload rate for the size)
    max_fps: float = 60.0
    min_fps: float = 10.0
    min_duration_s: float = 0.0
    max_duration_s: float = 12 * 3600.0
    max_bytes: int = 256 * 1024**3
    notes: str = ""

    @property
    def aspect(self) -> str:
        from math import gcd

        g = gcd(self.width, self.height)
        return f"{self.width // g}:{self.height // g}"

    def check_timing(self, duration_s: float, fps: float) -> None:
        """InvalidRequestError if a video of that length and frame rate breaks the limits."""
        if duration_s < self.min_duration_s - 1e-6:
            raise InvalidRequestError(
                f"the edit is {duration_s:.2f} s long but {self.name} needs at least "
                f"{self.min_duration_s:g} s; add clips, slow it down or use a longer input",
                field="preset",
            )
        if duration_s > self.max_duration_s + 1e-6:
            raise InvalidRequestError(
                f"the edit is {duration_s:.2f} s long but {self.name} allows at most "
                f"{self.max_duration_s:g} s; trim it (trim=...) or pick another preset",
                field="preset",
            )
        if not self.min_fps <= fps <= self.max_fps:
            raise InvalidRequestError(
                f"{fps:g} fps is outside {self.name}'s {self.min_fps:g}-{self.max_fps:g} fps; "
                "set fps=... in the recipe",
                field="preset",
            )

    def check_size(self, size_bytes: int) -> None:
        if size_bytes > self.max_bytes:
            raise InvalidRequestError(
                f"the output is {size_bytes / 1e6:.1f} MB, over {self.name}'s "
                f"{self.max_bytes / 1e9:g} GB limit; trim it or lower the bitrate",
                field="preset",
            )

    def to_dict(self) -> dict[str, object]:
        data = attrs.asdict(self)
        data["aspect"] = self.aspect
        return data


_LINKEDIN = {
    "platform": "linkedin",
    "bitrate": 8_000_000,
    "min_duration_s": 3.0,
    "max_duration_s": 30 * 60.0,
    "max_bytes": 5 * 1024**3,
    "max_fps": 60.0,
    "notes": "LinkedIn feed video: 3 s to 30 min, up to 5 GB, 10-60 fps",
}
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(name="linkedin-square", width=1080, height=1080, **_LINKEDIN),  # type: ignore[arg-type]
        Preset(name="linkedin-portrait", width=1080, height=1350, **_LINKEDIN),  # type: ignore[arg-type]
        Preset(name="linkedin-landscape", width=1920, height=1080, **_LINKEDIN),  # type: ignore[arg-type]
        Preset(
            name="youtube",
            platform="youtube",
            width=1920,
            height=1080,
            bitrate=8_000_000,
            notes="YouTube 1080p SDR upload: 8 Mb/s at 24-30 fps, up to 12 h / 256 GB",
        ),
        Preset(
            name="youtube-shorts",
            platform="youtube",
            width=1080,
            height=1920,
            bitrate=8_000_000,
            max_duration_s=180.0,
            notes="YouTube Shorts: vertical 9:16, up to 3 min",
        ),
        Preset(
            name="reels",
            platform="instagram",
            width=1080,
            height=1920,
            bitrate=8_000_000,
            min_duration_s=3.0,
            max_duration_s=180.0,
            max_bytes=4 * 1024**3,
            notes="Instagram Reels: vertical 9:16, 3 s to 3 min, up to 4 GB",
        ),
    )
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or InvalidRequestError listing the ones there are."""
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        raise InvalidRequestError(
            f"preset={name!r} is not valid: must be one of {', '.join(preset_names())} "
            "(`arthur-gen presets` lists them)",
            field="preset",
        )
    return preset


def presets() -> dict[str, Preset]:
    """Every preset, by name."""
    return dict(PRESETS)
