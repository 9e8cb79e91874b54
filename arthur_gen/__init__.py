"""arthur-gen: generate images and videos through pluggable backends.

>>> import arthur_gen
>>> image = arthur_gen.generate_image("a lighthouse at dusk", seed=7)
>>> video = arthur_gen.generate_video("waves rolling in", first_frame=image)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import (
        agenerate_image,
        agenerate_video,
        estimate,
        gather,
        generate_image,
        generate_images,
        generate_video,
        generate_videos,
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
    from ._mlx_worker import MlxWorker
    from ._models import Availability, Capability, Kind, ModelInfo, OptionSpec, Price, PriceBasis
    from ._plugins import PluginWarning, get_plugins, load_plugins
    from ._requests import ImageRequest, VideoRequest
    from ._routing import Route, RouteOption
    from ._secrets import Secret
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
        StoreError,
        SubmitUncertainError,
        UnknownModelError,
        UnknownPriceError,
    )
    from .gallery import serve_gallery, write_gallery
    from .hookspecs import hookimpl
    from .jobs._rerun import request_from, rerun
    from .jobs._results import GeneratedImage, GeneratedVideo, ProgressEvent
    from .jobs._runner import Plan
    from .jobs._store import JobRow
    from .media._edit import edit, plan_edit
    from .media._encode import write_video
    from .media._postprocessors import Postprocessor
    from .media._presets import Preset, get_preset, presets
    from .media._recipe import EditRecipe, EditRequest
    from .money._budget import Estimate
    from .money._cache_admin import CacheInfo, PruneResult, cache_info, prune_cache
    from .money._dashboard import write_dashboard
    from .money._ledger import BudgetStatus, budget_status, cost_report, costs
    from .storyboard._board import Storyboard

_LAZY = {
    "ArthurGenError": ".errors",
    "AuthenticationError": ".errors",
    "Availability": "._models",
    "Backend": "._backends",
    "BackendUnavailableError": ".errors",
    "BillingError": ".errors",
    "BudgetExceededError": ".errors",
    "BudgetStatus": ".money._ledger",
    "CacheInfo": ".money._cache_admin",
    "Capability": "._models",
    "ConfigError": ".errors",
    "DownloadError": ".errors",
    "EditRecipe": ".media._recipe",
    "EditRequest": ".media._recipe",
    "Postprocessor": ".media._postprocessors",
    "Preset": ".media._presets",
    "edit": ".media._edit",
    "get_preset": ".media._presets",
    "plan_edit": ".media._edit",
    "presets": ".media._presets",
    "write_video": ".media._encode",
    "PublishRequest": ".publish._request",
    "Publisher": ".publish._publisher",
    "publications": ".publish._driver",
    "publish": ".publish._driver",
    "Estimate": ".money._budget",
    "GeneratedImage": ".jobs._results",
    "GeneratedVideo": ".jobs._results",
    "GenerationError": ".errors",
    "ImageBackend": "._backends",
    "ImageRequest": "._requests",
    "InvalidRequestError": ".errors",
    "JobCanceledError": ".errors",
    "JobNotFoundError": ".errors",
    "JobRow": ".jobs._store",
    "JobTimeoutError": ".errors",
    "Kind": "._models",
    "LocalBackend": "._backends",
    "LocalContext": "._backends",
    "LocalOutput": "._backends",
    "MlxWorker": "._mlx_worker",
    "ModelInfo": "._models",
    "NeedsKeyError": ".errors",
    "OptionSpec": "._models",
    "Plan": ".jobs._runner",
    "Route": "._routing",
    "RouteOption": "._routing",
    "PluginError": ".errors",
    "PluginWarning": "._plugins",
    "Price": "._models",
    "PriceBasis": "._models",
    "ProgressEvent": ".jobs._results",
    "PruneResult": ".money._cache_admin",
    "RemoteBackend": "._backends",
    "RemoteContext": "._backends",
    "RemoteOutput": "._backends",
    "RemoteState": "._backends",
    "RemoteStatus": "._backends",
    "Secret": "._secrets",
    "StoreError": ".errors",
    "SubmitUncertainError": ".errors",
    "UnknownModelError": ".errors",
    "UnknownPriceError": ".errors",
    "VideoBackend": "._backends",
    "VideoRequest": "._requests",
    "agenerate_image": "._api",
    "agenerate_video": "._api",
    "budget_status": ".money._ledger",
    "cache_dir": "._config",
    "cache_info": ".money._cache_admin",
    "config_path": "._config",
    "cost_report": ".money._ledger",
    "costs": ".money._ledger",
    "data_dir": "._config",
    "estimate": "._api",
    "gather": "._api",
    "generate_image": "._api",
    "generate_images": "._api",
    "generate_video": "._api",
    "generate_videos": "._api",
    "get_backend": "._api",
    "get_job": "._api",
    "get_plugins": "._plugins",
    "history": "._api",
    "hookimpl": ".hookspecs",
    "list_backends": "._api",
    "list_models": "._api",
    "load_plugins": "._plugins",
    "plan": "._api",
    "prune_cache": ".money._cache_admin",
    "request_from": ".jobs._rerun",
    "rerun": ".jobs._rerun",
    "result_of": "._api",
    "resume": "._api",
    "write_dashboard": ".money._dashboard",
    "write_gallery": ".gallery",
    "serve_gallery": ".gallery",
    "Storyboard": ".storyboard._board",
}

__version__ = "0.1.0"

__all__ = [
    "ArthurGenError",
    "AuthenticationError",
    "Availability",
    "Backend",
    "BackendUnavailableError",
    "BillingError",
    "BudgetExceededError",
    "BudgetStatus",
    "CacheInfo",
    "Capability",
    "ConfigError",
    "DownloadError",
    "EditRecipe",
    "EditRequest",
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
    "MlxWorker",
    "ModelInfo",
    "NeedsKeyError",
    "OptionSpec",
    "Plan",
    "PluginError",
    "PluginWarning",
    "Postprocessor",
    "Preset",
    "Price",
    "PriceBasis",
    "ProgressEvent",
    "PruneResult",
    "PublishRequest",
    "Publisher",
    "RemoteBackend",
    "RemoteContext",
    "RemoteOutput",
    "RemoteState",
    "RemoteStatus",
    "Route",
    "RouteOption",
    "Secret",
    "StoreError",
    "Storyboard",
    "SubmitUncertainError",
    "UnknownModelError",
    "UnknownPriceError",
    "VideoBackend",
    "VideoRequest",
    "__version__",
    "agenerate_image",
    "agenerate_video",
    "budget_status",
    "cache_dir",
    "cache_info",
    "config_path",
    "cost_report",
    "costs",
    "data_dir",
    "edit",
    "estimate",
    "gather",
    "generate_image",
    "generate_images",
    "generate_video",
    "generate_videos",
    "get_backend",
    "get_job",
    "get_plugins",
    "get_preset",
    "history",
    "hookimpl",
    "list_backends",
    "list_models",
    "load_plugins",
    "plan",
    "plan_edit",
    "presets",
    "prune_cache",
    "publications",
    "publish",
    "request_from",
    "rerun",
    "result_of",
    "resume",
    "serve_gallery",
    "write_dashboard",
    "write_gallery",
    "write_video",
]


def __getattr__(name: str) -> Any:
    """Import public names on first use, so ``import arthur_gen`` stays fast (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arthur_gen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    if isinstance(value, type) and value.__module__.startswith("arthur_gen."):
        try:
            value.__module__ = "arthur_gen"
        except (AttributeError, TypeError):  # pragma: no cover
            pass
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
