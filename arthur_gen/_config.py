"""Where things live and what the user configured.

Order of precedence: call arguments, then environment variables, then the TOML config file.
``ARTHUR_GEN_HOME`` puts config, data and cache under one folder (tests, portable setups).
Everything is read at call time, so changing the environment takes effect at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._secrets import Secret
from .errors import ConfigError, NeedsKeyError

__all__ = [
    "Settings",
    "cache_dir",
    "config_path",
    "data_dir",
    "load_settings",
    "resolve_key",
    "set_config_value",
]

_APP = "arthur-gen"


def _home() -> Path | None:
    home = os.environ.get("ARTHUR_GEN_HOME")
    return Path(home).expanduser() if home else None


def config_path() -> Path:
    home = _home()
    if home is not None:
        return home / "config.toml"
    import platformdirs

    return platformdirs.user_config_path(_APP) / "config.toml"


def data_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return platformdirs.user_data_path(_APP)


def cache_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return platformdirs.user_cache_path(_APP)


_BUDGETS = ("per_call", "per_day", "per_month")


@attrs.frozen(kw_only=True)
class Settings:
    """The effective configuration (file, then environment)."""

    output_dir: Path
    budget: Mapping[str, float | None]
    allow_unknown_price: bool = False
    default_backends: Mapping[str, str] = attrs.field(factory=dict)
    keys: Mapping[str, Secret] = attrs.field(factory=dict, repr=False)
    source: Path | None = None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(
            f"the config file {path} is a folder; move it away (or set ARTHUR_GEN_HOME elsewhere)"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"the config file {path} cannot be read ({exc.strerror or exc}); fix its permissions "
            f"(chmod u+r {path}) or move it away"
        ) from None
    import tomllib  # only when there is a file to parse (fast CLI start)

    try:
        with fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete the file") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"the config file {path} is not text (not UTF-8 TOML); fix it or move it away "
            "(arthur-gen then uses its defaults)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"the config file {path} cannot be read ({exc.strerror or exc})") from None


def _money(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} is not a number of dollars, e.g. 10 or 2.5") from None
    if number < 0 or number != number:
        raise ConfigError(f"{where}={value!r} must be a non-negative number of dollars")
    return number


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{where}={value!r} must be true or false")


def load_settings() -> Settings:
    """Read the config file and the environment now."""
    path = config_path()
    raw = _read_file(path)
    env = os.environ
    budget_raw = raw.get("budget", {})
    if not isinstance(budget_raw, dict):
        raise ConfigError(f"[budget] in {path} must be a table")
    budget: dict[str, float | None] = {}
    for name in _BUDGETS:
        env_name = f"ARTHUR_GEN_BUDGET_{name.upper()}"
        if env_name in env:
            budget[name] = _money(env[env_name], env_name)
        else:
            budget[name] = _money(budget_raw.get(name), f"budget.{name} in {path}")
    out = env.get("ARTHUR_GEN_OUTPUT_DIR") or raw.get("output_dir")
    if out is not None and not isinstance(out, str):
        raise ConfigError(
            f"output_dir = {out!r} in {path} is not a folder path; set it to a quoted path, "
            'e.g. output_dir = "~/Videos/arthur-gen"'
        )
    output_dir = Path(str(out)).expanduser() if out else data_dir() / "outputs"
    allow = env.get("ARTHUR_GEN_ALLOW_UNKNOWN_PRICE", raw.get("allow_unknown_price", False))
    keys_raw = raw.get("keys", {})
    defaults = raw.get("defaults", {})
    if not isinstance(keys_raw, dict) or not isinstance(defaults, dict):
        raise ConfigError(f"[keys] and [defaults] in {path} must be tables")
    return Settings(
        output_dir=output_dir,
        budget=budget,
        allow_unknown_price=_flag(allow, "allow_unknown_price"),
        default_backends=_backend_defaults(defaults, env),
        keys={str(k): Secret(str(v)) for k, v in keys_raw.items() if v},
        source=path if raw else None,
    )


def _backend_defaults(defaults: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """``[defaults]`` with backend preferences as text: an id, ``auto``, or ``a,b`` for a list
    (a TOML array is joined); ``ARTHUR_GEN_IMAGE_BACKEND`` / ``..._VIDEO_BACKEND`` win."""
    out = {
        str(k): ",".join(str(i) for i in v) if isinstance(v, list) else str(v) for k, v in defaults.items()
    }
    for kind in ("image", "video"):
        value = env.get(f"ARTHUR_GEN_{kind.upper()}_BACKEND")
        if value:
            out[f"{kind}_backend"] = value
    return out


def resolve_key(
    key_name: str | None, env_var: str | None, explicit: str | Secret | None, key_help: str = ""
) -> Secret | None:
    """The API key for a backend: argument, then environment, then config; else NeedsKeyError."""
    if key_name is None and env_var is None:
        return None
    if explicit:
        return explicit if isinstance(explicit, Secret) else Secret(explicit)
    if env_var and os.environ.get(env_var):
        return Secret(os.environ[env_var])
    stored = load_settings().keys.get(key_name or "")
    if stored is not None:
        return stored
    how = [f"set the {env_var} environment variable"] if env_var else []
    if key_name:
        how.append(f"run `arthur-gen keys set {key_name}`")
    how.append("or pass key=... in Python")
    message = f"No API key for {key_name or env_var}: " + ", ".join(how) + "."
    if key_help:
        message += f" {key_help[:1].upper()}{key_help[1:]}"
    raise NeedsKeyError(message)


_TOML_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string; control characters are escaped (TOML forbids them raw)."""
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):  # e.g. defaults.video_backend = ["mlx_video", "replicate"]
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def set_config_value(dotted: str, value: Any) -> Path:
    """Set (or with ``None`` remove) ``key`` or ``table.key`` in the config file, atomically."""
    path = config_path()
    raw = _read_file(path)
    table, _, key = dotted.rpartition(".")
    target: dict[str, Any] = raw.setdefault(table, {}) if table else raw
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for name, values in raw.items():
        if isinstance(values, dict) and values:
            lines += ["", f"[{_toml_key(name)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from .jobs._atomic import atomic_write_bytes

        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode(), mode=0o600)
    except OSError as exc:
        raise ConfigError(
            f"the config file {path} cannot be written ({exc.strerror or exc}); make {path.parent} "
            "writable or set ARTHUR_GEN_HOME to a folder you can write"
        ) from None
    return path
