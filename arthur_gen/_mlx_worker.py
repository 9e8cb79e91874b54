"""One thread for all of a local backend's MLX work (shared by the mflux and MLX video plugins).

Since MLX 0.31.2 streams are thread-local: arrays made in one thread cannot be evaluated in
another ("There is no Stream(gpu, N) in current thread", mflux#502, mlx#3727). arthur-gen may
call a backend from any thread (``agenerate_image`` and ``gather`` use thread pools), and a
warm model is reused across calls, so loading and generating always happen on this one
worker thread, under a stream it creates for itself. It also serializes MLX work, which a
single GPU does anyway.

Ctrl-C in the waiting thread sets the job's cancel event, so the worker stops at the next
denoising step, and the ``KeyboardInterrupt`` is raised once it has.

A thread that used MLX must call ``mx.clear_streams()`` before it ends, or the process may
abort at exit with status 134 ("terminate called without an active exception", mlx#3126,
#3395). :meth:`MlxWorker.close` does that on the worker itself; it runs on ``release()`` and
at interpreter shutdown, before ``concurrent.futures`` joins its threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["MlxWorker"]

T = TypeVar("T")


class MlxWorker:
    """Runs callables on one long-lived thread, inside an MLX stream of that thread."""

    def __init__(self, *, use_mlx_stream: bool, name: str = "mlx") -> None:
        self._use_mlx_stream = use_mlx_stream
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._stream: Any = None
        self.thread_ids: set[int] = set()

    def _pool(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
                _close_at_shutdown(self)
            return self._executor

    def close(self) -> None:
        """End the worker thread cleanly (its MLX streams cleared first); a later run starts anew."""
        if threading.get_ident() in self.thread_ids:
            return  # cannot join itself; the shutdown hook closes it
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._use_mlx_stream:
            try:
                executor.submit(self._clear_streams).result(timeout=600)
            except BaseException:  # a worker that failed still gets shut down
                pass
        executor.shutdown(wait=True)
        self.thread_ids.clear()

    def _clear_streams(self) -> None:
        import mlx.core as mx

        self._stream = None
        mx.synchronize()
        mx.clear_streams()

    def _in_stream(self, fn: Callable[[], T]) -> T:
        self.thread_ids.add(threading.get_ident())
        if not self._use_mlx_stream:
            return fn()
        import mlx.core as mx

        if self._stream is None:  # created on, and used only by, this thread
            self._stream = mx.new_stream(mx.default_device())
        with mx.stream(self._stream):
            return fn()

    def run(self, fn: Callable[[], T], *, cancel: threading.Event | None = None) -> T:
        """Run ``fn`` on the worker and return its result (or raise its error)."""
        if threading.get_ident() in self.thread_ids:  # already on the worker
            return self._in_stream(fn)
        future: Future[T] = self._pool().submit(self._in_stream, fn)
        try:
            while True:
                # short waits: a pending Ctrl-C is raised between them, not after the job
                try:
                    return future.result(timeout=0.1)
                except TimeoutError:
                    continue
        except KeyboardInterrupt:
            if cancel is not None:
                cancel.set()  # the worker stops between two steps
            try:
                future.result(timeout=600)
            except BaseException:
                pass
            raise


def _close_at_shutdown(worker: MlxWorker) -> None:
    """Close ``worker`` when the interpreter exits, before the executor's threads are joined.

    ``threading._register_atexit`` hooks run in reverse order of registration inside
    ``threading._shutdown``, so this one (registered after ``concurrent.futures``'s own) runs
    while the worker can still take a task. ``atexit`` would be too late: it runs after.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - every CPython 3.9+ has it
        import atexit

        atexit.register(worker.close)
        return
    try:
        register(worker.close)
    except RuntimeError:  # already shutting down: nothing more can be scheduled
        pass
