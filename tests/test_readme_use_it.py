"""The README's "Use it" blocks, copied out of README.md and run as written in a fresh project:
no token, no weights, a private HOME; they work offline against the Replicate emulator, make
real files and say that they are offline."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("arthur_gen_replicate")


def use_it_blocks() -> dict[str, list[str]]:
    """The fenced code blocks of the README's "## Use it" section, by language."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Use it\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for lang, body in re.findall(r"^```(\w+)\n(.*?)^```", section, flags=re.S | re.M):
        blocks.setdefault(lang, []).append(body)
    return blocks


def make_project(root: Path) -> Path:
    """A fresh project folder whose ``.venv`` is this environment (the Quickstart's result)."""
    (root / "home").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / ".venv").symlink_to(Path(sys.prefix))
    return root


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """Both blocks, each in its own fresh project, run at the same time (they mostly wait on
    their emulators)."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running from a virtual environment (the Quickstart makes .venv)")
    import concurrent.futures

    blocks = use_it_blocks()
    python, bash = (make_project(tmp_path_factory.mktemp(name)) for name in ("python", "bash"))
    (python / "use_it.py").write_text(blocks["python"][0])
    (bash / "use_it.sh").write_text(blocks["bash"][0])
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        py = pool.submit(run, ["bash", "-c", ". .venv/bin/activate && python use_it.py"], python, 240)
        sh = pool.submit(run, ["bash", "-e", "use_it.sh"], bash, 300)
        return {"python": (python, py.result()), "bash": (bash, sh.result())}


def fresh_env(project: Path) -> dict[str, str]:
    """What a new shell has: no token, no arthur-gen settings, an empty HOME (no weights)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(project / "home"),
        "TMPDIR": str(project / "tmp"),
    }
    env["LANG"] = os.environ.get("LANG", "C.UTF-8")
    return env


def run(args: list[str], project: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        args,
        cwd=project,
        env=fresh_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the block's background emulator is in this group
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def assert_real_image(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        assert image.width > 0 and image.height > 0


def assert_real_mp4(path: Path) -> None:
    import av

    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 0


def test_the_blocks_are_there() -> None:
    blocks = use_it_blocks()
    assert len(blocks["python"]) == 1 and len(blocks["bash"]) == 1
    readme = (ROOT / "README.md").read_text()
    assert ". .venv/bin/activate" in readme and ".venv/bin/arthur-gen" in readme


def test_python_block_runs_offline_as_written(ran: dict[str, Any]) -> None:
    project, done = ran["python"]
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OFFLINE: no REPLICATE_API_TOKEN set")  # it says so
    path, cost, parents = lines[1].split(" ", 2)
    assert float(cost) == 0.5 and "01" in parents  # the image's job is the video's parent
    assert_real_mp4(project / path)
    images = [p for p in (project / "out").rglob("*") if p.suffix in (".png", ".webp")]
    assert len(images) == 1
    assert_real_image(images[0])
    assert lines[2] == "$0.5000 (1 video x $0.5)"
    assert lines[3].startswith("video backend auto: replicate (minimax/video-01) (skipped mlx_video:")


def test_bash_block_runs_offline_as_written(ran: dict[str, Any]) -> None:
    project, done = ran["bash"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out, err = done.stdout, done.stderr
    assert "Traceback" not in err
    assert "Replicate API emulator running" in out  # it says so
    images = [Path(p) for p in (project / "images.txt").read_text().split()]
    assert len(images) == 2
    for image in images:
        assert_real_image(image)
    assert "image backend auto: replicate (black-forest-labs/flux-schnell) (skipped mflux:" in err
    # the dry run: both options with their costs, and which one runs
    assert "routing:  auto -> replicate" in out
    assert re.search(r"mlx_video\s+local\s+wan2\.1-t2v-1\.3b\s+-\s+skipped: ", out)
    assert re.search(r"->\s+replicate\s+remote\s+minimax/video-01\s+\$0\.5000\s+runs", out)
    start = out.index('{\n  "job_id"')
    video = json.loads(out[start : out.index("\n}\n", start) + 2])
    assert video["backend"] == "replicate" and video["parents"] and video["cost_usd"] == 0.5
    assert_real_mp4(Path(video["paths"][0]))
    assert re.search(r"\* replicate\s+video\s+remote", out)  # `backends` marks the default
    assert "video requests with no --backend (auto): run on replicate" in out  # `doctor` agrees
    assert (project / "costs.html").stat().st_size > 0
    assert not (project / "home" / ".config" / "arthur-gen").exists()  # the throwaway store only
