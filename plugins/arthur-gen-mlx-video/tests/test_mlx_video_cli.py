"""The CLI in a child process: the real tiny pipeline to an MP4, a clean exit (no abort 134)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# the child swaps in the 8-channel VAE decoder, then runs the real CLI entry point
_DRIVER = (
    "import sys\n"
    "from arthur_gen_mlx_video.testing import tiny_vae\n"
    "from arthur_gen.cli._main import main\n"
    "with tiny_vae():\n"
    "    code = main(sys.argv[1:])\n"
    "sys.exit(code)\n"
)


def test_cli_video_to_mp4_with_metadata_and_clean_exit(tiny_wan: Path, umt5: Path, tmp_path: Path) -> None:
    argv = [
        sys.executable, "-c", _DRIVER, "video", "a lighthouse", "--backend", "mlx_video",
        "--size", "256x256", "--seed", "2", "--steps", "1", "-o", f"model_path={tiny_wan}",
        "-o", "num_frames=5", "-o", "tiling=none", "--json", "--no-cache",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]  # 134 would be MLX's abort at exit
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    text = json.dumps(out)
    path = Path(next(p for p in _paths(out) if p.endswith(".mp4")))
    assert path.is_file(), text
    from arthur_gen.media import read_mp4_metadata

    meta = read_mp4_metadata(path)
    assert meta is not None and "mlx_video.generate_wan.generate_video" in json.dumps(meta)


def test_cli_missing_weights_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "arthur_gen", "video", "x", "--backend", "mlx_video", "--seed", "1"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "mlx_video.convert_wan" in proc.stderr


def _paths(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v)]
    return []
