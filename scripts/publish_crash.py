"""Kill the real ``arthur-gen publish`` at every upload step, run ``arthur-gen resume``, count duplicates.

    .venv/bin/python scripts/publish_crash.py                 # 3 trials per phase, SIGKILL
    .venv/bin/python scripts/publish_crash.py -n 5 --signals KILL,INT

For each platform and phase the loopback emulator (in this process) holds its answer at that
step, after the step took effect (the session exists, the chunk or part is stored, the video
or post is online); the CLI child is then sent the signal, and ``arthur-gen resume`` finishes
the job. A post whose answer never came must come back as ``needs confirmation``; the script
then settles it as a user would, by looking at the platform (``publications confirm``).

Printed per phase: trials, how many resumes saved the job, how many said ``needs
confirmation``, videos (YouTube) or posts (LinkedIn) created, duplicates, the most bytes any
trial sent again (the goal: at most one chunk or part), how many uploads arrived intact
(YouTube: the digest of what the emulator received; LinkedIn: every part's ETag), and how many
trials were stopped before the job knew its file's digest (the upload starts while a thread
hashes the file; the job is then resumed by its unchanged file's path, size, inode and mtime). Exits 1 on a
duplicate, a damaged upload or more than one chunk sent again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024  # YouTube chunk and LinkedIn part size for the trials
YOUTUBE_PHASES = ("session", "chunk", "final", "thumbnail")
LINKEDIN_PHASES = ("initialize", "part", "finalize", "status", "post")


def _video(path: Path) -> Path:
    """A real 3.2 s H.264 MP4 padded to about 3 MiB (12 chunks)."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height = 320, 180
        stream.pix_fmt = "yuv420p"
        for _ in range(77):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (180, 320, 3), dtype=np.uint8), "rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    pad = 12 * CHUNK - path.stat().st_size
    if pad > 16:
        with path.open("ab") as fh:  # a top-level 'free' box: players and probes skip it
            fh.write(pad.to_bytes(4, "big") + b"free" + os.urandom(pad - 8))
    return path


def _unique(base: Path, folder: Path, n: int) -> Path:
    """A copy of ``base`` with its own content and size (a new publication, not a duplicate; a
    size no earlier trial had, so the upload starts while the file is hashed)."""
    path = folder / f"trial-{n:03d}.mp4"
    shutil.copyfile(base, path)
    with path.open("ab") as fh:
        fh.write((24 + n).to_bytes(4, "big") + b"free" + os.urandom(16 + n))
    return path


class Trials:
    def __init__(self, home: Path, signals: list[signal.Signals]) -> None:
        from arthur_gen_linkedin.emulator import Emulator as LinkedIn
        from arthur_gen_youtube.emulator import Emulator as YouTube

        self.home = home
        self.signals = signals
        self.youtube = YouTube().start()
        self.linkedin = LinkedIn(part_bytes=CHUNK, processing_polls=1).start()
        self.env = {
            **os.environ,
            "ARTHUR_GEN_HOME": str(home),
            "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-youtube,arthur-gen-linkedin",
            "ARTHUR_GEN_YOUTUBE_ROOT_URL": self.youtube.url,
            "ARTHUR_GEN_YOUTUBE_CHUNK_BYTES": str(CHUNK),
            "ARTHUR_GEN_LINKEDIN_API_URL": self.linkedin.url,
            "EMU_LINKEDIN_TOKEN": self.linkedin.token,
            "PYTHONFAULTHANDLER": "1",
        }
        creds = self.youtube.write_credentials(home)
        self._cli("accounts", "add", "youtube", "--credentials", str(creds))
        self._cli("accounts", "add", "linkedin", "--token-env", "EMU_LINKEDIN_TOKEN")
        self.base = _video(home / "base.mp4")
        self.thumb = home / "thumb.png"
        from PIL import Image

        Image.new("RGB", (128, 72), (200, 40, 40)).save(self.thumb)
        self.count = 0

    def close(self) -> None:
        self.youtube.stop()
        self.linkedin.stop()

    def _cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "arthur_gen", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    @staticmethod
    def _json(done: subprocess.CompletedProcess[str], what: str) -> Any:
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise RuntimeError(
                f"{what} exited {done.returncode} without JSON:\n{done.stderr[-3000:]}"
            ) from None

    def _counts(self, platform: str) -> tuple[int, int]:
        """(items created, body bytes received) so far on ``platform``'s emulator."""
        if platform == "youtube":
            snap = self.youtube.snapshot()
            return snap["inserts"], sum(s["bytes_put"] for s in snap["sessions"].values())
        snap = self.linkedin.snapshot()
        return len(snap["posts"]), snap["bytes_put"]

    def run(self, platform: str, phase: str, sig: signal.Signals) -> dict[str, Any]:
        self.count += 1
        video = _unique(self.base, self.home, self.count)
        size = video.stat().st_size
        emu = self.youtube if platform == "youtube" else self.linkedin
        skip = random.randint(1, size // CHUNK - 2) if phase in ("chunk", "part") else 0
        created0, bytes0 = self._counts(platform)
        held = emu.hold(phase, skip=skip)
        args = [sys.executable, "-m", "arthur_gen", "publish", str(video), "--to", platform, "--json"]
        args += ["--title", f"Trial {self.count}"]
        args += ["--thumbnail", str(self.thumb)] if platform == "youtube" else ["--text", "crash trial"]
        proc = subprocess.Popen(
            args,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        hung = False
        try:
            if not held.wait(120):
                raise RuntimeError(f"{platform}/{phase}: the child never reached the step")
            os.killpg(proc.pid, sig)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:  # still running 30 s after the signal: dump its stacks
                hung = True
                os.kill(proc.pid, signal.SIGABRT)  # PYTHONFAULTHANDLER=1 prints every thread's stack
                _, err = proc.communicate(timeout=30)
                dump = self.home.parent / f"publish-crash-hang-{platform}-{phase}-{self.count}.txt"
                dump.write_text(err)
                print(f"  the child ignored {sig.name} for 30 s; stacks in {dump}", file=sys.stderr)
                err = ""
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
            emu.release()
        if "Traceback" in err:
            raise RuntimeError(f"{platform}/{phase}: a traceback reached the user:\n{err}")
        hashing = self._hashing()
        resumed = self._cli("resume", "--json")
        if "Traceback" in resumed.stderr:
            raise RuntimeError(f"{platform}/{phase}: resume printed a traceback:\n{resumed.stderr}")
        (outcome,) = self._json(resumed, f"{platform}/{phase}: resume")
        state = "saved" if outcome["ok"] else "error"
        if not outcome["ok"] and str(outcome["error"]).startswith("needs confirmation"):
            state = "needs confirmation"
            self._settle(outcome["job_id"])
        elif not outcome["ok"]:
            raise RuntimeError(f"{platform}/{phase}: resume failed: {outcome['error']}")
        again = self._cli("resume", "--json")
        if self._json(again, f"{platform}/{phase}: the second resume") != []:
            raise RuntimeError(f"{platform}/{phase}: a second resume still had work: {again.stdout}")
        created1, bytes1 = self._counts(platform)
        return {
            "state": state,
            "created": created1 - created0,
            "resent": bytes1 - bytes0 - size,
            "intact": self._intact(platform, outcome["job_id"], video),
            "hung": hung,
            "hashing": hashing,
        }

    def _hashing(self) -> bool:
        """Whether the newest publish job was stopped before its digest was known (still 'pending:')."""
        from arthur_gen.jobs._store import get_store

        sql = "SELECT request_hash FROM jobs WHERE kind = 'publish' ORDER BY created_at DESC LIMIT 1"
        return str(get_store().scalar(sql)).startswith("pending:")

    def _intact(self, platform: str, job_id: str, video: Path) -> bool:
        """The platform holds exactly the file's bytes (YouTube: digest; LinkedIn: every part's ETag)."""
        import arthur_gen

        (job,) = [j for j in arthur_gen.history(kind="publish") if j.id == job_id]
        data = video.read_bytes()
        if platform == "youtube":
            (remote,) = [v for v in self.youtube.snapshot()["videos"] if v["id"] == job.remote_id]
            return bool(remote["sha256"] == hashlib.sha256(data).hexdigest())
        stored = self.linkedin.videos[job.metrics["checkpoint"]["video_urn"]]["parts"]
        parts = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
        return bool(stored == {str(i): hashlib.md5(p).hexdigest() for i, p in enumerate(parts)})

    def _settle(self, job_id: str) -> None:
        """What a user does with ``needs confirmation``: look at the platform, then say what is there."""
        import arthur_gen

        (job,) = [j for j in arthur_gen.history(kind="publish") if j.id == job_id]
        video_urn = job.metrics.get("checkpoint", {}).get("video_urn")
        posts = [
            p["urn"] for p in self.linkedin.snapshot()["posts"] if p["content"]["media"]["id"] == video_urn
        ]
        how = ["--posted", posts[0]] if posts else ["--not-posted"]
        done = self._cli("publications", "confirm", job_id, *how)
        if done.returncode != 0:
            raise RuntimeError(f"confirm failed: {done.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--trials", type=int, default=3, help="trials per phase and signal (default 3)")
    parser.add_argument("--signals", default="KILL", help="comma list of KILL, INT, TERM (default KILL)")
    parser.add_argument("--platforms", default="youtube,linkedin")
    args = parser.parse_args()
    # Started in the background by a shell, this process (and so its children) may ignore SIGINT,
    # and a Python started that way never turns Ctrl-C into KeyboardInterrupt: give them the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signals = [signal.Signals[f"SIG{s.strip().upper()}"] for s in args.signals.split(",") if s.strip()]
    home = Path(tempfile.mkdtemp(prefix="publish-crash-"))
    os.environ["ARTHUR_GEN_HOME"] = str(home)  # this process reads the same store (to settle)
    trials = Trials(home, signals)
    rows: list[list[Any]] = []
    started = time.monotonic()
    try:
        for platform in args.platforms.split(","):
            phases = YOUTUBE_PHASES if platform == "youtube" else LINKEDIN_PHASES
            for phase in phases:
                for sig in signals:
                    results = [trials.run(platform, phase, sig) for _ in range(args.trials)]
                    created = sum(r["created"] for r in results)
                    rows.append(
                        [
                            platform,
                            phase,
                            sig.name,
                            len(results),
                            sum(r["state"] == "saved" for r in results),
                            sum(r["state"] == "needs confirmation" for r in results),
                            created,
                            sum(max(0, r["created"] - 1) for r in results),
                            max(r["resent"] for r in results),
                            sum(r["intact"] for r in results),
                            sum(r["hung"] for r in results),
                            sum(r["hashing"] for r in results),
                        ]
                    )
                    print(" ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    finally:
        trials.close()
        shutil.rmtree(home, ignore_errors=True)
    head = [
        "platform",
        "phase",
        "signal",
        "trials",
        "saved",
        "needs conf.",
        "created",
        "duplicates",
        "max resent B",
        "intact",
        "slow exit",
        "before digest",
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for line in [head, *rows]:
        print(
            "  ".join(
                str(c).rjust(w) if isinstance(c, int) else str(c).ljust(w)
                for c, w in zip(line, widths, strict=True)
            )
        )
    duplicates = sum(r[7] for r in rows)
    worst = max(r[8] for r in rows)
    print(
        f"\n{sum(r[3] for r in rows)} trials in {time.monotonic() - started:.0f} s: {duplicates} duplicates; "
        f"at most {worst:,} bytes sent again (one chunk/part is {CHUNK:,})."
    )
    broken = sum(r[3] - r[9] for r in rows)
    print(f"{broken} uploads whose bytes on the platform differ from the file.")
    slow = sum(r[10] for r in rows)
    if slow:
        print(f"{slow} children still ran 30 s after the signal (stopped with SIGABRT, stacks saved).")
    return 1 if duplicates or worst > CHUNK or broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
