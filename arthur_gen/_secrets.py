"""A wrapper that keeps API keys out of reprs, logs, tracebacks and JSON."""

from __future__ import annotations

__all__ = ["Secret", "redact"]


class Secret:
    """An API key. ``str()``/``repr()`` never show it; call :meth:`reveal` at the last moment."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:
        raise TypeError("Secret cannot be pickled")


def redact(text: str, *secrets: Secret | None) -> str:
    """Replace every occurrence of the given secrets in ``text`` with ``********``."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), "********")
    return text
