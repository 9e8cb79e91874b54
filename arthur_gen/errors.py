"""The exception tree of arthur-gen.

Every error raised on purpose is an :class:`ArthurGenError`; where a built-in fits, the error
is also that built-in, so existing ``except ValueError`` clauses keep working::

    ArthurGenError
    ├── InvalidRequestError (ValueError)     the request is wrong; nothing was sent or written
    ├── UnknownModelError (KeyError)         no such backend or model
    ├── PluginError                          a plugin misbehaved (duplicate ids, bad hook)
    ├── ConfigError (ValueError)             the config file or an env variable is malformed
    ├── StoreError (OSError)                 the job store is damaged, locked, read-only or unreachable
    ├── BudgetExceededError                  a budget would be exceeded; nothing was sent
    ├── UnknownPriceError                    price unknown and not explicitly allowed
    ├── NeedsKeyError                        an API key is missing; says how to set one
    ├── BackendUnavailableError              the backend cannot run here (platform, weights)
    ├── GenerationError                      the backend ran and failed
    │   ├── AuthenticationError              the provider rejected the key
    │   ├── BillingError                     the provider wants billing set up
    │   └── DownloadError                    an output could not be fetched or verified
    ├── JobTimeoutError (TimeoutError)       a deadline passed; the remote job was cancelled
    ├── JobCanceledError                     the job was cancelled (Ctrl-C, cancel event)
    ├── SubmitUncertainError                 a submit's outcome is unknown; run `resume`
    └── JobNotFoundError (KeyError)          no job, sidecar or metadata matches
"""

from __future__ import annotations

__all__ = [
    "ArthurGenError",
    "AuthenticationError",
    "BackendUnavailableError",
    "BillingError",
    "BudgetExceededError",
    "ConfigError",
    "DownloadError",
    "GenerationError",
    "InvalidRequestError",
    "JobCanceledError",
    "JobNotFoundError",
    "JobTimeoutError",
    "NeedsKeyError",
    "PluginError",
    "StoreError",
    "SubmitUncertainError",
    "UnknownModelError",
    "UnknownPriceError",
]


class ArthurGenError(Exception):
    """Base of every error arthur-gen raises on purpose; its message is meant for the user."""

    def __str__(self) -> str:
        # KeyError quotes its message; every error here reads as plain text.
        return str(self.args[0]) if self.args else self.__class__.__name__


class InvalidRequestError(ArthurGenError, ValueError):
    """A request that the chosen model cannot serve; raised before any work or spending."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownModelError(ArthurGenError, KeyError):
    """No backend or model with that id."""


class PluginError(ArthurGenError):
    """A plugin misbehaved: two backends with one id, a misspelled hook, a bad registration."""


class ConfigError(ArthurGenError, ValueError):
    """The config file or an environment variable holds a value that cannot be used."""


class StoreError(ArthurGenError, OSError):
    """The job store cannot be used: damaged, a folder, locked, read-only (for a write) or its
    folder cannot be created. The message names the file and the fix; the file is left as it is."""


class BudgetExceededError(ArthurGenError):
    """Running the request would exceed a budget; nothing was submitted."""

    def __init__(
        self, message: str, *, limit: str, limit_usd: float, spent_usd: float, estimate_usd: float
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.estimate_usd = estimate_usd


class UnknownPriceError(ArthurGenError):
    """The model's price is unknown and unknown prices were not explicitly allowed."""


class NeedsKeyError(ArthurGenError):
    """An API key is needed and none was found; the message says how to provide one."""


class BackendUnavailableError(ArthurGenError):
    """The backend cannot run on this machine (platform, missing package or weights)."""


class GenerationError(ArthurGenError):
    """The backend ran and the generation failed."""


class AuthenticationError(GenerationError):
    """The provider rejected the API key."""


class BillingError(GenerationError):
    """The provider refused the job until billing is set up or credit is added."""


class DownloadError(GenerationError):
    """An output could not be downloaded, or failed its size or digest check."""


class JobTimeoutError(ArthurGenError, TimeoutError):
    """A job passed its overall deadline; the remote job was cancelled so billing stops."""


class JobCanceledError(ArthurGenError):
    """The job was cancelled by the user."""


class SubmitUncertainError(ArthurGenError):
    """A paid submit's outcome is unknown; `arthur-gen resume` reconciles it, never resubmits."""


class JobNotFoundError(ArthurGenError, KeyError):
    """No job, sidecar or embedded metadata matches what was given."""
