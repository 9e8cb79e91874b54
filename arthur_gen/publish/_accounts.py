"""Accounts on publishing platforms: one JSON file per account, mode 0600, tokens as ``Secret``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .._config import data_dir
from .._secrets import Secret
from ..errors import ConfigError, InvalidRequestError
from ..jobs._atomic import temp_path_beside

__all__ = ["Account", "accounts_dir", "list_accounts", "load_account", "remove_account", "save_account"]

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SECRET_KEYS = ("token", "access_token", "refresh_token", "client_secret")


def accounts_dir() -> Path:
    return data_dir() / "accounts"


def _check(platform: str, name: str) -> None:
    for what, value in (("platform", platform), ("account name", name)):
        if not _NAME.match(value):
            raise InvalidRequestError(f"The {what} {value!r} may only use letters, digits and . _ @ -")


class Account:
    """A platform account. Token fields are kept as :class:`Secret`; reprs never show them."""

    __slots__ = ("_data", "name", "platform")

    def __init__(self, platform: str, name: str, data: dict[str, Any]) -> None:
        _check(platform, name)
        self.platform = platform
        self.name = name
        self._data = {k: Secret(v) if k in SECRET_KEYS and isinstance(v, str) else v for k, v in data.items()}

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def secret(self, key: str) -> Secret | None:
        value = self._data.get(key)
        return value if isinstance(value, Secret) else None

    def secrets(self) -> list[Secret]:
        return [v for v in self._data.values() if isinstance(v, Secret)]

    def public(self) -> dict[str, Any]:
        """The fields safe to show (no tokens)."""
        return {k: v for k, v in self._data.items() if not isinstance(v, Secret)}

    def updated(self, **changes: Any) -> Account:
        data = {k: v.reveal() if isinstance(v, Secret) else v for k, v in self._data.items()}
        data.update(changes)
        return Account(self.platform, self.name, data)

    def _revealed(self) -> dict[str, Any]:
        return {k: v.reveal() if isinstance(v, Secret) else v for k, v in self._data.items()}

    def __repr__(self) -> str:
        return f"Account({self.platform!r}, {self.name!r})"


def _path(platform: str, name: str) -> Path:
    _check(platform, name)
    return accounts_dir() / platform / f"{name}.json"


def save_account(account: Account) -> Path:
    """Write the account atomically; the file is created 0600 (never readable by others)."""
    target = _path(account.platform, account.name)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(target.parent.parent, 0o700)
    os.chmod(target.parent, 0o700)
    tmp = temp_path_beside(target, mode=0o600)
    payload = json.dumps(account._revealed(), indent=2, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # before a byte of the token is written
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def load_account(platform: str, name: str = "default") -> Account:
    path = _path(platform, name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"No {platform} account named {name!r}. Add one with `arthur-gen accounts login {platform}` "
            f"(or `arthur-gen accounts add {platform} ...` for scripts)."
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"The account file {path} cannot be read ({type(exc).__name__}); remove and re-add it."
        ) from None
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return Account(platform, name, data)


def list_accounts() -> list[Account]:
    root = accounts_dir()
    found = []
    for path in sorted(root.glob("*/*.json")) if root.is_dir() else []:
        try:
            found.append(load_account(path.parent.name, path.stem))
        except (ConfigError, InvalidRequestError):
            continue
    return found


def remove_account(platform: str, name: str = "default") -> bool:
    path = _path(platform, name)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
