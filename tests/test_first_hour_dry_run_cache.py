"""--dry-run says whether the cache would answer, from the store: never a "maybe"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import arthur_gen
from arthur_gen.cli import _main as _cli
from arthur_gen.testing import FakePlugin, FakeProvider, FakeVideoBackend, registered


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = _cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out


def test_dry_run_reports_a_real_cache_hit_and_a_real_miss(
    capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    provider = FakeProvider(tmp_path / "provider", latency_s=0.0)
    with registered(FakePlugin(FakeVideoBackend(provider, seeded=True))):
        code, out = _run(capsys, "video", "surf", "--seed", "2", "--dry-run", "--json")
        assert code == 0 and json.loads(out)["cached_by"] is None
        assert not (home / "data" / "jobs.db").exists()  # a dry run writes nothing, not even a store
        video = arthur_gen.generate_video("surf", seed=2)
        code, out = _run(capsys, "video", "surf", "--seed", "2", "--dry-run")
        assert code == 0 and f"cached:   yes: job {video.job_id}" in out
        code, out = _run(capsys, "rerun", video.job_id, "--dry-run")
        assert f"cached:   yes: job {video.job_id} already made this, so it costs $0" in out
        code, out = _run(capsys, "rerun", video.job_id, "--seed", "3", "--dry-run")
        assert "cached:   no (never made before)" in out and "may be" not in out
        video.path.write_bytes(b"changed after it was made")  # a cache entry that no longer holds
        code, out = _run(capsys, "video", "surf", "--seed", "2", "--dry-run", "--json")
        assert json.loads(out)["cached_by"] is None
