"""arthur-gen: generate images and videos through pluggable backends.

>>> import arthur_gen
>>> image = arthur_gen.generate_image("a lighthouse at dusk", seed=7)
>>> video = arthur_gen.generate_video("waves rolling in", first_frame=image)
"""

from __future__ import annotations

from ._api import (
    agenerate_image,
    agenerate_video,
    estimate,
    gather,
    generate_image,
    generate_video,
    get_backend,
    get_job,
    history,
    list_backends,
    list_models,
    plan,
    result_of,
    resume,
)
from ._backends import (
    Backend,
    ImageBackend,
    LocalBackend,
    LocalContext,
    LocalOutput,
    RemoteBackend,
    RemoteContext,
    RemoteOutput,
    RemoteState,
    RemoteStatus,
    VideoBackend,
)
from ._config import cache_dir, config_path, data_dir
from ._models import Availability, Capability, Kind, ModelInfo, OptionSpec, Price, PriceBasis
from ._money import Estimate
from ._plugins import PluginWarning, get_plugins, load_plugins
from ._requests import ImageRequest, VideoRequest
from ._results import GeneratedImage, GeneratedVideo, ProgressEvent
from ._runner import Plan
from ._secrets import Secret
from ._store import JobRow
from .errors import (
    ArthurGenError,
    AuthenticationError,
    BackendUnavailableError,
    BillingError,
    BudgetExceededError,
    ConfigError,
    DownloadError,
    GenerationError,
    InvalidRequestError,
    JobCanceledError,
    JobNotFoundError,
    JobTimeoutError,
    NeedsKeyError,
    PluginError,
    SubmitUncertainError,
    UnknownModelError,
    UnknownPriceError,
)
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "ArthurGenError",
    "AuthenticationError",
    "Availability",
    "Backend",
    "BackendUnavailableError",
    "BillingError",
    "BudgetExceededError",
    "Capability",
    "ConfigError",
    "DownloadError",
    "Estimate",
    "GeneratedImage",
    "GeneratedVideo",
    "GenerationError",
    "ImageBackend",
    "ImageRequest",
    "InvalidRequestError",
    "JobCanceledError",
    "JobNotFoundError",
    "JobRow",
    "JobTimeoutError",
    "Kind",
    "LocalBackend",
    "LocalContext",
    "LocalOutput",
    "ModelInfo",
    "NeedsKeyError",
    "OptionSpec",
    "Plan",
    "PluginError",
    "PluginWarning",
    "Price",
    "PriceBasis",
    "ProgressEvent",
    "RemoteBackend",
    "RemoteContext",
    "RemoteOutput",
    "RemoteState",
    "RemoteStatus",
    "Secret",
    "SubmitUncertainError",
    "UnknownModelError",
    "UnknownPriceError",
    "VideoBackend",
    "VideoRequest",
    "__version__",
    "agenerate_image",
    "agenerate_video",
    "cache_dir",
    "config_path",
    "data_dir",
    "estimate",
    "gather",
    "generate_image",
    "generate_video",
    "get_backend",
    "get_job",
    "get_plugins",
    "history",
    "hookimpl",
    "list_backends",
    "list_models",
    "load_plugins",
    "plan",
    "result_of",
    "resume",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("arthur_gen."):
        try:
            _obj.__module__ = "arthur_gen"
        except (AttributeError, TypeError):  # pragma: no cover
            pass
del _name, _obj
