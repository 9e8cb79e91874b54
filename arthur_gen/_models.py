"""What a backend declares about itself and its models: capabilities, limits, options, price."""

from __future__ import annotations

import builtins
import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "Availability",
    "Capability",
    "Kind",
    "ModelInfo",
    "OptionSpec",
    "Price",
    "PriceBasis",
]


class Kind(str, enum.Enum):
    """What a backend or model produces."""

    IMAGE = "image"
    VIDEO = "video"
    EDIT = "edit"  # a recipe applied to files, locally, by the core's own backend
    PUBLISH = "publish"  # an upload to a platform (arthur_gen.publish), $0 in the ledger

    def __str__(self) -> str:
        return self.value


class Capability(str, enum.Enum):
    """One thing a model can do."""

    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"

    def __str__(self) -> str:
        return self.value


class PriceBasis(str, enum.Enum):
    """The unit a model is billed in."""

    FREE = "free"
    PER_IMAGE = "per_image"
    PER_VIDEO = "per_video"
    PER_OUTPUT_SECOND = "per_output_second"
    PER_COMPUTE_SECOND = "per_compute_second"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen(kw_only=True)
class Price:
    """A model's price: a basis and a rate in US dollars per unit.

    ``typical_compute_s`` lets per-compute-second models be estimated before they run.
    ``source`` says where the number comes from (a page and a date), so users can check it.
    """

    basis: PriceBasis
    usd: float | None = attrs.field(default=None, validator=_non_negative)
    typical_compute_s: float | None = attrs.field(default=None, validator=_non_negative)
    source: str = ""

    @classmethod
    def free(cls) -> Price:
        return cls(basis=PriceBasis.FREE, usd=0.0, source="runs locally")

    @classmethod
    def unknown(cls, source: str = "") -> Price:
        return cls(basis=PriceBasis.UNKNOWN, source=source)

    @property
    def known(self) -> bool:
        return self.basis is PriceBasis.FREE or self.usd is not None

    def describe(self) -> str:
        """A short human text: '$0.50 per video', 'free', 'unknown'."""
        if self.basis is PriceBasis.FREE:
            return "free"
        if self.usd is None or self.basis is PriceBasis.UNKNOWN:
            return "unknown"
        unit = {
            PriceBasis.PER_IMAGE: "per image",
            PriceBasis.PER_VIDEO: "per video",
            PriceBasis.PER_OUTPUT_SECOND: "per second of output",
            PriceBasis.PER_COMPUTE_SECOND: "per compute second",
        }[self.basis]
        return f"${self.usd:g} {unit}"


@attrs.frozen(kw_only=True)
class OptionSpec:
    """A model-specific option: its type, default, and allowed values or bounds."""

    name: str
    type: type = attrs.field(validator=attrs.validators.in_((bool, int, float, str, list)))
    items: builtins.type | None = None  # for list options: the type of each item
    default: Any = None
    choices: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    help: str = ""

    def describe(self) -> str:
        allowed = ""
        if self.choices:
            allowed = " one of " + ", ".join(repr(c) for c in self.choices)
        elif self.min is not None or self.max is not None:
            allowed = f" in [{self.min if self.min is not None else '-inf'}, "
            allowed += f"{self.max if self.max is not None else 'inf'}]"
        return f"{self.name} ({self.type.__name__}{allowed}, default {self.default!r})"


def _capabilities(values: Iterable[Capability]) -> frozenset[Capability]:
    return frozenset(Capability(v) for v in values)


@attrs.frozen(kw_only=True)
class ModelInfo:
    """One entry of a backend's catalog. Describing a model loads no weights and calls no API.

    Sizes: ``sizes`` ``None`` means the model takes no width/height (use aspect ratios or
    resolutions instead). Empty tuples mean "not an input of this model".
    ``extra`` is the backend's own data (e.g. which Replicate input field takes the first frame).
    """

    id: str
    kind: Kind
    capabilities: frozenset[Capability] = attrs.field(converter=_capabilities)
    price: Price
    description: str = ""
    aliases: tuple[str, ...] = ()
    # image geometry
    supports_size: bool = False
    default_width: int | None = None
    default_height: int | None = None
    min_size: int = 64
    max_size: int = 4096
    size_multiple: int = 1
    aspect_ratios: tuple[str, ...] = ()
    default_aspect_ratio: str | None = None
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    # video timing
    durations: tuple[float, ...] = ()
    default_duration: float | None = None
    fps: tuple[int, ...] = ()
    default_fps: int | None = None
    # sampling
    supports_seed: bool = True
    supports_negative_prompt: bool = False
    supports_steps: bool = False
    default_steps: int | None = None
    max_steps: int | None = None
    supports_guidance: bool = False
    default_guidance: float | None = None
    supports_strength: bool = False
    supports_last_frame: bool = False
    requires_image: bool = False
    options: tuple[OptionSpec, ...] = ()
    accepts_any_options: bool = False
    outputs_option: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, hash=False)

    def option(self, name: str) -> OptionSpec | None:
        return next((o for o in self.options if o.name == name), None)

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for `arthur-gen models --json`)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "capabilities": sorted(c.value for c in self.capabilities),
            "price": {
                "basis": self.price.basis.value,
                "usd": self.price.usd,
                "text": self.price.describe(),
                "source": self.price.source,
            },
            "description": self.description,
            "aliases": list(self.aliases),
            "size": (
                {
                    "default": [self.default_width, self.default_height],
                    "min": self.min_size,
                    "max": self.max_size,
                    "multiple_of": self.size_multiple,
                }
                if self.supports_size
                else None
            ),
            "aspect_ratios": list(self.aspect_ratios),
            "resolutions": list(self.resolutions),
            "durations": list(self.durations),
            "fps": list(self.fps),
            "steps": self.default_steps if self.supports_steps else None,
            "guidance": self.default_guidance if self.supports_guidance else None,
            "negative_prompt": self.supports_negative_prompt,
            "options": [
                {
                    "name": o.name,
                    "type": o.type.__name__,
                    "default": o.default,
                    "choices": list(o.choices),
                    "min": o.min,
                    "max": o.max,
                    "help": o.help,
                }
                for o in self.options
            ],
        }


@attrs.frozen
class Availability:
    """Whether a backend (or model) can run here; if not, why and how to fix it."""

    ok: bool
    reason: str = ""
    fix: str = ""

    @classmethod
    def yes(cls) -> Availability:
        return cls(True)

    @classmethod
    def no(cls, reason: str, fix: str = "") -> Availability:
        return cls(False, reason, fix)

    def describe(self) -> str:
        if self.ok:
            return "available"
        return f"unavailable: {self.reason}" + (f" ({self.fix})" if self.fix else "")
