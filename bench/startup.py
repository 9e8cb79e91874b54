"""Start-up cost of arthur-gen, in fresh processes, against the cost of its dependencies.

    python bench/startup.py              # 15 runs of each; prints medians and ratios
    python bench/startup.py --runs 31
    python bench/startup.py --importtime # also: where `arthur-gen backends --json` spends it
    python bench/startup.py --phases     # also: the same, phase by phase, per plugin

Measures the median wall time (and CPU time: user + system) of

- baseline:  ``python -c "import pluggy, attrs, platformdirs"`` (the core's dependencies)
- import:    ``python -c "import arthur_gen"``
- backends:  ``arthur-gen backends --json`` (the console script next to ``sys.executable``),
  with every installed plugin loaded, as a user runs it
- the CLI with its progress display imported, against the same with rich or tqdm (each when
  installed), the libraries the display could have used

Target: ``arthur-gen backends --json`` within 2x of the baseline. Exits 1 when it is over.
Uses the environment it is run in (``ARTHUR_GEN_LOAD_PLUGINS`` and all), except that
``ARTHUR_GEN_HOME`` points at a temporary folder and ``PYTHONDONTWRITEBYTECODE`` is dropped:
users run with cached bytecode, and without it every run recompiles every module (about
twice the time). Each command runs once untimed first so its bytecode is cached.
Never run by the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _median(argv: list[str], env: dict[str, str], runs: int) -> float:
    _time(argv, env)  # warm the OS file cache and .pyc files
    return statistics.median(_time(argv, env) for _ in range(runs))


_CPU: dict[str, list[float]] = {}  # CPU seconds (user + system) of each case's runs


def _cpu_time(argv: list[str], env: dict[str, str]) -> float:
    """CPU seconds one fresh process uses: steadier than wall time on a shared, busy machine."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _interleaved(cases: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, float]:
    """Medians of the cases run round-robin, so a busy moment of the machine hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for command in cases.values():
        _time(command, env)  # warm the OS file cache and .pyc files
    for _ in range(runs):
        for name, command in cases.items():
            samples[name].append(_time(command, env))
            _CPU.setdefault(name, []).append(_cpu_time(command, env))
    return {name: statistics.median(values) for name, values in samples.items()}


def _importtime(argv: list[str], env: dict[str, str], top: int) -> None:
    """Print the modules with the largest cumulative import time (``-X importtime``)."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((int(cumulative_us), int(self_us), len(indent) // 2, name))
    print(f"\nlargest cumulative import times in `{' '.join(Path(a).name for a in argv)}`:")
    print(f"{'cumulative':>11} {'self':>8}  module")
    for cumulative, own, depth, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative / 1000:9.1f}ms {own / 1000:6.1f}ms  {'  ' * min(depth, 6)}{name}")
    total = sum(own for _, own, _, _ in rows)
    print(f"{total / 1000:9.1f}ms in all imports")


# What `arthur-gen backends --json` does, step by step, timed inside a fresh process.
_PHASES = r"""
import json, sys, time
start = time.perf_counter()
marks = []
def mark(name):
    marks.append((name, time.perf_counter()))
from arthur_gen import _api, _registry
mark("import the core modules `backends` needs (attrs, pluggy, _models, _registry...)")
import arthur_gen.cli._main as cli
mark("import arthur_gen.cli._main")
before = set(sys.modules)
parser = cli.build_parser()
extra = sorted(m for m in set(sys.modules) - before if m.startswith("arthur_gen"))
mark("build_parser() (sub-commands from _cli_money: " + ", ".join(extra) + ")")
args = parser.parse_args(["backends", "--json"])
loads = []
from arthur_gen import _entry_points
real_load = _entry_points.EntryPoint.load
def timed_load(self):
    t = time.perf_counter()
    try:
        return real_load(self)
    finally:
        loads.append((self.value, time.perf_counter() - t))
_entry_points.EntryPoint.load = timed_load
from arthur_gen import _plugins
_plugins.load_plugins()
mark("load_plugins() (scan entry points, import each plugin, check_pending)")
from arthur_gen._models import Kind
for kind in Kind:
    _registry.backends(kind)
mark("register_* hooks (build backend objects)")
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    cli._cmd_backends(args)
mark("list backends: availability(), models(), JSON")
out, prev = [], start
for name, t in marks:
    out.append([name, t - prev])
    prev = t
out += [["    of which: import plugin " + value, seconds] for value, seconds in loads]
out.append(["total inside the process", prev - start])
print(json.dumps(out))
"""


def _phases(python: str, env: dict[str, str], runs: int) -> None:
    import json

    samples: dict[str, list[float]] = {}
    for _ in range(max(3, runs // 2)):
        done = subprocess.run([python, "-c", _PHASES], env=env, capture_output=True, text=True, check=True)
        for name, seconds in json.loads(done.stdout):
            samples.setdefault(name, []).append(seconds)
    startup = _median([python, "-c", "pass"], env, runs)
    print(
        f"\nphases of `arthur-gen backends --json` (medians; interpreter start-up {startup * 1000:.1f} ms):"
    )
    for name, values in samples.items():
        print(f"{statistics.median(values) * 1000:8.1f} ms  {name}")


# The progress display (arthur_gen._progress, standard library only) against the libraries it
# could have been built on; `arthur-gen image/video` imports it, `backends` does not need to.
_DISPLAYS = {
    "arthur_gen._progress (the CLI's display)": "import arthur_gen.cli._main, arthur_gen._progress",
    "rich.progress + rich.live": "import arthur_gen.cli._main, rich.progress, rich.live",
    "tqdm.auto": "import arthur_gen.cli._main, tqdm.auto",
}


def _display(python: str, env: dict[str, str], runs: int) -> None:
    import importlib.util

    cases = {
        name: [python, "-c", code]
        for name, code in _DISPLAYS.items()
        if all(importlib.util.find_spec(m.split(".")[0]) for m in code[7:].split(", "))
    }
    results = _interleaved(cases, env, runs)
    first = next(iter(_DISPLAYS))
    ours, ours_cpu = results[first], statistics.median(_CPU[first])
    print("\nthe CLI with a progress display imported (fresh processes; wall, then CPU):")
    for name, seconds in results.items():
        cpu = statistics.median(_CPU[name])
        print(
            f"{seconds * 1000:8.1f} ms {seconds / ours:5.2f}x ours  "
            f"{cpu * 1000:7.1f} ms {cpu / ours_cpu:5.2f}x ours  {name}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", action="store_true", help="show where the CLI's time goes")
    parser.add_argument("--phases", action="store_true", help="time each phase of the CLI, in process")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    python = sys.executable
    cli = str(Path(python).parent / "arthur-gen")
    if not Path(cli).exists():
        print(f"no console script at {cli}; install arthur-gen into this environment", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="arthur-gen-bench-") as home:
        env = dict(os.environ, ARTHUR_GEN_HOME=home)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        cases = {
            "baseline": [python, "-c", "import pluggy, attrs, platformdirs"],
            "import": [python, "-c", "import arthur_gen"],
            "backends": [cli, "backends", "--json"],
        }
        results = _interleaved(cases, env, args.runs)
        base = results["baseline"]
        print(f"median of {args.runs} fresh processes each ({sys.version.split()[0]}, {sys.platform})")
        labels = {
            "baseline": 'python -c "import pluggy, attrs, platformdirs"',
            "import": 'python -c "import arthur_gen"',
            "backends": "arthur-gen backends --json",
        }
        cpu = {name: statistics.median(_CPU[name]) for name in results}
        print(f"{'wall':>8}          {'CPU':>8}")
        for name, seconds in results.items():
            print(
                f"{seconds * 1000:8.1f} ms {seconds / base:5.2f}x "
                f"{cpu[name] * 1000:7.1f} ms {cpu[name] / cpu['baseline']:5.2f}x  {labels[name]}"
            )
        ratio = results["backends"] / base
        cpu_ratio = cpu["backends"] / cpu["baseline"]
        verdict = "within" if ratio <= TARGET_RATIO else "OVER"
        print(
            f"target: backends within {TARGET_RATIO:g}x of the baseline: {verdict} ({ratio:.2f}x wall, "
            f"{cpu_ratio:.2f}x CPU; on a busy machine the CPU ratio is the steadier one)"
        )
        _display(python, env, args.runs)
        if args.phases or ratio > TARGET_RATIO:
            _phases(python, env, args.runs)
        if args.importtime or ratio > TARGET_RATIO:
            _importtime([python, "-X", "importtime", cli, "backends", "--json"], env, args.top)
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
