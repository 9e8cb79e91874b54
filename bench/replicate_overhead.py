"""How much arthur-gen-replicate adds on top of Replicate itself, measured on the emulator.

    python bench/replicate_overhead.py            # about a minute; prints numbers, asserts nothing

(a) Overhead of one video job: end-to-end wall time minus the emulated prediction time, for
    ``arthur_gen.generate_video`` (durable job: store, polling, streamed download, sidecar)
    and for ``replicate.run()`` + ``FileOutput.read()`` + writing the file, against the same
    emulator in the same run, interleaved.
(b) 64 video jobs of 3 s each at once through ``asyncio.gather(arthur_gen.agenerate_video)``:
    wall time against 3 s, and against running them one after another (computed as
    64 x a measured single job, not run).
(c) Peak memory growth (ru_maxrss of a fresh child process) downloading a 1 GiB output through
    our download path against ``FileOutput.read()``.

The emulator runs in its own process (so its threads do not share our GIL). Its MP4s are
rendered before the timed runs (a real service serves finished files from a CDN), so its
encoding time is not counted on either side. Targets: (a) our overhead no worse than
replicate.run()'s; (b) within 1.5x of 3 s; (c) growth under 64 MiB.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOKEN = "r8_bench_token"
MODEL = "minimax/video-01"
GIB = 1024**3

_EMULATOR = r"""
import json, sys
from arthur_gen_replicate.emulator import Emulator
emu = Emulator(starting_s=0.0, processing_s=0.0).start()
print(emu.url, flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if "timing" in cmd:
        emu.set_timing(*cmd["timing"])
    if "configure" in cmd:
        emu.configure(**cmd["configure"])
    print(json.dumps({"creates": emu.create_count, "counts": emu.request_counts}), flush=True)
emu.stop()
"""


class EmulatorProcess:
    """The emulator in a child process, steered over stdin."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _EMULATOR],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def send(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        reply: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return reply

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _client(url: str) -> Any:
    from replicate.client import Client

    client = Client(api_token=TOKEN, base_url=url)
    client.poll_interval = 0.05
    return client


def prerender(emu: EmulatorProcess, prompts: list[str]) -> None:
    """Make the emulator render (and cache) each prompt's MP4 before the timed runs."""
    emu.send(timing=[0.0, 0.0])
    client = _client(emu.url)

    def one(prompt: str) -> None:
        prediction = client.models.predictions.create(model=MODEL, input={"prompt": prompt})
        prediction.wait()
        with client._client.stream("GET", prediction.output) as response:
            for _ in response.iter_bytes():
                pass

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, prompts))


def bench_overhead(emu: EmulatorProcess, out: Path, trials: int = 5) -> dict[str, Any]:
    """(a) Wall time minus emulated time, ours against replicate.run()."""
    from replicate.helpers import FileOutput

    import arthur_gen

    starting, processing = 0.5, 1.5
    emulated = starting + processing
    prompts = [f"overhead {kind} {i}" for i in range(trials + 1) for kind in ("ours", "run")]
    prerender(emu, prompts)
    emu.send(timing=[starting, processing])
    client = _client(emu.url)

    def ours(prompt: str) -> float:
        started = time.perf_counter()
        arthur_gen.generate_video(prompt, backend="replicate", model=MODEL, timeout=120)
        return time.perf_counter() - started

    def theirs(prompt: str) -> float:
        started = time.perf_counter()
        output = client.run(MODEL, input={"prompt": prompt})
        # the emulator serves http:// URLs, which the client leaves as str: wrap it the way
        # the client wraps https:// ones, then read and write it as its README shows
        file_output = output if isinstance(output, FileOutput) else FileOutput(output, client)
        (out / f"{prompt}.mp4").write_bytes(file_output.read())
        return time.perf_counter() - started

    ours("overhead ours 0")  # warm-up: imports, plugin loading, connections
    theirs("overhead run 0")
    ours_s, run_s = [], []
    for i in range(1, trials + 1):
        ours_s.append(ours(f"overhead ours {i}") - emulated)
        run_s.append(theirs(f"overhead run {i}") - emulated)
    db = sqlite3.connect(Path(os.environ["ARTHUR_GEN_HOME"]) / "data" / "jobs.db")
    try:
        timings = [
            json.loads(row[0])
            for row in db.execute(
                "SELECT timings FROM jobs WHERE prompt LIKE 'overhead ours %' AND prompt != ?",
                ("overhead ours 0",),
            )
        ]
    finally:
        db.close()
    parts = {
        # submitted -> the poll that saw "succeeded" recorded, minus the emulated time
        "poll lag": [t["remote_s"] - emulated for t in timings],
        "download + save (sidecar)": [t["download_s"] for t in timings],
        "plan, submit, store": [t["total_s"] - t["remote_s"] - t["download_s"] for t in timings],
    }
    return {"emulated_s": emulated, "ours": ours_s, "run": run_s, "parts": parts}


def bench_concurrency(emu: EmulatorProcess, jobs: int = 64) -> dict[str, Any]:
    """(b) 64 jobs of 3 s at once through the async API."""
    import arthur_gen

    prompts = [f"concurrent clip {i}" for i in range(jobs)] + ["single clip"]
    prerender(emu, prompts)
    emu.send(timing=[0.2, 2.8])
    started = time.perf_counter()
    arthur_gen.generate_video("single clip", backend="replicate", model=MODEL, timeout=120)
    single = time.perf_counter() - started
    before = emu.send()["creates"]

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(
            *(
                arthur_gen.agenerate_video(p, backend="replicate", model=MODEL, timeout=120)
                for p in prompts[:jobs]
            )
        )

    started = time.perf_counter()
    results = asyncio.run(all_at_once())
    wall = time.perf_counter() - started
    created = emu.send()["creates"] - before
    return {"jobs": jobs, "single_s": single, "wall_s": wall, "created": created, "ok": len(results)}


_MEMORY_CHILD = r"""
import json, os, resource, sys, time
mode, url, token = sys.argv[1:4]

def _status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)

def start():
    # Linux: reset the peak RSS ("VmHWM") so only what follows counts; else use ru_maxrss
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status("VmRSS"), "VmHWM"
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ru_maxrss"

def peak(how):
    if how == "VmHWM":
        return _status("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

if mode == "ours":
    from arthur_gen_replicate import ReplicateVideoBackend
    from arthur_gen._backends import RemoteContext, RemoteOutput
    from arthur_gen.jobs._outputs import HashingWriter
    from arthur_gen._secrets import Secret
    import arthur_gen_replicate._download, arthur_gen_replicate._client  # import before measuring
    backend = ReplicateVideoBackend()
    ctx = RemoteContext(job_id="bench", key=Secret(token), timeout_s=600)
    before, how = start()
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        writer = HashingWriter(sink, 4 * 1024**3)
        backend.download(RemoteOutput(url=url), writer, ctx)
    size = writer.size
else:
    import replicate
    from replicate.helpers import FileOutput
    client = replicate.Client(api_token=token, base_url=os.environ["REPLICATE_BASE_URL"])
    client._client
    before, how = start()
    started = time.perf_counter()
    data = FileOutput(url, client).read()
    with open(os.devnull, "wb") as sink:
        sink.write(data)
    size = len(data)
print(json.dumps({"before_mib": before, "peak_mib": peak(how), "how": how, "bytes": size,
                  "seconds": time.perf_counter() - started}))
"""


def bench_memory(emu: EmulatorProcess, size: int = GIB) -> dict[str, Any]:
    """(c) Peak RSS growth downloading a 1 GiB output, ours against FileOutput.read()."""
    emu.send(timing=[0.0, 0.0], configure={"output_size_bytes": size})
    client = _client(emu.url)
    prediction = client.models.predictions.create(model=MODEL, input={"prompt": "one gibibyte"})
    prediction.wait()
    url = str(prediction.output)
    results = {}
    env = {**os.environ, "REPLICATE_BASE_URL": emu.url}
    for mode in ("ours", "FileOutput.read()"):
        done = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, "ours" if mode == "ours" else "read", url, TOKEN],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{mode} child failed:\n{done.stderr}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    emu.send(configure={"output_size_bytes": None})
    return results


def _ms(values: list[float]) -> str:
    median, low, high = (statistics.median(values), min(values), max(values))
    return f"median {median * 1000:4.0f} ms  (min {low * 1000:.0f}, max {high * 1000:.0f})"


def main() -> None:
    from importlib.metadata import version

    print(
        f"arthur-gen-replicate overhead bench | Python {platform.python_version()} | "
        f"replicate {version('replicate')} | httpx {version('httpx')} | {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="arthur-gen-bench-") as tmp:
        root = Path(tmp)
        os.environ["ARTHUR_GEN_HOME"] = str(root / "home")
        os.environ["ARTHUR_GEN_LOAD_PLUGINS"] = "arthur-gen-replicate"
        os.environ["REPLICATE_API_TOKEN"] = TOKEN
        emu = EmulatorProcess()
        os.environ["REPLICATE_BASE_URL"] = emu.url
        try:
            started = time.perf_counter()
            a = bench_overhead(emu, root)
            print(f"\n(a) one video job, emulated prediction {a['emulated_s']:.1f} s; overhead =")
            print(f"    wall time - emulated time, {len(a['ours'])} interleaved runs each:")
            print(f"    arthur_gen.generate_video        {_ms(a['ours'])}")
            for name, values in a["parts"].items():
                median_ms = statistics.median(values) * 1000
                print(f"      of which {name:<29} median {median_ms:4.0f} ms")
            print(f"    replicate.run() + write the file {_ms(a['run'])}")
            diff = statistics.median(a["ours"]) - statistics.median(a["run"])
            verdict = "OK" if diff <= 0.0 else "MISSED"
            print(f"    ours - run() (medians): {diff * 1000:+.0f} ms   target <= 0: {verdict}")

            b = bench_concurrency(emu)
            ratio = b["wall_s"] / 3.0
            sequential = b["jobs"] * b["single_s"]
            print(f"\n(b) {b['jobs']} video jobs of 3 s each, asyncio.gather(agenerate_video):")
            print(
                f"    wall time {b['wall_s']:.2f} s = {ratio:.2f}x of 3 s   target <= 1.5x: "
                f"{'OK' if ratio <= 1.5 else 'MISSED'}"
            )
            print(
                f"    one job alone {b['single_s']:.2f} s; one after another would take "
                f"64 x {b['single_s']:.2f} = {sequential:.0f} s (computed, not run): "
                f"{sequential / b['wall_s']:.0f}x slower"
            )
            print(f"    predictions created: {b['created']} for {b['ok']} results")

            c = bench_memory(emu)
            how = next(iter(c.values()))["how"]
            print(f"\n(c) downloading a 1 GiB output (fresh child process each; peak RSS by {how}):")
            for mode, r in c.items():
                growth = r["peak_mib"] - r["before_mib"]
                print(
                    f"    {mode:<20} peak growth {growth:8.1f} MiB   "
                    f"({r['bytes'] / GIB:.2f} GiB in {r['seconds']:.1f} s)"
                )
            ours_growth = c["ours"]["peak_mib"] - c["ours"]["before_mib"]
            print(f"    target: ours under 64 MiB: {'OK' if ours_growth < 64 else 'MISSED'}")
            print(f"\ntotal {time.perf_counter() - started:.0f} s")
        finally:
            emu.close()


if __name__ == "__main__":
    main()
