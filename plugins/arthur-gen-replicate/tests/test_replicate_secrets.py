"""The API token never appears in the store, sidecars, DEBUG logs, error text or reprs."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest
from arthur_gen_replicate import ReplicateVideoBackend
from arthur_gen_replicate.emulator import Emulator
from PIL import Image

import arthur_gen
from arthur_gen._backends import RemoteContext
from arthur_gen._secrets import Secret

_LOGGERS = ("", "httpx", "httpcore", "replicate", "arthur_gen", "arthur_gen_replicate")


def _rows(path: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute("SELECT id FROM jobs"))
    finally:
        db.close()


def _all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_token_is_nowhere(
    emu: Emulator,
    home: Path,
    tmp_path: Path,
    token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in _LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    big = tmp_path / "big.png"
    Image.effect_noise((400, 400), 64).convert("RGB").save(big)  # > 256 KB: uploaded
    errors: list[str] = []

    # a good run with an upload, a dropped create (reconciled) and flaky reads
    emu.faults.drop("create", after_effect=True)
    emu.faults.fail("get", 503, times=2)
    video = arthur_gen.generate_video("secret test", backend="replicate", first_frame=big)
    image = arthur_gen.generate_image("secret test", backend="replicate", seed=1)

    # errors whose provider text carries the token back
    emu.faults.fail("create", 422, detail=f"- input: bad token {token}\n")
    with pytest.raises(arthur_gen.InvalidRequestError) as invalid:
        arthur_gen.generate_video("echo", backend="replicate")
    errors.append(str(invalid.value))
    emu.faults.fail("create", 402, detail=f"no credit for {token}")
    with pytest.raises(arthur_gen.BillingError) as billing:
        arthur_gen.generate_video("echo 2", backend="replicate")
    errors.append(str(billing.value))
    emu.faults.fail_prediction(f"model crashed; env had {token}")
    with pytest.raises(arthur_gen.GenerationError) as failed:
        arthur_gen.generate_video("echo 3", backend="replicate")
    errors.append(str(failed.value))
    emu.configure(tokens=["r8_another"])
    with pytest.raises(arthur_gen.AuthenticationError) as auth:
        arthur_gen.generate_video("echo 4", backend="replicate")
    errors.append(str(auth.value))

    assert errors and all(token not in text for text in errors), errors
    assert "********" in errors[0] and "********" in errors[1]
    assert token not in caplog.text
    assert "Bearer" not in caplog.text
    assert caplog.records, "DEBUG logging was captured"
    files = _all_bytes(home)
    assert any(p.name == "jobs.db" for p, _ in files)
    sidecars = [p for p, _ in files if p.suffix == ".json"]
    assert len(sidecars) >= len(video.paths) + len(image.paths)
    leaked = [str(p) for p, data in files if token.encode() in data]
    assert leaked == []
    assert token not in repr(video) and token not in repr(image)


def test_reprs_hide_the_token(token: str) -> None:
    backend = ReplicateVideoBackend()
    ctx = RemoteContext(job_id="j", key=Secret(token), timeout_s=5)
    for obj in (backend, ctx, ctx.key):
        assert token not in repr(obj) and token not in str(obj)


def test_plain_http_to_a_remote_host_is_refused(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is never sent in clear text off this machine; nothing is even planned."""
    monkeypatch.setenv("REPLICATE_BASE_URL", "http://api.example.com")
    with pytest.raises(arthur_gen.ConfigError, match="https"):
        arthur_gen.generate_video("x", backend="replicate")
    assert emu.create_count == 0
    db = Path(os.environ["ARTHUR_GEN_HOME"]) / "data" / "jobs.db"
    assert not db.exists() or _rows(db) == []
