"""Storyboards: a YAML shot list becomes one finished video, estimated, budgeted and resumable."""

from __future__ import annotations

from ._board import Step, Storyboard, StoryboardPlan, StoryboardRun, StoryEvent, last_frame_png
from ._schema import Board, Defaults, Output, Shot, parse_board

__all__ = [
    "Board",
    "Defaults",
    "Output",
    "Shot",
    "Step",
    "StoryEvent",
    "Storyboard",
    "StoryboardPlan",
    "StoryboardRun",
    "last_frame_png",
    "parse_board",
]
