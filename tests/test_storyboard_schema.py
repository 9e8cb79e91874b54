"""Storyboard files: errors name the file, line and field, before anything is planned or paid."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arthur_gen.errors import InvalidRequestError
from arthur_gen.storyboard import parse_board

GOOD = """\
title: Launch
defaults:
  style: soft light
  seed: 10
  transition: crossfade
shots:
  - id: one
    prompt: a lighthouse
    keyframe: a lighthouse at dusk
    caption: Hello
  - id: two
    prompt: waves
    first_frame: previous
outputs:
  - preset: linkedin-portrait
"""


def _error(text: str, tmp_path: Path) -> str:
    with pytest.raises(InvalidRequestError) as info:
        parse_board(tmp_path / "board.yaml", text)
    return str(info.value)


def test_a_good_file_parses(tmp_path: Path) -> None:
    board = parse_board(tmp_path / "board.yaml", GOOD)
    assert [s.id for s in board.shots] == ["one", "two"]
    assert board.shots[0].keyframe_prompt == "a lighthouse at dusk" and board.shots[1].chain
    assert board.defaults.seed == 10 and board.defaults.transition == "crossfade"
    assert board.outputs[0].preset == "linkedin-portrait" and board.outputs[0].name == "linkedin-portrait"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (GOOD.replace("    prompt: waves\n", ""), ":11: shots[1].prompt: is required"),
        (GOOD.replace("id: two", "id: one"), ":11: shots[1].id: 'one' is used by an earlier shot"),
        (GOOD.replace("caption: Hello", "captoin: Hello"), ":10: shots[0].captoin: unknown field"),
        (GOOD.replace("seed: 10", "seed: -3"), ":4: defaults.seed: expected a whole number"),
        (GOOD.replace("transition: crossfade", "transition: wipe"), ":5: defaults.transition: 'wipe'"),
        (GOOD.replace("first_frame: previous", "first_frame: nope.png"), ":13: shots[1].first_frame: file"),
        (GOOD.replace("  - id: one", "  - id: 'bad id'"), ":7: shots[0].id: 'bad id'"),
        ("shots: []\n", ":1: shots: is required"),
        ("shots:\n  - id: a\n    prompt: [unclosed\n", ":4: not valid YAML"),
        (GOOD + "publish:\n  - to: youtube\n    output: nope\n", ":18: publish[0].output: 'nope'"),
    ],
)
def test_errors_name_line_and_field(text: str, where: str, tmp_path: Path) -> None:
    message = _error(text, tmp_path)
    assert where in message, message
    assert str(tmp_path / "board.yaml") in message


def test_missing_file_and_first_shot_chained(tmp_path: Path) -> None:
    assert "cannot read storyboard" in _error_file(tmp_path / "missing.yaml")
    text = "shots:\n  - id: a\n    prompt: x\n    first_frame: previous\n"
    assert ":4: shots[0].first_frame: 'previous' needs a shot before" in _error(text, tmp_path)


def _error_file(path: Path) -> str:
    with pytest.raises(InvalidRequestError) as info:
        parse_board(path)
    return str(info.value)


@settings(max_examples=30, deadline=None)
@given(
    st.one_of(
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.integers(), max_size=3),
        st.booleans(),
    ),
    st.sampled_from(["prompt", "caption", "motion", "id"]),
)
def test_a_wrong_type_in_any_text_field_names_it(value: object, field: str) -> None:
    import json

    shot = {"id": "a", "prompt": "x", field: value}
    text = "shots:\n  - " + json.dumps(shot) + "\n"
    with pytest.raises(InvalidRequestError) as info:
        parse_board(Path("/nonexistent/board.yaml"), text)
    assert f":2: shots[0].{field}:" in str(info.value)
    assert info.value.field == f"shots[0].{field}"
