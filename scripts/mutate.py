"""Mutation check of the money paths: break each guard on purpose, see a test fail.

Each mutation replaces one exact snippet of the code in a temporary copy of the tree (never the
working tree), runs the tests that guard it against that copy, and counts it *caught* when they
fail. The tests' child processes import the copy too (the tests put the tree they imported on
the children's PYTHONPATH). Prints one line per mutation and ``caught N/M``; exits 1 when a
mutation survives, 2 when the unmutated tests do not pass. Not part of CI (a few minutes).

    .venv/bin/python scripts/mutate.py              # all
    .venv/bin/python scripts/mutate.py --list       # names only
    .venv/bin/python scripts/mutate.py --only reconcile-input,owned-exclusion
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPLICATE = "plugins/arthur-gen-replicate/arthur_gen_replicate"
RTESTS = "plugins/arthur-gen-replicate/tests"


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    more: tuple[tuple[str, str], ...] = ()  # further (old, new) edits of the same file


MUTATIONS = (
    # -- the list (issue 8 item 10)
    Mutation(
        "reconcile-input",
        "drop the input comparison from reconcile matching",
        f"{REPLICATE}/_backend.py",
        '        if key not in actual or actual[key] != want:\n            return "no"\n',
        "        pass\n",
        ("tests/test_money_truth_mutants.py", f"{RTESTS}/test_money_truth_reconcile.py"),
    ),
    Mutation(
        "reconcile-oldest",
        "adopt the oldest match instead of refusing to choose among several",
        f"{REPLICATE}/_backend.py",
        "        if len(matches) == 1 and not doubtful and complete:\n"
        '            log.info("job %s: reconciled to prediction %s", ctx.job_id, matches[0][1])\n'
        "            return matches[0][1]\n",
        "        if matches and complete:\n            return sorted(matches)[0][1]\n",
        (f"{RTESTS}/test_money_truth_reconcile.py",),
    ),
    Mutation(
        "created-after",
        "drop the created_after filter (the query and the local check)",
        f"{REPLICATE}/_backend.py",
        "                        if created is not None and created < cutoff:\n"
        "                            older = True\n"
        "                            continue\n",
        "",
        ("tests/test_money_truth_mutants.py", f"{RTESTS}/test_money_truth_reconcile.py"),
        more=(("?created_after={quote(after)}&created_before=", "?created_before="),),
    ),
    Mutation(
        "rate-limit-floor",
        "disable the rate-limit floor between polls",
        f"{REPLICATE}/_client.py",
        "    return min(10.0, max(1, active_jobs) / 40.0)\n",
        "    return 0.0\n",
        ("tests/test_money_truth_mutants.py",),
    ),
    Mutation(
        "download-truncation",
        "remove the download truncation check",
        f"{REPLICATE}/_download.py",
        "            if expected is not None and received != expected:\n",
        "            if False:\n",
        ("tests/test_money_truth_mutants.py", f"{RTESTS}/test_replicate_faults.py"),
    ),
    Mutation(
        "refused-as-uncertain",
        'treat "connection refused" as an uncertain submit',
        f"{REPLICATE}/_backend.py",
        "            raise GenerationError(\n"
        '                f"could not connect to Replicate at {base_url} "',
        "            raise SubmitUncertainError(\n"
        '                f"could not connect to Replicate at {base_url} "',
        ("tests/test_money_truth_zero.py",),
    ),
    Mutation(
        "owned-exclusion",
        "skip the owned-prediction exclusion in reconcile",
        f"{REPLICATE}/_backend.py",
        "                        if pid in ctx.owned_remote_ids:\n",
        "                        if False:\n",
        (f"{RTESTS}/test_money_truth_reconcile.py",),
    ),
    Mutation(
        "preflight-folder",
        "skip the pre-flight output folder check",
        "arthur_gen/jobs/_preflight.py",
        '    """The folder (or the nearest existing parent) must be a writable directory."""\n',
        '    """The folder (or the nearest existing parent) must be a writable directory."""\n    return\n',
        (f"{RTESTS}/test_money_truth_preflight.py",),
    ),
    # -- the guards of items 5-8
    Mutation(
        "zero-refused",
        "a refused create records no cost (unknown) instead of $0",
        "arthur_gen/jobs/_runner.py",
        '        _fail(store, row, "failed", redact(str(exc), ctx.key), **_FREE_NOT_STARTED)\n'
        "        raise\n",
        '        _fail(store, row, "failed", redact(str(exc), ctx.key))\n        raise\n',
        ("tests/test_money_truth_zero.py",),
    ),
    Mutation(
        "lease-renewal",
        "no lease renewal while a live owner works",
        "arthur_gen/jobs/_store.py",
        "            while not stop.wait(LEASE_S / 3):\n",
        "            while False:\n",
        ("tests/test_money_truth_lease.py",),
    ),
    Mutation(
        "adopt-placed",
        "recovery never adopts a placed file",
        "arthur_gen/jobs/_runner.py",
        "            if placed is not None:\n",
        "            if False:\n",
        ("tests/test_money_truth_one_file.py",),
    ),
    Mutation(
        "store-read-only",
        "a read-only store is not opened read-only",
        "arthur_gen/jobs/_store.py",
        "                self.read_only = True\n",
        "                raise\n",
        ("tests/test_money_truth_store.py",),
    ),
    Mutation(
        "late-duplicate-check",
        "an upload that hashed while sending publishes though a copy was published meanwhile",
        "arthur_gen/publish/_driver.py",
        '    stopped = f"this upload (job {job_id}) stopped before publishing anything."\n',
        "    return None\n",
        ("tests/test_publish_hashing.py",),
    ),
    Mutation(
        "youtube-before-publish",
        "YouTube sends its last chunk without asking for the duplicate check",
        "plugins/arthur-gen-youtube/arthur_gen_youtube/_publisher.py",
        "ctx.before_publish()  # this call may send the last chunk: duplicates checked first\n",
        "pass\n",
        ("tests/test_publish_hashing.py",),
    ),
    Mutation(
        "pending-adopt-unchanged",
        "a job stopped before its digest is adopted though its file changed",
        "arthur_gen/publish/_driver.py",
        '        if adopted is None and row.metrics.get("fingerprint") == print_:\n',
        "        if adopted is None:\n",
        ("tests/test_publish_hashing.py",),
    ),
)

_IGNORE = shutil.ignore_patterns(".venv", ".git", ".mypy_cache", ".ruff_cache", "__pycache__", "*.egg-info")


def _pythonpath(tree: Path) -> str:
    plugins = sorted(str(p) for p in (tree / "plugins").iterdir() if (p / "pyproject.toml").exists())
    return os.pathsep.join([str(tree), *plugins])


def _run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, float]:
    """(passed, seconds) of the tests run against ``tree``."""
    env = dict(os.environ, PYTHONPATH=_pythonpath(tree), PYTHONDONTWRITEBYTECODE="1")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - started
    if done.returncode not in (0, 1):  # 2-5: interrupted, internal error, usage, no tests
        raise SystemExit(f"pytest could not run {' '.join(tests)}:\n{done.stdout[-3000:]}")
    return done.returncode == 0, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated mutation names")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per test run")
    args = parser.parse_args(argv)
    chosen = list(MUTATIONS)
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {m.name for m in MUTATIONS}
        if unknown:
            parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
        chosen = [m for m in MUTATIONS if m.name in names]
    if args.list:
        for m in chosen:
            print(f"{m.name:22} {m.what}")
        return 0
    with tempfile.TemporaryDirectory(prefix="arthur-gen-mutate-") as scratch:
        tree = Path(scratch) / "tree"
        shutil.copytree(ROOT, tree, ignore=_IGNORE)
        for m in chosen:  # every snippet must be there exactly once, or the list is stale
            text = (tree / m.path).read_text()
            for old, _ in ((m.old, m.new), *m.more):
                if text.count(old) != 1:
                    raise SystemExit(f"{m.name}: a snippet occurs {text.count(old)} times in {m.path}")
        every = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        ok, seconds = _run_tests(tree, every, args.timeout * 2)
        if not ok:
            print(f"the unmutated tests fail ({seconds:.0f} s): fix them first", file=sys.stderr)
            return 2
        print(f"baseline: {len(every)} test file(s) pass unmutated ({seconds:.0f} s)")
        caught = 0
        for m in chosen:
            target = tree / m.path
            original = target.read_text()
            mutated = original
            for old, new in ((m.old, m.new), *m.more):
                mutated = mutated.replace(old, new)
            target.write_text(mutated)
            try:
                passed, seconds = _run_tests(tree, m.tests, args.timeout)
            finally:
                target.write_text(original)
            caught += not passed
            verdict = "caught  " if not passed else "SURVIVED"
            print(f"{verdict} {m.name:22} {seconds:5.0f} s  {m.what}", flush=True)
    print(f"caught {caught}/{len(chosen)}")
    return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
