"""Progress displays fed by :class:`~arthur_gen.ProgressEvent`: a terminal one and a notebook one.

- :class:`TerminalProgress`: one line per running job on a terminal (several at once), each cut
  to the terminal's width (``COLUMNS`` / :func:`shutil.get_terminal_size`, read at every draw so
  a resize is followed); a finished job's last line stays above the live ones. While it draws,
  other writes to ``sys.stderr`` (log lines, warnings) are printed above it, not through it.
- :class:`NotebookProgress`: the same as a small HTML table with ``<progress>`` bars, updated in
  place through IPython's display handles; used by the verbs on their own in a Jupyter kernel
  (see :func:`auto_progress`). What stays in the saved notebook is the last state (a few hundred
  bytes), never a stream of updates.

No third-party library: only the standard library, and IPython (already loaded in a kernel).
"""

from __future__ import annotations

import abc
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .jobs._results import ProgressEvent

__all__ = ["NotebookProgress", "TerminalProgress", "auto_progress", "in_notebook"]

FINAL_PHASES = frozenset({"saved", "cached", "failed", "canceled"})
_BAR_MAX = 30
_BAR_MIN = 8


class _Job:
    __slots__ = ("done", "job_id", "label", "message", "phase", "started", "step", "total")

    def __init__(self, job_id: str, label: str) -> None:
        self.job_id = job_id
        self.label = label
        self.phase = "planned"
        self.message = ""
        self.step: int | None = None
        self.total: int | None = None
        self.started = time.monotonic()
        self.done = False

    def update(self, event: ProgressEvent) -> None:
        if event.phase == "step":
            self.step, self.total = event.step, event.total
            self.phase = "running"
            return
        self.phase = event.phase
        self.message = event.message
        if event.phase == "downloading":
            self.step = self.total = None
        self.done = event.phase in FINAL_PHASES

    def fraction(self) -> float | None:
        if self.phase in ("saved", "cached"):
            return 1.0
        if self.step is not None and self.total:
            return max(0.0, min(1.0, self.step / self.total))
        return None


class _Display(abc.ABC):
    """Jobs by id, fed by events from any thread; subclasses draw them."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._jobs: dict[str, _Job] = {}
        self._labels: dict[str, str] = {}

    def callback(self, label: str) -> Callable[[ProgressEvent], None]:
        """An ``on_progress`` for one call whose jobs are shown as ``label`` (e.g. ``seed 7``)."""

        def on_progress(event: ProgressEvent) -> None:
            with self._lock:
                self._labels.setdefault(event.job_id, label)
            self(event)

        return on_progress

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            job = self._jobs.get(event.job_id)
            if job is None:
                job = self._jobs[event.job_id] = _Job(event.job_id, self._labels.get(event.job_id, ""))
            job.update(event)
            self._changed(job, event)

    @abc.abstractmethod
    def _changed(self, job: _Job, event: ProgressEvent) -> None:
        """Show ``job`` after ``event`` (a terminal redraw, a notebook update)."""


def _elapsed(job: _Job) -> str:
    seconds = int(time.monotonic() - job.started)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s"


def terminal_line(job: _Job, width: int) -> str:
    """One job as a line of at most ``width - 1`` characters (the last column would wrap)."""
    width = max(10, width) - 1
    head = " ".join(p for p in (job.label, job.job_id[-8:]) if p)
    tail = f"{job.phase} {_elapsed(job)}"
    if job.message and (job.done or job.phase in ("planned", "attached")):
        message = job.message
        if job.phase == "saved":  # the full paths go to stdout; the names are enough here
            message = ", ".join(os.path.basename(p) for p in message.split(", "))
        tail = f"{job.phase}: {message} ({_elapsed(job)})"
    fraction = job.fraction()
    bar = ""
    if fraction is not None:
        room = width - len(head) - len(tail) - 8  # brackets, spaces, " 100%"
        size = min(_BAR_MAX, room)
        if size >= _BAR_MIN:
            filled = int(size * fraction)
            bar = f"[{'#' * filled}{'-' * (size - filled)}] {int(fraction * 100):3d}%"
        else:
            bar = f"{int(fraction * 100)}%"
    line = " ".join(p for p in (head, bar, tail) if p)
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


class _Interleaved:
    """Stands in for ``sys.stderr`` while a display is live: whole lines written by others
    go above the live block, which is then drawn again below them."""

    def __init__(self, display: TerminalProgress, real: IO[str]) -> None:
        self._display = display
        self._real = real
        self._pending = ""

    def write(self, text: str) -> int:
        with self._display._lock:
            self._pending += text
            if "\n" in self._pending:
                complete, _, self._pending = self._pending.rpartition("\n")
                self._display._print_above(complete + "\n")
        return len(text)

    def flush(self) -> None:
        self._real.flush()

    def isatty(self) -> bool:
        return self._real.isatty()

    def fileno(self) -> int:
        return self._real.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def release(self) -> None:
        if self._pending:
            self._real.write(self._pending)
            self._pending = ""


class TerminalProgress(_Display):
    """Several jobs at once on a terminal, one line each, fitted to its width.

    ``stream`` (default ``sys.stderr``) must be a terminal, or nothing is drawn (so a pipe or a
    log file gets no control characters); ``TERM=dumb`` draws nothing either. Call :meth:`done`
    at the end (it also gives ``sys.stderr`` back).
    """

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool = True) -> None:
        super().__init__()
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(enabled and callable(isatty) and isatty() and os.environ.get("TERM") != "dumb")
        self._drawn = 0  # live lines on screen, just above the cursor
        self._shown: list[str] = []  # what they say
        self._proxy: _Interleaved | None = None

    def width(self) -> int:
        import shutil

        return shutil.get_terminal_size((80, 24)).columns

    def _changed(self, job: _Job, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        if self._proxy is None and sys.stderr is self.stream:
            self._proxy = _Interleaved(self, self.stream)
            sys.stderr = self._proxy
        self._redraw()

    def _clear(self) -> str:
        return f"\x1b[{self._drawn}F\x1b[J" if self._drawn else "\r\x1b[J"

    def _redraw(self, above: str = "") -> None:
        width = self.width()
        out = [self._clear(), above]
        live = []
        for job_id, job in list(self._jobs.items()):
            if job.done:
                out.append(terminal_line(job, width) + "\n")  # stays: printed above the live block
                del self._jobs[job_id]
            else:
                live.append(terminal_line(job, width) + "\n")
        if not above and len(out) == 2 and live == self._shown:
            return  # nothing changed on screen (a poll with the same percentage)
        out += live
        self._drawn, self._shown = len(live), live
        self.stream.write("".join(out))
        self.stream.flush()
        if not live:  # nothing live: sys.stderr is the user's again (callers that skip done())
            self._restore()

    def _restore(self) -> None:
        if self._proxy is not None:
            self._proxy.release()
            if sys.stderr is self._proxy:
                sys.stderr = self.stream
            self._proxy = None

    def _print_above(self, text: str) -> None:
        if self.enabled:
            self._redraw(above=text)
        else:
            self.stream.write(text)

    def done(self) -> None:
        """Erase the live lines (finished jobs' lines stay) and give ``sys.stderr`` back."""
        with self._lock:
            self._restore()
            if self.enabled and self._drawn:
                self.stream.write(self._clear())
                self.stream.flush()
            self._drawn, self._shown = 0, []
            self._jobs.clear()


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def auto_progress() -> NotebookProgress | None:
    """The display a verb uses when given no ``on_progress``: a notebook bar in a Jupyter kernel,
    else none. ``ARTHUR_GEN_PROGRESS=off`` (or ``0``) turns it off."""
    if os.environ.get("ARTHUR_GEN_PROGRESS", "").strip().lower() in ("0", "off", "no", "false"):
        return None
    return NotebookProgress() if in_notebook() else None


_STYLE = "font-family:monospace;font-size:12px;border-collapse:collapse"


class NotebookProgress(_Display):
    """A table of jobs with ``<progress>`` bars in a notebook cell, updated in place.

    ``display`` is IPython's ``display`` (looked up lazily); tests pass their own. Redraws are
    at most ``max_rate`` per second, except that a change of phase is always drawn.
    """

    def __init__(self, *, display: Callable[..., Any] | None = None, max_rate: float = 8.0) -> None:
        super().__init__()
        self._display_fn = display
        self._handle: Any = None
        self._min_gap = 1.0 / max_rate if max_rate > 0 else 0.0
        self._last = 0.0

    def html(self) -> str:
        """The table as it stands (what the cell shows)."""
        import html

        rows = []
        for job in self._jobs.values():
            fraction = job.fraction()
            bar = (
                f'<progress value="{fraction:.3f}" max="1" style="width:12em"></progress>'
                if fraction is not None
                else '<progress style="width:12em"></progress>'
                if not job.done
                else ""
            )
            note = f"{job.phase}: {job.message}" if job.message and job.done else job.phase
            cells = (job.label, job.job_id[-8:], bar, f"{note} ({_elapsed(job)})")
            rows.append("<tr>" + "".join(f'<td style="padding:0 .6em 0 0">{c}</td>' for c in (
                html.escape(cells[0]), html.escape(cells[1]), cells[2], html.escape(cells[3])
            )) + "</tr>")  # fmt: skip
        return f'<table style="{_STYLE}">{"".join(rows)}</table>'

    def _changed(self, job: _Job, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.phase == "step" and now - self._last < self._min_gap:
            return
        self._last = now
        payload = _Html(self.html())
        try:
            if self._handle is None:
                show = self._display_fn
                if show is None:
                    import importlib

                    show = importlib.import_module("IPython.display").display
                self._handle = show(payload, display_id=True)
            elif self._handle is not False:
                self._handle.update(payload)
        except Exception:  # a display that fails never stops a job
            self._handle = False


class _Html:
    """Shown by IPython as HTML (no need to import IPython's own ``HTML``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text
