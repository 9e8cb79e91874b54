"""Issue 8 item 10: guards that scripts/mutate.py breaks and that no other test covered.

The rate-limit floor: when Replicate says few reads are left this minute, polls of many jobs
spread out so the account is not locked out (a 429 on a poll delays every job)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("arthur_gen_replicate")
from arthur_gen_replicate import _client  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_limits() -> Iterator[None]:
    saved = dict(_client._rate_remaining)
    _client._rate_remaining.clear()
    yield
    _client._rate_remaining.clear()
    _client._rate_remaining.update(saved)


def _answered(remaining: int) -> None:
    request = httpx.Request("GET", "https://api.replicate.com/v1/predictions/abc")
    _client._note_rate_limit(request, httpx.Response(200, headers={"ratelimit-remaining": str(remaining)}))


def test_no_floor_while_plenty_of_reads_are_left() -> None:
    assert _client.rate_limit_floor(200) == 0.0
    _answered(2900)
    assert _client.rate_limit_floor(200) == 0.0


@pytest.mark.parametrize(("active", "floor"), [(1, 1 / 40), (80, 2.0), (4000, 10.0)])
def test_polls_spread_out_when_reads_run_low(active: int, floor: float) -> None:
    _answered(120)
    assert _client.rate_limit_floor(active) == pytest.approx(floor)


# -- reconcile compares the input: a prediction someone else made in the window is not ours


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import arthur_gen_replicate
    from arthur_gen_replicate import _backend
    from arthur_gen_replicate.emulator import Emulator

    from arthur_gen.testing import registered

    _backend._shared_pool().clear()
    with (
        Emulator(starting_s=0.05, processing_s=0.1) as emulator,
        registered(arthur_gen_replicate, "replicate"),
    ):
        monkeypatch.setenv("REPLICATE_BASE_URL", emulator.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_MutantsTestToken0123456789abcdefgh")
        yield emulator
    _backend._shared_pool().clear()


def test_a_lost_create_never_adopts_a_prediction_with_another_input(emu: Any) -> None:
    import arthur_gen
    from arthur_gen.errors import SubmitUncertainError

    other = httpx.post(  # made outside arthur-gen (another script on the same account)
        f"{emu.url}/v1/models/minimax/video-01/predictions",
        json={"input": {"prompt": "somebody else's video"}},
        headers={"Authorization": "Bearer r8_MutantsTestToken0123456789abcdefgh"},
    ).json()["id"]
    emu.faults.drop("create", after_effect=False)  # our create never arrives
    with pytest.raises(SubmitUncertainError):
        arthur_gen.generate_video("my own video", backend="replicate", timeout=60)
    ((job_id, result),) = arthur_gen.resume()
    assert not isinstance(result, Exception), result
    row = arthur_gen.get_job(job_id)
    assert row.remote_id not in (None, other) and emu.create_count == 2
    assert emu.predictions[row.remote_id].json["input"]["prompt"] == "my own video"


def test_a_lost_create_never_adopts_an_older_prediction_of_the_same_request(emu: Any) -> None:
    """The listing starts at the submit (less 10 s of clock skew): the same request made ten
    minutes earlier, by another tool, is not this job's prediction."""
    import dataclasses

    import arthur_gen
    from arthur_gen.errors import SubmitUncertainError

    sent = arthur_gen.plan("video", "the same video", backend="replicate").to_dict()["would_send"]
    older = httpx.post(
        f"{emu.url}/v1/models/minimax/video-01/predictions",
        json={"input": sent["input"]},
        headers={"Authorization": "Bearer r8_MutantsTestToken0123456789abcdefgh"},
    ).json()["id"]
    with emu._app.cond:  # made ten minutes ago (its output still kept: an hour)
        p = emu._app._predictions[older]
        emu._app._predictions[older] = dataclasses.replace(
            p,
            created=p.created - 600,
            start_at=p.start_at - 600,
            done_at=p.done_at - 600,
            end_at=p.end_at - 600,
        )
    emu.faults.drop("create", after_effect=False)
    with pytest.raises(SubmitUncertainError):
        arthur_gen.generate_video("the same video", backend="replicate", timeout=60)
    ((job_id, result),) = arthur_gen.resume()
    assert not isinstance(result, Exception), result
    assert arthur_gen.get_job(job_id).remote_id not in (None, older)


# -- a download shorter than its Content-Length is refused (whatever the HTTP stack lets through)


def test_a_download_shorter_than_announced_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import time

    from arthur_gen_replicate import _download

    from arthur_gen.errors import DownloadError

    def short_body(request: Any) -> Any:
        return httpx.Response(200, headers={"Content-Length": "1000"}, stream=httpx.ByteStream(b"x" * 10))

    monkeypatch.setattr(_download, "_client", lambda: httpx.Client(transport=httpx.MockTransport(short_body)))
    with pytest.raises(DownloadError, match="truncated: got 10 of 1000 bytes"):
        _download.download(
            "https://replicate.delivery/abc/out.mp4",
            io.BytesIO(),
            key=None,
            base_url="https://api.replicate.com",
            deadline=time.monotonic() + 10,
        )
