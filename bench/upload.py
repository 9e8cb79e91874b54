"""Upload 1 GiB to the YouTube emulator: peak RSS growth and throughput vs a plain httpx PUT loop.

    .venv/bin/python bench/upload.py            # 1024 MiB, 8 MiB chunks
    BENCH_UPLOAD_MIB=256 .venv/bin/python bench/upload.py

The emulator runs in its own process (its memory is not counted). Both sides send the same
chunks of the same file to the same emulator, each into a fresh resumable session, best of two
runs each; the arthur-gen side is the real publish job (googleapiclient, checkpoints in the
store, the file's SHA-256 for the duplicate check, computed on a thread while it uploads).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _video(path: Path, mib: int) -> Path:
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height = 320, 180
        stream.pix_fmt = "yuv420p"
        for i in range(24):
            frame = av.VideoFrame.from_ndarray(np.full((180, 320, 3), i * 10, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    pad = mib * 2**20 - path.stat().st_size - 8
    block = os.urandom(2**20)
    with path.open("ab") as fh:  # a 'free' box: players and probes skip it
        fh.write((pad + 8).to_bytes(4, "big") + b"free")
        while pad > 0:
            fh.write(block[: min(pad, len(block))])
            pad -= len(block)
    return path


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    mib = int(os.environ.get("BENCH_UPLOAD_MIB", "1024"))
    chunk = 8 * 2**20
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    os.environ.update(ARTHUR_GEN_HOME=str(tmp), ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-youtube")
    os.environ["ARTHUR_GEN_YOUTUBE_CHUNK_BYTES"] = str(chunk)
    video = _video(tmp / "big.mp4", mib)
    size = video.stat().st_size
    emu = subprocess.Popen(
        [sys.executable, "-m", "arthur_gen_youtube.emulator"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert emu.stdout is not None
        lines = [emu.stdout.readline() for _ in range(3)]
        url = lines[0].split(" on ")[1].strip()
        creds_path = lines[2].split("--credentials ")[1].strip()
        os.environ["ARTHUR_GEN_YOUTUBE_ROOT_URL"] = url
        import arthur_gen_youtube
        import httpx

        from arthur_gen.publish import publish

        arthur_gen_youtube.add_credentials(creds_path)
        creds = json.loads(Path(creds_path).read_text())
        token = httpx.post(
            creds["token_uri"], data={"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]}
        ).json()["access_token"]

        # plain httpx: open a session, PUT the same chunks
        def httpx_loop() -> float:
            headers = {"Authorization": f"Bearer {token}"}
            start = time.perf_counter()
            with httpx.Client(timeout=120) as client:
                r = client.post(
                    f"{url}/upload/youtube/v3/videos",
                    params={"uploadType": "resumable", "part": "snippet,status"},
                    headers={**headers, "X-Upload-Content-Length": str(size)},
                    json={"snippet": {"title": "baseline"}},
                )
                location = r.headers["location"]
                with video.open("rb") as fh:
                    pos = 0
                    while pos < size:
                        data = fh.read(chunk)
                        rng = f"bytes {pos}-{pos + len(data) - 1}/{size}"
                        r = client.put(location, content=data, headers={**headers, "Content-Range": rng})
                        pos += len(data)
                assert r.status_code == 200, r.status_code
            return time.perf_counter() - start

        rss_before = _rss_mib()  # peak so far: imports only, before any chunk is read
        start = time.perf_counter()
        result = publish(video, to="youtube", title="bench", force=True)
        ours_s = time.perf_counter() - start
        rss_growth = _rss_mib() - rss_before
        assert result["state"] == "saved"
        base_s = min(httpx_loop(), httpx_loop())  # best of two on each side
        again = time.perf_counter()
        publish(video, to="youtube", title="bench", force=True)
        ours_s = min(ours_s, time.perf_counter() - again)
        state = httpx.get(f"{url}/_emulator/state").json()
        assert state["inserts"] == 4, state["inserts"]
        mib_s = size / 2**20
        print(f"upload of {mib_s:,.0f} MiB in {chunk // 2**20} MiB chunks to the YouTube emulator")
        print(f"  plain httpx PUT loop: {base_s:6.2f} s  {mib_s / base_s:7.1f} MiB/s")
        print(f"  arthur-gen publish:   {ours_s:6.2f} s  {mib_s / ours_s:7.1f} MiB/s")
        print(f"  throughput ratio (arthur-gen / httpx): {base_s / ours_s:.2f}x (goal >= 0.8x)")
        print(f"  peak RSS growth during the publish: {rss_growth:.1f} MiB (goal <= 64 MiB)")
    finally:
        emu.terminate()
        emu.wait(10)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
