"""Test kit for arthur-gen and for authors of backend packages.

- :class:`FakeImageBackend`: a local image backend writing tiny real PNGs, with steps,
  progress, cancellation and a load counter.
- :class:`FakeVideoBackend`: a remote backend over a :class:`FakeProvider` that behaves like a
  cloud provider (latency, failures, cancellation, uncertain submits, a submit counter); its
  state lives in a folder, so a job survives the process that started it.
- :func:`registered`: register a plugin for the duration of a ``with`` block.
- :class:`BackendConformance`: subclass it in your package's tests to check your backend
  against the contract (``backend_factory = staticmethod(lambda: MyBackend())``).
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

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
from ._models import Capability, Kind, ModelInfo, OptionSpec, Price, PriceBasis
from ._plugins import pm
from ._requests import ImageRequest, VideoRequest
from .errors import InvalidRequestError, SubmitUncertainError
from .hookspecs import hookimpl

__all__ = [
    "BackendConformance",
    "FakeImageBackend",
    "FakePlugin",
    "FakeProvider",
    "FakeVideoBackend",
    "check_emulator_stops_cleanly",
    "check_publisher",
    "png_bytes",
    "record_job",
    "registered",
    "serve_until_stopped",
]

Request = ImageRequest | VideoRequest


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    """A small real PNG whose colour depends on ``seed``."""
    r, g, b = (seed * 97) % 256, (seed * 57 + 80) % 256, (seed * 31 + 160) % 256
    row = b"\x00" + bytes((r, g, b)) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def record_job(*, created_at: float, **fields: Any) -> str:
    """Write a finished job straight into the store (a saved $0.50 Replicate video unless
    ``fields`` say otherwise), for tests of reports, budgets and history. Returns its id."""
    from .jobs._store import get_store, new_job_id

    values: dict[str, Any] = {
        "id": new_job_id(),
        "created_at": created_at,
        "updated_at": created_at,
        "kind": "video",
        "backend": "replicate",
        "model": "minimax/video-01",
        "prompt": "a test",
        "request": {"kind": fields.get("kind", "video"), "prompt": "a test"},
        "request_hash": new_job_id(),
        "state": "saved",
        "estimate_usd": 0.5,
        "cost_usd": 0.5,
        "cost_source": "metrics",
        "submit_count": 1,
    }
    values.update(fields)
    store = get_store()
    with store.transaction() as db:
        store.insert(db, values)
    return str(values["id"])


class FakeImageBackend(LocalBackend, ImageBackend):
    """A local image backend for tests: ``steps`` steps of ``step_s`` seconds each."""

    id: ClassVar[str] = "fake-image"

    def __init__(
        self,
        *,
        step_s: float = 0.0,
        load_s: float = 0.0,
        fail: str | None = None,
        backend_id: str | None = None,
    ) -> None:
        if backend_id:
            self.id = backend_id  # type: ignore[misc]
        self.step_s = step_s
        self.load_s = load_s
        self.fail = fail
        self.loads = 0
        self.calls: list[Request] = []
        self._warm = False
        self._lock = threading.Lock()

    @property
    def default_model(self) -> str:
        return "fake-sketch"

    def models(self) -> Sequence[ModelInfo]:
        return (
            ModelInfo(
                id="fake-sketch",
                kind=Kind.IMAGE,
                capabilities={Capability.TEXT_TO_IMAGE, Capability.IMAGE_TO_IMAGE},
                price=Price.free(),
                description="Flat-colour PNGs for tests",
                aliases=("sketch",),
                supports_size=True,
                default_width=64,
                default_height=64,
                min_size=16,
                max_size=1024,
                size_multiple=16,
                supports_steps=True,
                default_steps=4,
                max_steps=50,
                supports_guidance=True,
                default_guidance=3.5,
                supports_negative_prompt=True,
                supports_strength=True,
                options=(OptionSpec(name="style", type=str, default="flat", choices=("flat", "noisy")),),
            ),
        )

    def generate(self, request: Request, model: ModelInfo, ctx: LocalContext) -> list[LocalOutput]:
        self.calls.append(request)
        with self._lock:
            if not self._warm:
                time.sleep(self.load_s)
                self.loads += 1
                self._warm = True
        steps = request.steps or model.default_steps or 1
        for step in range(1, steps + 1):
            ctx.check_cancelled()
            time.sleep(self.step_s)
            ctx.progress(step, steps)
        if self.fail:
            raise RuntimeError(self.fail)
        width = request.width or model.default_width or 64
        height = request.height or model.default_height or 64
        path = ctx.workdir / "out.png"
        path.write_bytes(png_bytes(width, height, request.seed or 0))
        return [LocalOutput(path=path, seed=request.seed, metadata={"steps": steps})]

    def release(self) -> None:
        self._warm = False


class FakeProvider:
    """A pretend cloud provider whose jobs live as JSON files in ``root``.

    ``latency_s`` is how long a job runs; ``fail_jobs`` makes jobs fail; ``drop_submit``
    makes the next submit create the job but lose the answer (an uncertain submit).
    """

    def __init__(self, root: str | Path, *, latency_s: float = 0.2, queue_s: float = 0.0) -> None:
        self.root = Path(root)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self.latency_s = latency_s
        self.queue_s = queue_s
        self.fail_jobs = False
        self.drop_submit = False

    @property
    def submits(self) -> int:
        """How many jobs were ever created (the number a double charge would show in)."""
        return len(list((self.root / "jobs").glob("*.json")))

    def create(self, request: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex[:16]
        record = {
            "id": job_id,
            "created": time.time(),
            "request": request,
            "canceled": False,
            "fail": self.fail_jobs,
            "latency": self.latency_s,
            "queue": self.queue_s,
        }
        path = self.root / "jobs" / f"{job_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
        return job_id

    def read(self, job_id: str) -> dict[str, Any]:
        return dict(json.loads((self.root / "jobs" / f"{job_id}.json").read_text()))

    def cancel(self, job_id: str) -> None:
        record = self.read(job_id)
        record["canceled"] = True
        path = self.root / "jobs" / f"{job_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def all_jobs(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in (self.root / "jobs").glob("*.json")]


class FakeVideoBackend(RemoteBackend, VideoBackend):
    """A remote video backend over a :class:`FakeProvider`. $0.50 per video by default.

    ``price_usd=None`` makes the price unknown; ``report_cost=False`` makes the provider
    report no cost (the ledger falls back to the estimate); ``seeded=True`` lets the model
    take a seed, so its results are cacheable.
    """

    id: ClassVar[str] = "fake-video"

    def __init__(
        self,
        provider: FakeProvider,
        *,
        backend_id: str | None = None,
        price_usd: float | None = 0.5,
        report_cost: bool = True,
        seeded: bool = False,
    ) -> None:
        if backend_id:
            self.id = backend_id  # type: ignore[misc]
        self.provider = provider
        self.price_usd = price_usd
        self.report_cost = report_cost and price_usd is not None
        self.seeded = seeded
        self.polls = 0
        self.cancels = 0

    @property
    def default_model(self) -> str:
        return "fake-clip"

    def models(self) -> Sequence[ModelInfo]:
        return (
            ModelInfo(
                id="fake-clip",
                kind=Kind.VIDEO,
                capabilities={Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO},
                price=(
                    Price(basis=PriceBasis.PER_VIDEO, usd=self.price_usd, source="test")
                    if self.price_usd is not None
                    else Price.unknown("not published")
                ),
                supports_seed=self.seeded,
                durations=(3.0, 6.0),
                default_duration=6.0,
                aspect_ratios=("16:9", "1:1"),
                default_aspect_ratio="16:9",
                options=(OptionSpec(name="prompt_optimizer", type=bool, default=True),),
            ),
        )

    def describe_request(self, request: Request, model: ModelInfo) -> dict[str, Any]:
        return {"model": model.id, "input": _fake_input(request)}

    def submit(self, request: Request, model: ModelInfo, ctx: RemoteContext) -> str:
        job_id = self.provider.create(_fake_input(request))
        if self.provider.drop_submit:
            self.provider.drop_submit = False
            raise SubmitUncertainError("connection reset while creating the job")
        return job_id

    def reconcile(self, request: Request, model: ModelInfo, ctx: RemoteContext, since: float) -> str | None:
        wanted = _fake_input(request)
        for job in sorted(self.provider.all_jobs(), key=lambda j: j["created"]):
            if job["created"] >= since and job["request"] == wanted:
                return str(job["id"])
        return None

    def poll(self, remote_id: str, model: ModelInfo, ctx: RemoteContext) -> RemoteStatus:
        self.polls += 1
        job = self.provider.read(remote_id)
        age = time.time() - job["created"]
        if job["canceled"]:
            return RemoteStatus(state=RemoteState.CANCELED, error="canceled")
        if age < job["queue"]:
            return RemoteStatus(state=RemoteState.QUEUED)
        if age < job["queue"] + job["latency"]:
            return RemoteStatus(
                state=RemoteState.RUNNING, progress=(age - job["queue"]) / max(job["latency"], 1e-9)
            )
        if job["fail"]:
            return RemoteStatus(state=RemoteState.FAILED, error="the fake model failed", cost_usd=0.0)
        return RemoteStatus(
            state=RemoteState.SUCCEEDED,
            outputs=(
                RemoteOutput(url=f"fake://{remote_id}/out.mp4", name="out.mp4", media_type="video/mp4"),
            ),
            metrics={"predict_time": job["latency"]},
            cost_usd=self.price_usd if self.report_cost else None,
        )

    def cancel(self, remote_id: str, ctx: RemoteContext) -> None:
        self.cancels += 1
        self.provider.cancel(remote_id)

    def download(self, output: RemoteOutput, dest: BinaryIO, ctx: RemoteContext) -> None:
        remote_id = output.url.removeprefix("fake://").split("/")[0]
        job = self.provider.read(remote_id)
        body = b"\x00\x00\x00\x18ftypmp42" + json.dumps(job["request"]).encode()
        dest.write(body)


def _fake_input(request: Request) -> dict[str, Any]:
    data = request.to_dict()
    data.pop("kind", None)
    return {k: v for k, v in data.items() if v not in (None, {}, [])}


class FakePlugin:
    """A plugin object registering the given fake backends."""

    __name__ = "FakePlugin"

    def __init__(self, *backends: Backend) -> None:
        self.backends = backends

    @hookimpl
    def register_image_backends(self, register: Any) -> None:
        for backend in self.backends:
            if backend.kind is Kind.IMAGE:
                register(backend)

    @hookimpl
    def register_video_backends(self, register: Any) -> None:
        for backend in self.backends:
            if backend.kind is Kind.VIDEO:
                register(backend)


@contextmanager
def registered(plugin: object, name: str | None = None) -> Iterator[object]:
    """Register ``plugin`` (a module or an object with hookimpls) for a ``with`` block."""
    plugin_name = name or f"test-{type(plugin).__name__}-{id(plugin)}"
    pm.register(plugin, name=plugin_name)
    try:
        yield plugin
    finally:
        pm.unregister(name=plugin_name)


class _EnvPlugin(FakePlugin):
    """Fakes configured by environment variables, for tests that span processes.

    ``ARTHUR_GEN_FAKE_PROVIDER`` is the provider folder; ``ARTHUR_GEN_FAKE_LATENCY`` seconds.
    """

    def __init__(self) -> None:
        super().__init__()

    @property
    def backends(self) -> tuple[Backend, ...]:
        root = os.environ.get("ARTHUR_GEN_FAKE_PROVIDER")
        if not root:
            return (FakeImageBackend(),)
        latency = float(os.environ.get("ARTHUR_GEN_FAKE_LATENCY", "0.2"))
        return (FakeImageBackend(), FakeVideoBackend(FakeProvider(root, latency_s=latency)))

    @backends.setter
    def backends(self, value: tuple[Backend, ...]) -> None:
        pass


env_plugin = _EnvPlugin()


class BackendConformance:
    """Contract tests any backend package can run: subclass and set ``backend_factory``.

    ``sample_request`` must be a request the backend's default model accepts.
    Checks that need no network or weights run everywhere; a full generation is checked by
    :meth:`test_generation_end_to_end` only when ``run_generation`` is True.
    """

    backend_factory: ClassVar[Any] = None
    sample_prompt: ClassVar[str] = "a red square"
    run_generation: ClassVar[bool] = False

    def _backend(self) -> Backend:
        factory = type(self).backend_factory
        assert factory is not None, "set backend_factory = staticmethod(lambda: MyBackend())"
        backend: Backend = factory()
        return backend

    def test_is_a_backend(self) -> None:
        backend = self._backend()
        assert isinstance(backend, LocalBackend | RemoteBackend)
        assert isinstance(backend, ImageBackend | VideoBackend)
        assert backend.id and backend.id == backend.id.strip().lower()

    def test_catalog(self) -> None:
        backend = self._backend()
        models = list(backend.models())
        assert models, "a backend offers at least one model"
        ids = [m.id for m in models] + [a for m in models for a in m.aliases]
        assert len(ids) == len(set(ids)), "model ids and aliases are unique"
        assert any(backend.default_model in (m.id, *m.aliases) for m in models)
        for model in models:
            assert model.kind is backend.kind
            assert model.capabilities
            json.dumps(model.to_dict())

    def test_availability_is_cheap_and_typed(self) -> None:
        backend = self._backend()
        availability = backend.availability()
        assert availability.ok or availability.reason
        for model in backend.models():
            assert backend.model_availability(model).ok in (True, False)

    def test_rejects_bad_requests_before_running(self) -> None:
        from ._validate import check_request

        backend = self._backend()
        model = next(m for m in backend.models() if backend.default_model in (m.id, *m.aliases))
        cls = ImageRequest if backend.kind is Kind.IMAGE else VideoRequest
        request = cls(prompt=self.sample_prompt, options={"no_such_option_xyz": 1})
        if not model.accepts_any_options:
            try:
                check_request(request, model)
            except InvalidRequestError as exc:
                assert "no_such_option_xyz" in str(exc)
            else:  # pragma: no cover - a contract failure
                raise AssertionError("unknown options must be rejected")

    def test_describe_request_has_no_secrets(self) -> None:
        backend = self._backend()
        model = next(m for m in backend.models() if backend.default_model in (m.id, *m.aliases))
        cls = ImageRequest if backend.kind is Kind.IMAGE else VideoRequest
        request = cls(prompt=self.sample_prompt)
        described = json.dumps(dict(backend.describe_request(request, model)), default=str)
        assert "Bearer" not in described

    def test_generation_end_to_end(self, tmp_path: Path) -> None:
        if not self.run_generation:
            return
        from ._api import generate_image, generate_video

        backend = self._backend()
        with registered(FakePlugin(backend)):
            verb = generate_image if backend.kind is Kind.IMAGE else generate_video
            result = verb(self.sample_prompt, backend=backend.id, out_dir=tmp_path)
        assert result.path.exists() and result.path.stat().st_size > 0
        assert result.sidecars[0].exists()


def check_postprocessor(postprocessor: Any, params: Mapping[str, Any] | None = None) -> None:
    """Assert that a plugin's post-processor keeps the contract (for its test suite).

    It has a name, is an :class:`arthur_gen.Postprocessor`, accepts ``params`` in ``validate``
    and returns an HxWx3 uint8 frame of the input's shape from ``process``.
    """
    import numpy as np

    from .media._postprocessors import Postprocessor

    assert isinstance(postprocessor, Postprocessor), f"{postprocessor!r} is not a Postprocessor"
    assert isinstance(postprocessor.name, str) and postprocessor.name, "a post-processor needs a name"
    given = dict(params or {})
    postprocessor.validate(given)
    rng = np.random.default_rng(0)
    for shape in ((90, 160, 3), (1350, 1080, 3)):
        frame = rng.integers(0, 256, size=shape, dtype=np.uint8)
        out = postprocessor.process(frame.copy(), 0.5, given)
        assert isinstance(out, np.ndarray), f"process returned {type(out).__name__}, not an ndarray"
        assert out.shape == shape and out.dtype == np.uint8, f"process returned {out.shape} {out.dtype}"


def check_publisher(
    publisher: Any, video: str | Path | None = None, account: Any = None, **metadata: Any
) -> None:
    """Assert that a plugin's publisher keeps the contract (for its test suite, against its emulator).

    Always: a named :class:`arthur_gen.publish.Publisher` with ``Limits``, string targets and
    links, an own ``upload``. With ``video`` and ``account``: an upload returns an ``Outcome``,
    saves checkpoints without tokens, and running it again from its last checkpoint returns
    the same remote id (a resumed job never publishes twice); with ``hashes_during_upload``, a
    refusal from ``ctx.before_publish()`` stops the upload.
    """
    import json

    from .publish import Limits, Outcome, PublishContext, Publisher, PublishRequest

    assert isinstance(publisher, Publisher), f"{publisher!r} is not an arthur_gen.publish.Publisher"
    assert isinstance(publisher.name, str) and publisher.name, "a publisher needs a name"
    assert isinstance(publisher.limits, Limits), "limits must be an arthur_gen.publish.Limits"
    assert type(publisher).upload is not Publisher.upload, "a publisher must implement upload()"
    assert isinstance(publisher.url_for("x"), str)
    if video is None or account is None:
        return
    request = PublishRequest(video=str(video), to=publisher.name, account=account.name, **metadata)
    publisher.validate(request)
    assert isinstance(publisher.target(request, account), str)
    saved: list[dict[str, Any]] = []

    def save(checkpoint: dict[str, Any], durable: bool) -> None:
        saved.append(checkpoint)

    if publisher.hashes_during_upload:  # it must ask before publishing, and stop when refused

        def refuse() -> None:
            raise InvalidRequestError("conformance: a duplicate")

        refused = PublishContext(request, account, "conformance0001", {}, save, before_publish=refuse)
        try:
            publisher.upload(refused)
        except InvalidRequestError as exc:
            assert "conformance: a duplicate" in str(exc), f"the refusal was replaced by {exc!r}"
        else:
            raise AssertionError("hashes_during_upload is set but upload() never calls ctx.before_publish()")
        saved.clear()
    ctx = PublishContext(request, account, "conformance0000", {}, save)
    first = publisher.upload(ctx)
    assert isinstance(first, Outcome) and first.remote_id, f"upload returned {first!r}"
    assert saved, "upload() saved no checkpoint: a crash could not resume"
    dumped = json.dumps(saved, default=str)
    for secret in account.secrets():
        assert secret.reveal() not in dumped, "a token was written into a checkpoint"
    again = publisher.upload(PublishContext(request, account, "conformance0000", saved[-1], save))
    assert again.remote_id == first.remote_id, "resuming a finished upload published again"


def serve_until_stopped(lines: Iterable[str]) -> int:
    """For an emulator's ``__main__``: print ``lines`` (its address, the setup commands), then
    serve until Ctrl-C or SIGTERM; exits 0 even when the reader of its output went away."""
    import os
    import signal
    import sys
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        for line in lines:
            print(line, flush=True)
    except BrokenPipeError:
        pass
    while not stop.wait(1.0):
        pass
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no failing flush at exit
    return 0


def check_emulator_stops_cleanly(module: str, *, state_path: str = "/_emulator/state") -> None:
    """Run ``python -m module --port N`` (an emulator using :func:`serve_until_stopped`), close
    its output before it prints, wait until it answers ``state_path``, send SIGTERM: it must
    exit 0 without a traceback or a ``BrokenPipeError``. Raises ``AssertionError`` otherwise."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.close()  # the reader is gone before the emulator prints its address
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}{state_path}", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
