"""Request validation: junk in, only InvalidRequestError out, and nothing sent or written."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import arthur_gen
from arthur_gen import ImageRequest, InvalidRequestError, VideoRequest
from arthur_gen._models import Kind
from arthur_gen._requests import request_from_dict
from arthur_gen._validate import check_request
from arthur_gen.jobs._hashing import request_key
from arthur_gen.testing import FakeImageBackend, FakeProvider, FakeVideoBackend, png_bytes

EXISTING = "<existing file>"  # replaced by a real file's path inside the tests

_objects = st.sampled_from([object(), Path("/"), b"bytes", 1j, math.inf, -math.inf, math.nan, ..., print])
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.text(max_size=3)),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.fractions(),
    _objects,
)
paths = st.one_of(
    st.sampled_from(
        [
            EXISTING,
            "/no/such/file.png",
            "https://example.com/a.png",
            "data:image/png;base64,AAAA",
            "~no_such_user_xyz/a.png",
            "~/no-such-file.png",
            "a" * 5000,
            "dir/" * 2000,
            "nul\x00byte.png",
            "",
            " ",
        ]
    ),
    st.text(max_size=30),
    junk,
)
ints = st.one_of(st.integers(min_value=-50, max_value=20_000), junk)
floats = st.one_of(st.floats(min_value=-5, max_value=200), st.integers(-5, 200), junk)
aspects = st.one_of(
    st.from_regex(r"\A[0-9]{1,5}:[0-9]{1,5}\Z"),
    st.sampled_from(["16:9", "1:1", "9:16", "0:1", "16/9", "16:9 ", ":", ""]),
    junk,
)
options = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["style", "prompt_optimizer", "nope"]), st.text(max_size=8), st.integers()),
        st.one_of(st.sampled_from(["flat", "noisy", True, False]), junk),
        max_size=3,
    ),
    junk,
)
prompts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "   ", "\x00", "a lighthouse", "x" * 10_001]),
    junk,
)

COMMON = {
    "negative_prompt": st.one_of(st.text(max_size=10), junk),
    "width": ints,
    "height": ints,
    "aspect_ratio": aspects,
    "seed": st.one_of(st.integers(min_value=-5, max_value=2**64), junk),
    "steps": ints,
    "guidance": floats,
    "strength": st.one_of(st.floats(min_value=-1, max_value=2), junk),
    "options": options,
}
IMAGE_FIELDS = {**COMMON, "image": paths}
VIDEO_FIELDS = {
    **COMMON,
    "duration": st.one_of(st.sampled_from([3.0, 6.0, 3, 6, 0, -1, 601, 4.5]), floats),
    "fps": ints,
    "resolution": st.one_of(st.sampled_from(["720p", "1080p", "720", "p", "99999p"]), junk),
    "first_frame": paths,
    "last_frame": paths,
}

image_kwargs = st.fixed_dictionaries({"prompt": prompts}, optional=IMAGE_FIELDS)
video_kwargs = st.fixed_dictionaries({"prompt": prompts}, optional=VIDEO_FIELDS)
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("inputs") / "input.png"
    path.write_bytes(png_bytes(16, 16, 1))
    return str(path)


def _fill(kwargs: dict[str, Any], existing: str) -> dict[str, Any]:
    return {k: existing if v == EXISTING and isinstance(v, str) else v for k, v in kwargs.items()}


@SLOW
@given(kwargs=image_kwargs)
def test_image_request_junk_raises_only_invalid_request(kwargs: dict[str, Any], existing: str) -> None:
    try:
        request = ImageRequest(**_fill(kwargs, existing))
    except InvalidRequestError as exc:
        assert isinstance(exc, ValueError)
        assert str(exc)
    else:
        assert isinstance(request.prompt, str) and request.prompt.strip()


@SLOW
@given(kwargs=video_kwargs)
def test_video_request_junk_raises_only_invalid_request(kwargs: dict[str, Any], existing: str) -> None:
    try:
        request = VideoRequest(**_fill(kwargs, existing))
    except InvalidRequestError as exc:
        assert isinstance(exc, ValueError)
    else:
        assert isinstance(request.prompt, str) and request.prompt.strip()


@SLOW
@given(
    data=st.dictionaries(
        st.one_of(
            st.sampled_from(["kind", "prompt", "seed", "width", "image", "fps"]),
            st.text(max_size=6),
            st.integers(),
            st.none(),
            st.tuples(st.integers()),
        ),
        st.one_of(st.sampled_from(["image", "video", "a cat"]), junk),
        max_size=6,
    )
)
def test_request_from_junk_dict_raises_only_invalid_request(data: dict[Any, Any]) -> None:
    try:
        request_from_dict(data)
    except InvalidRequestError:
        pass


# --- valid requests ---------------------------------------------------------------------

json_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.lists(st.text(max_size=5), max_size=3),
)
valid_common = {
    "negative_prompt": st.text(st.characters(exclude_characters="\x00"), max_size=20),
    "seed": st.integers(min_value=0, max_value=2**63 - 1),
    "steps": st.integers(min_value=1, max_value=1000),
    "guidance": st.floats(min_value=0, max_value=100),
    "strength": st.floats(min_value=0, max_value=1),
    "options": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
}
valid_prompts = st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s)
sizes: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries({"width": st.integers(16, 16384), "height": st.integers(16, 16384)}),
    st.fixed_dictionaries({"aspect_ratio": st.from_regex(r"\A[1-9][0-9]{0,3}:[1-9][0-9]{0,3}\Z")}),
    st.just({}),
)


@st.composite
def valid_requests(draw: st.DrawFn) -> ImageRequest | VideoRequest:
    kind = draw(st.sampled_from([Kind.IMAGE, Kind.VIDEO]))
    fields: dict[str, Any] = draw(st.fixed_dictionaries({"prompt": valid_prompts}, optional=valid_common))
    fields.update(draw(sizes))
    if kind is Kind.IMAGE:
        fields.update(draw(st.fixed_dictionaries({}, optional={"image": st.just("https://x.test/a.png")})))
        return ImageRequest(**fields)
    extra = {
        "duration": st.floats(min_value=0.01, max_value=600),
        "fps": st.integers(1, 240),
        "resolution": st.sampled_from(["480p", "720p", "1080p"]),
        "first_frame": st.just("data:image/png;base64,AAAA"),
    }
    fields.update(draw(st.fixed_dictionaries({}, optional=extra)))
    return VideoRequest(**fields)


@settings(max_examples=200, deadline=None)
@given(request=valid_requests())
def test_valid_requests_round_trip(request: ImageRequest | VideoRequest) -> None:
    data = request.to_dict()
    assert request_from_dict(data) == request
    through_json = request_from_dict(json.loads(json.dumps(data)))
    assert through_json == request
    assert through_json.to_dict() == data
    key = request_key(request, backend="b", model="m")
    assert key == request_key(through_json, backend="b", model="m")


@settings(max_examples=100, deadline=None)
@given(request=valid_requests(), other=valid_prompts)
def test_request_key_changes_with_what_matters(request: ImageRequest | VideoRequest, other: str) -> None:
    key = request_key(request, backend="b", model="m")
    assert key != request_key(request, backend="b", model="m2")
    assert key != request_key(request, backend="b2", model="m")
    assert key != request_key(request, backend="b", model="m", version="v2")
    if other != request.prompt:
        assert key != request_key(request.with_changes(prompt=other), backend="b", model="m")
    reordered = request.with_changes(options=dict(reversed(list(request.options.items()))))
    assert request_key(reordered, backend="b", model="m") == key


# --- against the fake models, and through the public verbs ------------------------------

IMAGE_MODEL = FakeImageBackend().models()[0]
VIDEO_MODEL = FakeVideoBackend(FakeProvider.__new__(FakeProvider)).models()[0]


@SLOW
@given(kwargs=image_kwargs)
def test_check_request_image_raises_only_invalid_request(kwargs: dict[str, Any], existing: str) -> None:
    try:
        request = ImageRequest(**_fill(kwargs, existing))
    except InvalidRequestError:
        return
    for model in (IMAGE_MODEL, VIDEO_MODEL):
        try:
            check_request(request, model)
        except InvalidRequestError as exc:
            assert exc.field
    with pytest.raises(InvalidRequestError):
        check_request(request, VIDEO_MODEL)


@SLOW
@given(kwargs=video_kwargs)
def test_check_request_video_raises_only_invalid_request(kwargs: dict[str, Any], existing: str) -> None:
    try:
        request = VideoRequest(**_fill(kwargs, existing))
    except InvalidRequestError:
        return
    try:
        check_request(request, VIDEO_MODEL)
    except InvalidRequestError as exc:
        assert exc.field
    with pytest.raises(InvalidRequestError):
        check_request(request, IMAGE_MODEL)


@pytest.fixture
def both(
    image_backend: FakeImageBackend, video_backend: FakeVideoBackend, provider: FakeProvider
) -> Iterator[tuple[FakeImageBackend, FakeVideoBackend, FakeProvider]]:
    yield image_backend, video_backend, provider


def _nothing_happened(
    home: Path, image: FakeImageBackend, video: FakeVideoBackend, provider: FakeProvider
) -> None:
    assert image.calls == []
    assert image.loads == 0
    assert provider.submits == 0
    assert video.polls == 0
    outputs = home / "data" / "outputs"
    assert not outputs.exists() or not any(outputs.rglob("*"))
    db = home / "data" / "jobs.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


VERB_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@VERB_SETTINGS
@given(kwargs=image_kwargs)
def test_generate_image_rejects_junk_before_any_work(
    kwargs: dict[str, Any],
    existing: str,
    home: Path,
    both: tuple[FakeImageBackend, FakeVideoBackend, FakeProvider],
) -> None:
    kwargs = _fill(kwargs, existing)
    prompt = kwargs.pop("prompt")
    try:
        arthur_gen.plan("image", prompt, backend="fake-image", **kwargs)
    except InvalidRequestError:
        pass
    else:
        assume(False)  # a valid request: running it is another test's business
    with pytest.raises(InvalidRequestError):
        arthur_gen.estimate("image", prompt, backend="fake-image", **kwargs)
    with pytest.raises(InvalidRequestError):
        arthur_gen.generate_image(prompt, backend="fake-image", **kwargs)
    _nothing_happened(home, *both)


@VERB_SETTINGS
@given(kwargs=video_kwargs)
def test_generate_video_rejects_junk_before_any_work(
    kwargs: dict[str, Any],
    existing: str,
    home: Path,
    both: tuple[FakeImageBackend, FakeVideoBackend, FakeProvider],
) -> None:
    kwargs = _fill(kwargs, existing)
    prompt = kwargs.pop("prompt")
    try:
        arthur_gen.plan("video", prompt, backend="fake-video", **kwargs)
    except InvalidRequestError:
        pass
    else:
        assume(False)
    with pytest.raises(InvalidRequestError):
        arthur_gen.generate_video(prompt, backend="fake-video", **kwargs)
    _nothing_happened(home, *both)


def test_clear_messages_name_field_value_and_fix(image_backend: FakeImageBackend) -> None:
    with pytest.raises(InvalidRequestError, match=r"width=100 .*multiple of 16 \(try 96 or 112\)") as info:
        arthur_gen.generate_image("a cat", width=100, height=64)
    assert info.value.field == "width"
    with pytest.raises(InvalidRequestError, match=r"options\.colour.*unknown option; its options: style"):
        arthur_gen.generate_image("a cat", options={"colour": "red"})
    with pytest.raises(InvalidRequestError, match="one of 'flat', 'noisy'"):
        arthur_gen.generate_image("a cat", options={"style": "wavy"})
    with pytest.raises(InvalidRequestError, match="must not be empty"):
        arthur_gen.generate_image("  ")
    with pytest.raises(InvalidRequestError, match="no such file"):
        arthur_gen.generate_image("a cat", image="/no/such/file.png")
    with pytest.raises(InvalidRequestError, match=r"strength.*needs an input image"):
        arthur_gen.generate_image("a cat", strength=0.5)
    assert image_backend.calls == []


def test_video_messages(video_backend: FakeVideoBackend, provider: FakeProvider) -> None:
    with pytest.raises(InvalidRequestError, match=r"duration=4\.5 .*one of 3, 6 seconds"):
        arthur_gen.generate_video("waves", duration=4.5)
    with pytest.raises(InvalidRequestError, match=r"aspect_ratio='4:3'.*'16:9', '1:1'"):
        arthur_gen.generate_video("waves", aspect_ratio="4:3")
    with pytest.raises(InvalidRequestError, match="takes no seed"):
        arthur_gen.generate_video("waves", seed=3)
    with pytest.raises(InvalidRequestError, match="must be a bool"):
        arthur_gen.generate_video("waves", options={"prompt_optimizer": "no"})
    with pytest.raises(InvalidRequestError, match="expected a VideoRequest"):
        arthur_gen.generate_video(ImageRequest(prompt="x"))  # type: ignore[arg-type]
    assert provider.submits == 0
