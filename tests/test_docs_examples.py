"""The docs' command-line examples are true: each parses, runs offline and prints what it shows.

Every ``arthur-gen ...`` line in a ``console``/``bash``/``sh`` block of docs/*.md and the READMEs
is checked against the real parser (no flag or choice that does not exist). Each one that can
run here then runs, in order, in one sandbox per page: a private home, the real plugins, the
Replicate emulator behind the real client, and the example's input images. Where a ``console``
block shows output after a command, that output must appear in what the command printed, with
numbers, ids and dates free (a page's illustrative figures are not the sandbox's) and ``...``
standing for any lines. A block preceded by ``<!-- docs-test: illustrative -->`` shows figures
from a long history: it runs, but its output is not compared.

What cannot run here is listed in ``_NOT_OFFLINE`` with the reason (weights, an account, a
file the page assumes exists), so skipping an example is a visible decision, never silent.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from arthur_gen import _plugins
from arthur_gen.cli._main import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("plugins/*/README.md")],
    key=lambda p: str(p.relative_to(ROOT)),
)
_FENCE = re.compile(r"^```(\w*)\s*$")
_SHELLS = {"console", "bash", "sh", "shell"}
_PLUGINS = "arthur-gen-replicate,arthur-gen-mflux,arthur-gen-mlx-video,arthur-gen-youtube,arthur-gen-linkedin"

# (pattern on the command, why it cannot run on this machine). Checked in order.
_NOT_OFFLINE: tuple[tuple[str, str], ...] = (
    (r"^keys set|^accounts (login|add)", "asks for a secret on a terminal"),
    (r"^publish\b|^publications confirm|^accounts remove", "needs a signed-in YouTube or LinkedIn account"),
    (r"^storyboard (run|resume)", "runs a whole storyboard (tested in test_storyboard_run.py)"),
    (r"(--backend|-b) (mflux|mlx_video)\b(?!.*--dry-run)", "needs model weights (an Apple Silicon Mac)"),
    (r"\$\w", "uses a shell variable set by the lines above (README: test_readme_use_it.py runs it whole)"),
    (r"\.(m4a|mp3|wav)\b", "needs the reader's music file"),
    (r"--brand ", "uses a brand kit from the reader's config"),
    (r"--recipe ", "reads the reader's own recipe file"),
    (r"\.(mp4|png)\.json\b|^rerun .*\.mp4|\bout/\d{4}-|\.\.\._", "refers to an output of an earlier run"),
    (r"(^| )(JOB|PREDICTION|FILE|ID|0193[0-9a-f]{6})( |$)", "a placeholder for the reader's own value"),
)


@attrs.frozen
class Example:
    page: Path
    line: int
    command: str  # without the leading "arthur-gen"
    expected: tuple[str, ...]  # output lines shown under it (console blocks)
    compare: bool

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: arthur-gen {self.command}"


def _examples(page: Path) -> list[Example]:
    found: list[Example] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        language, start = fence.group(1), i + 1
        illustrative = i > 0 and "docs-test: illustrative" in lines[i - 1]
        end = next((j for j in range(start, len(lines)) if lines[j].startswith("```")), len(lines))
        if language in _SHELLS:
            found += _block(
                page, lines[start:end], start, console=language == "console", compare=not illustrative
            )
        i = end + 1
    return found


def _block(page: Path, body: list[str], first: int, *, console: bool, compare: bool) -> list[Example]:
    found: list[Example] = []
    j = 0
    while j < len(body):
        raw, number = body[j], first + j + 1
        text = raw[2:] if raw.startswith("$ ") else raw
        while text.rstrip().endswith("\\") and j + 1 < len(body):
            j += 1
            text = text.rstrip()[:-1] + " " + body[j].strip()
        j += 1
        text = re.sub(r"(^|\s)#.*$", "", text).strip()
        output: list[str] = []
        if console:
            while j < len(body) and not body[j].startswith("$ "):
                output.append(body[j])
                j += 1
        for part in re.split(r"\s*(?:;|&&|\|\|)\s*", text):
            part = re.sub(r"^(\w+=\S*\s+)+", "", part.split(" | ")[0]).strip()  # VAR=x cmd; cmd | head
            if part.startswith("arthur-gen "):
                found.append(Example(page, number, part.removeprefix("arthur-gen "), tuple(output), compare))
    return found


EXAMPLES = [example for page in PAGES for example in _examples(page)]


def test_the_docs_have_command_line_examples() -> None:
    assert len(EXAMPLES) >= 25
    assert {e.page.name for e in EXAMPLES} >= {"README.md", "guide.md", "costs.md", "replicate.md"}


def _argv(command: str) -> list[str]:
    return shlex.split(command.replace("...", "x").replace("[", "").replace("]", ""))  # [--opt X]: shown


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_every_documented_command_parses(example: Example, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    try:
        _, extras = parser.parse_known_args(_argv(example.command))
    except SystemExit:
        pytest.fail(f"{example} does not parse:\n{capsys.readouterr().err}")
    assert not extras, f"{example}: no such argument(s) {extras}"


def _why_not(command: str) -> str | None:
    for pattern, reason in _NOT_OFFLINE:
        if re.search(pattern, command):
            return reason
    return None


def _normal(text: str) -> str:
    """A line with the parts that differ between runs made free: numbers, ids, dates, paths."""
    text = re.sub(r"\b[0-9a-f]{10,}\b", "ID", text)
    text = re.sub(r"[~/][\w./@-]+", "PATH", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    text = re.sub(r"-{2,}", "-", text)
    return " ".join(text.split())


def _pieces_in(want: str, line: str) -> bool:
    """``want`` is in ``line``, its ``...`` standing for any text."""
    at = 0
    for piece in (p.strip() for p in want.split("...")):
        found = line.find(piece, at)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _shown_in(expected: tuple[str, ...], actual: str) -> str | None:
    """None if every expected line appears, in order, in ``actual``; else the first missing one."""
    printed = [_normal(line) for line in actual.splitlines()]
    at = 0
    for line in expected:
        want = _normal(line)
        if not want or want in ("...", "{ ... }") or want.startswith("{"):
            continue
        hit = next((k for k in range(at, len(printed)) if _pieces_in(want, printed[k])), None)
        if hit is None:
            return line
        at = hit + 1
    return None


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    from arthur_gen_replicate.emulator import Emulator

    emu = Emulator(starting_s=0.05, processing_s=0.2).start()
    try:
        yield emu.url
    finally:
        emu.stop()


def _sandbox_inputs(argv: list[str], cwd: Path) -> None:
    """The example's input files, made real: images, a short clip, a caption file."""
    from arthur_gen.testing import png_bytes

    for word in argv:
        target = cwd / word
        if Path(word).is_absolute() or target.exists() or not re.search(r"\.(png|jpe?g|webp|mp4|srt)$", word):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if word.endswith(".mp4"):
            _clip(target)
        elif word.endswith(".srt"):
            target.write_text("1\n00:00:00,000 --> 00:00:00,900\nHello\n", encoding="utf-8")
        else:
            target.write_bytes(png_bytes(96, 64, seed=len(word)))


def _clip(path: Path) -> None:
    """Four seconds of 320x180 H.264 at 12 fps (presets want at least 3 s)."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i in range(48):
            frame = np.full((180, 320, 3), (i * 10) % 255, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))


# Pages with at least one example that can run here (the publisher READMEs only sign in and post).
RUNNABLE_PAGES = sorted({e.page for e in EXAMPLES if not _why_not(e.command)})


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_run_offline_and_print_what_the_docs_show(
    page: Path,
    emulator: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", _PLUGINS)
    monkeypatch.setenv("REPLICATE_BASE_URL", emulator)
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_emulator")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the repository's example files
    _plugins._reset_for_tests()
    ran, problems = 0, []
    try:
        for example in (e for e in EXAMPLES if e.page == page):
            if _why_not(example.command):
                continue
            argv = _argv(example.command)
            _sandbox_inputs(argv, tmp_path)
            capsys.readouterr()
            try:
                code = main(argv)
            except SystemExit as exc:  # --help, argparse errors
                code = int(exc.code or 0)
            out, err = capsys.readouterr()
            ran += 1
            if code != 0 or "Traceback" in err:
                problems.append(f"{example}: exit {code}\n{err.strip()[-600:]}")
            elif example.compare and (missing := _shown_in(example.expected, out + err)) is not None:
                problems.append(f"{example}: the docs show {missing!r}; it printed:\n{out[-1500:]}")
    finally:
        _plugins._reset_for_tests()
    assert ran and not problems, "\n\n".join(problems)


def test_the_not_offline_rules_are_used() -> None:
    """Each rule skips at least one real example, so the list never grows stale."""
    used = {reason for e in EXAMPLES if (reason := _why_not(e.command))}
    assert used == {reason for _, reason in _NOT_OFFLINE}


def _python_blocks() -> list[tuple[Path, int, str]]:
    """Python blocks marked ``<!-- docs-test: run -->``: run as written."""
    blocks = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines[:-1]):
            if "docs-test: run" in line and lines[i + 1].startswith("```python"):
                end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
                blocks.append((page, i + 2, "\n".join(lines[i + 2 : end])))
    return blocks


PYTHON_BLOCKS = _python_blocks()


def test_some_python_examples_are_marked_to_run() -> None:
    assert {page.name for page, _, _ in PYTHON_BLOCKS} >= {"replicate.md"}


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: f"{b[0].relative_to(ROOT)}:{b[1]}")
def test_marked_python_examples_run_as_written(
    block: tuple[Path, int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", _PLUGINS)
    monkeypatch.chdir(tmp_path)
    for name in ("REPLICATE_BASE_URL", "REPLICATE_API_TOKEN"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # the example sets them: undone after
    _plugins._reset_for_tests()
    page, line, code = block
    try:
        exec(compile(code, f"{page.name}:{line}", "exec"), {"__name__": "__docs__"})
    finally:
        _plugins._reset_for_tests()
