"""Which backend runs a request: one named, or the first of a preference list that can run here.

``backend=None`` follows the config (``[defaults] image_backend`` / ``video_backend``, or the
``ARTHUR_GEN_IMAGE_BACKEND`` / ``ARTHUR_GEN_VIDEO_BACKEND`` environment variables), and
without one it is ``"auto"``: every installed backend of the kind, local ones first (free),
then remote ones, each by id. A preference list (``["mlx_video", "replicate"]``, or
``"mlx_video,replicate"`` on the command line; ``"auto"`` inside a list stands for the
installed backends not named) is tried in order. A backend is picked when its model (the one
asked for, else its default) can serve the request and can run here now: the backend is
usable (platform, packages), the model's weights and memory are there (local), a key is
there (remote). The others are kept with the reason they were skipped and what they would
cost, for ``--dry-run``, ``doctor`` and the error raised when nothing can run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from ._backends import Backend
from ._models import Availability, Kind, ModelInfo
from ._registry import BUILTIN_BACKENDS, backends, choose_backend, find_model, get_backend, no_backend_error
from .errors import (
    ArthurGenError,
    BackendUnavailableError,
    InvalidRequestError,
    NeedsKeyError,
    UnknownModelError,
)

if TYPE_CHECKING:
    from ._requests import ImageRequest, VideoRequest
    from ._secrets import Secret

    Request = ImageRequest | VideoRequest

__all__ = [
    "AUTO",
    "Route",
    "RouteOption",
    "backend_status",
    "check_key",
    "default_route",
    "preference",
    "route",
    "route_table",
]

AUTO = "auto"
BackendSpec = str | Sequence[str] | None


@attrs.frozen(kw_only=True)
class RouteOption:
    """One backend considered for a request: its model, its cost, and whether it runs here."""

    backend: str
    local: bool
    model: str | None
    usd: float | None = None
    cost: str = ""
    serves: bool = False  # the model accepts this request (capabilities, sizes, options)
    runs: bool = False  # ... and can run here now (packages, weights, memory, key)
    reason: str = ""
    fix: str = ""
    chosen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def price_text(self) -> str:
        if self.usd is None:
            return "price unknown" if self.serves else "-"
        return "free" if self.usd == 0 else f"${self.usd:.4f}"

    def status_text(self) -> str:
        if self.chosen:
            return "runs"
        if self.runs:
            return "could run (later in the list)"
        return f"skipped: {self.reason}"


@attrs.frozen(kw_only=True)
class Route:
    """The backends considered for one request, in preference order, and the one that runs."""

    kind: Kind
    preference: tuple[str, ...]  # as asked: ("auto",) or the list given
    options: tuple[RouteOption, ...]

    @property
    def chosen(self) -> RouteOption | None:
        return next((o for o in self.options if o.chosen), None)

    @property
    def runs(self) -> bool:
        return self.chosen is not None

    def skipped(self) -> list[RouteOption]:
        """The options ahead of the chosen one (all of them when none runs)."""
        out = []
        for option in self.options:
            if option.chosen:
                break
            out.append(option)
        return out

    def note(self) -> str:
        """One line: which backend runs and why the ones before it were skipped."""
        chosen = self.chosen
        head = f"{chosen.backend} ({chosen.model})" if chosen else "nothing can run here"
        why = "; ".join(f"{o.backend}: {_short(o.reason)}" for o in self.skipped())
        mode = ",".join(self.preference)
        return f"{self.kind} backend {mode}: {head}" + (f" (skipped {why})" if why else "")

    def to_dict(self) -> dict[str, Any]:
        chosen = self.chosen
        return {
            "preference": list(self.preference),
            "runs": chosen.backend if chosen else None,
            "options": [o.to_dict() for o in self.options],
        }

    def table(self) -> list[str]:
        """Lines for a terminal: each option side by side with its cost and status."""
        return route_table(self.to_dict())

    def error(self) -> ArthurGenError:
        """What to raise when nothing can run: every option with its reason, fix and cost."""
        options = [o for o in self.options if o.model is not None]
        if len(options) == 1:
            only = options[0]
            if only.reason == _MISSING_KEY:
                return NeedsKeyError(only.fix + _offline_hint(only))
            fix = f" Fix: {only.fix}" if only.fix else ""
            message = f"{only.backend} cannot run {only.model} here: {only.reason}.{fix}"
            return BackendUnavailableError(message + _offline_hint(only))
        lines = [f"no {self.kind} backend can run this request here ({', '.join(self.preference)}):"]
        for o in self.options:
            where = "local" if o.local else "remote"
            model = o.model or "no such model"
            lines.append(f"  - {o.backend} ({where}, {model}, {o.price_text()}): {o.reason}")
            if o.fix:
                lines.append(f"      fix: {o.fix}")
        fixable = [o for o in options if o.serves]
        if fixable:
            could = "; ".join(
                f"`--backend {o.backend}` (backend={o.backend!r}) for {o.price_text()} once "
                + (f"{_key_env(o)} is set" if o.reason == _MISSING_KEY else "the above is fixed")
                for o in fixable
            )
            lines.append(f"What could run: {could}.")
        lines += [h.strip() for o in fixable if (h := _offline_hint(o))]
        only_keys = all(o.reason == _MISSING_KEY for o in options)
        cls = NeedsKeyError if only_keys else BackendUnavailableError
        return cls("\n".join(lines))


_MISSING_KEY = "missing API key"


def _short(text: str, limit: int = 90) -> str:
    """The first clause of a reason, for a table row (``--json`` keeps all of it)."""
    cuts = [i for stop in ("; ", ". ", " (", ", ") if (i := text.find(stop)) >= 12]
    if cuts:
        text = text[: min(cuts)]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def route_table(data: Mapping[str, Any]) -> list[str]:
    """``Route.to_dict()`` as aligned lines: marker, backend, where, model, cost, status."""
    rows = []
    for o in data["options"]:
        option = RouteOption(**o)
        status = option.status_text()
        if not option.chosen and not option.runs:
            status = f"skipped: {_short(option.reason)}"
        rows.append(
            (
                "->" if option.chosen else "",
                option.backend,
                "local" if option.local else "remote",
                option.model or "-",
                option.price_text(),
                status,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]


def _offline_hint(option: RouteOption) -> str:
    """How to try a remote backend for $0: its ``offline_help``, else its plugin's emulator."""
    if option.local:
        return ""
    try:
        backend = next(b for b in _all_backends() if b.id == option.backend and not b.is_local)
    except StopIteration:
        return ""
    text = backend.offline_help
    if text:
        return f" {text}"
    package = type(backend).__module__.partition(".")[0]
    import importlib.util

    try:
        found = importlib.util.find_spec(f"{package}.emulator.__main__") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return ""
    return (
        f" To try {option.backend} offline for $0 (no key, pretend outputs), start its emulator:"
        f" `python -m {package}.emulator` (it prints the two variables to export)."
    )


def _key_env(option: RouteOption) -> str:
    backend = next((b for b in _all_backends() if b.id == option.backend and not b.is_local), None)
    return (backend.key_env_var if backend is not None else None) or "its API key"


def _all_backends() -> list[Backend]:
    return [b for k in (Kind.IMAGE, Kind.VIDEO) for b in backends(k).values()]


def preference(kind: Kind, spec: BackendSpec) -> tuple[str, ...]:
    """The names ``spec`` stands for: one backend id, ``("auto",)``, or a preference list."""
    if spec is None or spec == "":  # "" as None: the config's choice, else auto
        from ._config import load_settings

        spec = load_settings().default_backends.get(f"{kind}_backend") or AUTO
    if isinstance(spec, str):
        names = tuple(n.strip() for n in spec.split(","))
    elif isinstance(spec, Sequence) and all(isinstance(n, str) for n in spec):
        names = tuple(n.strip() for n in spec)
    else:
        raise InvalidRequestError(
            f"backend={spec!r} is not valid: a backend id, 'auto', or a list of ids such as "
            "['mlx_video', 'replicate']"
        )
    if not names or any(not n for n in names):
        raise InvalidRequestError(
            f"backend={spec!r} has an empty name; give ids separated by commas, e.g. mlx_video,replicate"
        )
    if len(set(names)) != len(names):
        raise InvalidRequestError(f"backend={spec!r} names a backend twice")
    return names


def _ordered(kind: Kind, names: tuple[str, ...]) -> list[Backend]:
    """The backends in preference order; ``auto`` expands to the unnamed ones, local first."""
    installed = backends(kind)
    named = [n for n in names if n != AUTO]
    chosen: list[Backend] = [get_backend(n, kind) for n in named]  # a typo fails here, loudly
    out: list[Backend] = []
    for name in names:
        if name == AUTO:
            rest = [b for b in installed.values() if b.id not in named]
            out += sorted(rest, key=lambda b: (not b.is_local, b.id))
        else:
            out.append(chosen[named.index(name)])
    return out


def backend_status(backend: Backend, key: str | Secret | None = None) -> Availability:
    """Whether a backend is usable here, ignoring any model: packages, platform, API key."""
    try:
        availability = backend.availability()
    except ArthurGenError as exc:
        return Availability.no(str(exc))
    if not availability.ok or backend.is_local or not (backend.key_name or backend.key_env_var):
        return availability
    from ._config import resolve_key

    try:
        resolve_key(backend.key_name, backend.key_env_var, key, backend.key_help)
    except NeedsKeyError as exc:
        return Availability.no(_MISSING_KEY, str(exc))
    return availability


def check_key(backend: Backend, key: str | Secret | None) -> None:
    """Raise :class:`NeedsKeyError` (with how to try the backend offline) when its key is missing."""
    status = backend_status(backend, key)
    if status.reason == _MISSING_KEY:
        option = RouteOption(backend=backend.id, local=backend.is_local, model=None)
        raise NeedsKeyError(status.fix + _offline_hint(option))


def _consider(
    backend: Backend, model_id: str | None, request: Request, key: str | Secret | None, uncataloged: bool
) -> RouteOption:
    from ._validate import check_request
    from .money._budget import estimate_request

    base: dict[str, Any] = {"backend": backend.id, "local": backend.is_local}
    try:
        model = find_model(backend, model_id, allow_uncataloged=uncataloged)
    except UnknownModelError as exc:
        return RouteOption(model=None, reason=f"no model {model_id!r}", fix=str(exc), **base)
    base["model"] = model.id
    try:
        check_request(request, model)
        backend.validate(request, model)
    except ArthurGenError as exc:
        return RouteOption(reason=str(exc), **base)
    try:
        estimate = backend.estimate(request, model) or estimate_request(request, model)
        base.update(usd=estimate.usd, cost=estimate.describe())
    except ArthurGenError as exc:
        base.update(cost=f"cannot estimate: {exc}")
    status = backend_status(backend, key)
    if status.ok:
        try:
            status = backend.request_availability(request, model)
        except ArthurGenError as exc:
            status = Availability.no(str(exc))
    return RouteOption(serves=True, runs=status.ok, reason=status.reason, fix=status.fix, **base)


def route(
    kind: Kind,
    request: Request,
    spec: BackendSpec,
    model_id: str | None,
    *,
    key: str | Secret | None = None,
    allow_uncataloged: bool = False,
) -> tuple[Backend, ModelInfo, Route | None]:
    """The backend and model for ``request``, and the route when a list was tried (else None).

    When nothing can run here the first backend whose model serves the request is returned
    (so a dry run still shows what would be sent) and ``route.runs`` is False; running it
    raises :meth:`Route.error`. A request no option's model can serve raises its own error.
    """
    if kind in BUILTIN_BACKENDS:
        backend = choose_backend(kind, spec if isinstance(spec, str) else None)
        return backend, find_model(backend, model_id, allow_uncataloged=allow_uncataloged), None
    names = preference(kind, spec)
    if len(names) == 1 and names[0] != AUTO:  # one backend named: no routing
        backend = get_backend(names[0], kind)
        return backend, find_model(backend, model_id, allow_uncataloged=allow_uncataloged), None
    ordered = _ordered(kind, names)
    if not ordered:
        raise no_backend_error(kind)
    options = [_consider(b, model_id, request, key, allow_uncataloged) for b in ordered]
    index = next((i for i, o in enumerate(options) if o.runs), None)
    if index is not None:
        options[index] = attrs.evolve(options[index], chosen=True)
    else:
        index = next((i for i, o in enumerate(options) if o.serves), None)
    if index is None:
        _refuse(kind, model_id, request, ordered, options, allow_uncataloged)
    backend = ordered[index]
    model = find_model(backend, model_id, allow_uncataloged=allow_uncataloged)
    return backend, model, Route(kind=kind, preference=names, options=tuple(options))


def _refuse(
    kind: Kind,
    model_id: str | None,
    request: Request,
    ordered: list[Backend],
    options: list[RouteOption],
    uncataloged: bool,
) -> NoReturn:
    """No option's model can serve the request: the model is unknown or the request invalid."""
    with_model = [(b, o) for b, o in zip(ordered, options, strict=True) if o.model is not None]
    if not with_model:
        if len(ordered) == 1:
            find_model(ordered[0], model_id, allow_uncataloged=uncataloged)  # its own "did you mean"
        details = "; ".join(o.fix for o in options)
        raise UnknownModelError(f"no {kind} backend has a model {model_id!r}: {details}")
    if len(with_model) == 1:  # that backend's own error, unchanged
        from ._validate import check_request

        backend, _ = with_model[0]
        model = find_model(backend, model_id, allow_uncataloged=uncataloged)
        check_request(request, model)
        backend.validate(request, model)
    details = "; ".join(f"{o.backend} ({o.model}): {o.reason}" for _, o in with_model)
    raise InvalidRequestError(f"no {kind} backend's model can serve this request: {details}")


def default_route(kind: Kind) -> tuple[str | None, Route | None, str]:
    """Where a plain request of ``kind`` goes with no ``--backend`` (for ``backends``, ``doctor``):
    the backend id that would run it (None if none can), the route, and any error text."""
    from ._requests import ImageRequest, VideoRequest

    request: Request = ImageRequest(prompt="test") if kind is Kind.IMAGE else VideoRequest(prompt="test")
    try:
        backend, model, chosen = route(kind, request, None, None)
        if chosen is None:  # one backend set as the default in the config: its own answer
            option = _consider(backend, model.id, request, None, False)
            return (backend.id if option.runs else None), None, option.reason
    except ArthurGenError as exc:
        return None, None, str(exc)
    picked = chosen.chosen
    return (picked.backend if picked else None), chosen, ""
