"""A loopback emulator of Replicate's HTTP API, for tests and for trying scripts offline.

    with Emulator(starting_s=0.1, processing_s=0.5) as emu:
        client = replicate.Client(api_token="any", base_url=emu.url)
        prediction = client.models.predictions.create(model="minimax/video-01", input={...})

From a shell: ``python -m arthur_gen_replicate.emulator --port 8787``. Importing this package
only needs the standard library; Pillow and PyAV load when a WebP/JPEG or MP4 is rendered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any, Literal

from ._app import App
from ._faults import Faults
from ._offline import OFFLINE_NOTICE, replicate_or_emulator
from ._server import Server
from ._state import Config, RequestRecord

__all__ = [
    "OFFLINE_NOTICE",
    "Emulator",
    "Faults",
    "PredictionInfo",
    "RequestRecord",
    "replicate_or_emulator",
]

_SETTINGS = frozenset(f.name for f in fields(Config)) - {"timings", "errors"}


@dataclass(frozen=True)
class PredictionInfo:
    """A snapshot of one prediction: the API's JSON plus what only the emulator knows."""

    id: str
    model: str
    status: str
    cancel_after_s: float | None
    json: Mapping[str, Any]
    #: the input exactly as it was sent (the API's JSON shows ``data:`` URIs as URLs)
    sent_input: Mapping[str, Any] = field(default_factory=dict)


class Emulator:
    """Replicate's API on ``http://127.0.0.1:PORT`` in a background thread.

    Predictions start after `starting_s`, process for `processing_s`, then succeed (see
    `set_timing`, `set_outcome`). Outputs are served under ``/delivery/`` (or inlined as
    ``data:`` URIs with ``output_mode="data"``) and expire `ttl_s` after completion.
    `tokens` None accepts any non-empty token. `output_size_bytes` pads every downloaded
    output to that size. Rates are per token and minute, as on the real service.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        starting_s: float = 1.0,
        processing_s: float = 3.0,
        ttl_s: float = 3600.0,
        tokens: Iterable[str] | None = None,
        billing_ok: bool = True,
        page_size: int = 100,
        output_mode: Literal["url", "data"] = "url",
        output_size_bytes: int | None = None,
        create_rate_per_min: int = 600,
        rate_per_min: int = 3000,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.faults = Faults()
        self._config = Config()
        self._app = App(self._config, self.faults, log)
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.configure(
            starting_s=starting_s,
            processing_s=processing_s,
            ttl_s=ttl_s,
            tokens=tokens,
            billing_ok=billing_ok,
            page_size=page_size,
            output_mode=output_mode,
            output_size_bytes=output_size_bytes,
            create_rate_per_min=create_rate_per_min,
            rate_per_min=rate_per_min,
        )

    def start(self) -> Emulator:
        """Bind the port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = Server(self._address, self._app)
        host, port = server.server_address[:2]
        self._app.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"replicate-emulator-{port}",
            daemon=True,
        )
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._app.cond:
            self._app.stopping = True
            self._app.cond.notify_all()
        server.shutdown()
        if self._thread is not None:
            self._thread.join()
        server.close_connections()
        server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without ``/v1``: the client's `base_url`."""
        if not self._app.base_url:
            raise RuntimeError("the emulator has not been started")
        return self._app.base_url

    def configure(self, **settings: Any) -> None:
        """Change constructor settings (except host, port and log) while running."""
        unknown = set(settings) - _SETTINGS
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        if settings.get("output_mode", "url") not in ("url", "data"):
            raise ValueError("output_mode must be 'url' or 'data'")
        if settings.get("page_size", 1) < 1:
            raise ValueError("page_size must be at least 1")
        if settings.get("tokens") is not None:
            settings["tokens"] = frozenset(settings["tokens"])
        with self._app.cond:
            for name, value in settings.items():
                setattr(self._config, name, value)

    def set_timing(
        self,
        starting_s: float | None = None,
        processing_s: float | None = None,
        *,
        model: str | None = None,
    ) -> None:
        """Timing of predictions created from now on; `model` is a model id prefix.

        Without `model` this changes the defaults; None leaves a value as it is.
        """
        with self._app.cond:
            if model is not None:
                self._config.timings[model] = (starting_s, processing_s)
                return
            if starting_s is not None:
                self._config.starting_s = starting_s
            if processing_s is not None:
                self._config.processing_s = processing_s

    def set_outcome(self, error: str | None = None, *, model: str = "") -> None:
        """Make new predictions of models matching the prefix `model` fail with `error`.

        ``error=None`` makes them succeed again; the longest matching prefix wins.
        """
        with self._app.cond:
            self._config.errors[model] = error

    @property
    def create_count(self) -> int:
        """Predictions created, including those whose response was dropped."""
        return self._app.create_count

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received per endpoint (create, get, cancel, list, files, models, versions,
        download, stream, other), including failed and dropped ones."""
        with self._app.cond:
            return dict(self._app.counts)

    @property
    def requests(self) -> list[RequestRecord]:
        """The latest requests (up to 10,000), oldest first; header names are lowercase."""
        with self._app.cond:
            return list(self._app.log)

    @property
    def last_request_headers(self) -> Mapping[str, str]:
        """Headers of the latest request, names lowercase."""
        with self._app.cond:
            return self._app.log[-1].headers if self._app.log else {}

    @property
    def predictions(self) -> dict[str, PredictionInfo]:
        """Every prediction by id, oldest first, as it looks right now."""
        snapshot = {}
        for p in self._app.snapshot():
            body = self._app.prediction_json(p)
            snapshot[p.id] = PredictionInfo(
                p.id, p.model, body["status"], p.cancel_after_s, body, dict(p.input)
            )
        return snapshot
