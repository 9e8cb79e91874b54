"""Text, cards and logos drawn with Pillow as RGBA patches, and blended onto frames."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["blend", "check_color", "fit_image", "load_font", "logo_patch", "text_patch"]


def check_color(value: str, field: str) -> tuple[int, int, int, int]:
    """``(r, g, b, a)`` of a colour name or ``#rrggbb[aa]``; InvalidRequestError otherwise."""
    from PIL import ImageColor

    try:
        rgba = ImageColor.getcolor(value, "RGBA")
    except (ValueError, AttributeError, TypeError):
        raise InvalidRequestError(
            f"{field}={value!r} is not a colour: use a name ('white') or '#rrggbb'", field=field
        ) from None
    assert isinstance(rgba, tuple)
    return rgba[0], rgba[1], rgba[2], rgba[3]


def load_font(path: str | None, size: int) -> Any:
    """A Pillow font: the file at ``path`` or Pillow's bundled default, at ``size`` pixels."""
    from PIL import ImageFont

    if path is None:
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(path, size)
    except OSError as exc:
        raise InvalidRequestError(
            f"font={path!r} cannot be read as a TrueType/OpenType font ({exc}); give a .ttf/.otf file "
            "or leave font unset for the bundled default",
            field="font",
        ) from None


def _wrap(draw: Any, text: str, font: Any, max_width: int, stroke: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words, line = paragraph.split(" "), ""
        for word in words:
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) + 2 * stroke > max_width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def text_patch(
    text: str,
    *,
    font: Any,
    max_width: int,
    color: str = "white",
    stroke_color: str = "black",
    stroke_width: int = 0,
    box: str | None = None,
    padding: int = 0,
    align: str = "center",
) -> np.ndarray:
    """An HxWx4 uint8 RGBA patch with ``text`` wrapped to ``max_width`` pixels."""
    import numpy as np
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    lines = _wrap(probe, text, font, max(1, max_width - 2 * padding), stroke_width)
    joined = "\n".join(lines)
    left, top, right, bottom = probe.multiline_textbbox(
        (0, 0), joined, font=font, stroke_width=stroke_width, align=align
    )
    width = min(max_width, right - left + 2 * padding)
    height = bottom - top + 2 * padding
    image = Image.new("RGBA", (max(1, int(width)), max(1, int(height))), box or (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.multiline_text(
        (padding - left, padding - top),
        joined,
        font=font,
        fill=color,
        stroke_width=stroke_width,
        stroke_fill=stroke_color,
        align=align,
    )
    return np.asarray(image, dtype=np.uint8)


def logo_patch(path: str, width: int, opacity: float) -> np.ndarray:
    """The image at ``path`` scaled to ``width`` pixels wide, as RGBA with ``opacity`` applied."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as source:
            image = source.convert("RGBA")
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidRequestError(f"logo={path!r} is not a readable image ({exc})", field="logo") from None
    height = max(1, round(image.height * width / image.width))
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    patch = np.asarray(image, dtype=np.uint8).copy()
    patch[..., 3] = (patch[..., 3].astype(np.float32) * opacity).astype(np.uint8)
    return patch


def fit_image(path: str | Path, width: int, height: int, mode: str, color: str = "black") -> np.ndarray:
    """A still image reformatted to ``width`` x ``height`` RGB (fill crops, fit/blur pad)."""
    import numpy as np
    from PIL import Image, ImageFilter, UnidentifiedImageError

    try:
        with Image.open(path) as source:
            image = source.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidRequestError(f"{path}: not a readable image ({exc})", field="inputs") from None
    cover = max(width / image.width, height / image.height)
    contain = min(width / image.width, height / image.height)
    if mode == "fill":
        size = (max(width, round(image.width * cover)), max(height, round(image.height * cover)))
        scaled = image.resize(size, Image.Resampling.BICUBIC)
        x, y = (size[0] - width) // 2, (size[1] - height) // 2
        return np.asarray(scaled.crop((x, y, x + width, y + height)), dtype=np.uint8)
    if mode == "blur":
        size = (max(width, round(image.width * cover)), max(height, round(image.height * cover)))
        back = image.resize(size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(24))
        x, y = (size[0] - width) // 2, (size[1] - height) // 2
        canvas = back.crop((x, y, x + width, y + height))
    else:
        canvas = Image.new("RGB", (width, height), color)
    size = (max(1, round(image.width * contain)), max(1, round(image.height * contain)))
    canvas.paste(
        image.resize(size, Image.Resampling.BICUBIC), ((width - size[0]) // 2, (height - size[1]) // 2)
    )
    return np.asarray(canvas, dtype=np.uint8)


def blend(frame: np.ndarray, patch: np.ndarray, x: int, y: int, fade: float = 1.0) -> None:
    """Alpha-blend an RGBA ``patch`` onto an RGB ``frame`` at ``(x, y)``, in place (clipped)."""
    import numpy as np

    h, w = frame.shape[:2]
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w, x + patch.shape[1]), min(h, y + patch.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    part = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    alpha: Any = part[..., 3:4].astype(np.uint16)
    if fade < 1.0:
        alpha = (alpha * int(fade * 256)) >> 8
    region = frame[y0:y1, x0:x1]
    mixed = (region.astype(np.uint16) * (255 - alpha) + part[..., :3].astype(np.uint16) * alpha) // 255
    frame[y0:y1, x0:x1] = mixed.astype(np.uint8)
