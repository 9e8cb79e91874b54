"""``arthur-gen gallery --serve``: loopback only, read-only, the page and its files and nothing else."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arthur_gen.errors import ArthurGenError
from arthur_gen.gallery import GalleryServer
from arthur_gen.testing import png_bytes, record_job

SECRET = b"the contents of a file outside the output folders"


def _get(
    server: GalleryServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


@pytest.fixture
def files(out_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """An image job and a video job in the output folder, and a secret beside that folder."""
    day = out_dir / "2026-12-01"
    day.mkdir(parents=True)
    image = day / "lighthouse.png"
    image.write_bytes(png_bytes(64, 48, 1))
    (day / "lighthouse.png.json").write_text('{"job_id": "x"}')
    video = day / "waves.mp4"
    video.write_bytes(bytes(range(256)) * 40)  # 10,240 bytes, each offset's value known
    now = time.time()
    record_job(
        created_at=now - 10,
        kind="image",
        prompt="a lighthouse",
        outputs=[{"path": str(image), "media_type": "image/png", "index": 0}],
        out_dir=str(out_dir),
    )
    record_job(
        created_at=now - 5,
        prompt="waves",
        outputs=[{"path": str(video), "media_type": "video/mp4", "index": 0}],
        out_dir=str(out_dir),
    )
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    return {"image": image, "video": video, "secret": secret}


@pytest.fixture
def server(files: dict[str, Path]) -> Iterator[GalleryServer]:
    with GalleryServer(port=0) as running:
        yield running


def _links(page: bytes) -> list[str]:
    return sorted(set(re.findall(r'(?:src|href)="(/files/[^"]+)"', page.decode())))


def test_it_serves_the_page_and_the_files_it_links(server: GalleryServer, files: dict[str, Path]) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    status, headers, page = _get(server, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'sha256-" in headers["content-security-policy"]
    assert b"a lighthouse" in page and b"waves" in page
    links = _links(page)
    assert len(links) == 3  # the image, its sidecar, the video
    served = {}
    for link in links:
        status, headers, body = _get(server, link)
        assert status == 200, link
        served[headers["content-type"]] = body
    assert served["image/png"] == files["image"].read_bytes()
    assert served["video/mp4"] == files["video"].read_bytes()
    assert served["application/json"] == b'{"job_id": "x"}'


def test_a_new_job_shows_on_reload(server: GalleryServer, out_dir: Path) -> None:
    job = record_job(created_at=time.time(), prompt="made after the server started", out_dir=str(out_dir))
    assert job.encode() in _get(server, "/")[2]


def _video_link(server: GalleryServer) -> str:
    return next(link for link in _links(_get(server, "/")[2]) if link.endswith(".mp4"))


def test_byte_ranges_for_video(server: GalleryServer, files: dict[str, Path]) -> None:
    link, data = _video_link(server), files["video"].read_bytes()
    size = len(data)
    for header, first, last in (
        ("bytes=10-19", 10, 19),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-100", size - 100, size - 1),
        ("bytes=10000-99999", 10000, size - 1),
    ):
        status, headers, body = _get(server, link, headers={"Range": header})
        assert status == 206, header
        assert headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert body == data[first : last + 1] and headers["content-length"] == str(last - first + 1)
    status, headers, _ = _get(server, link, headers={"Range": f"bytes={size}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{size}"
    status, headers, body = _get(server, link, headers={"Range": "bytes=0-1,5-6"})
    assert status == 200 and body == data  # several ranges: the whole file is a valid answer
    status, headers, body = _get(server, link, method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(size)
    assert headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "TRACE"])
def test_it_is_read_only(server: GalleryServer, files: dict[str, Path], method: str) -> None:
    before = files["video"].read_bytes()
    for path in ("/", _video_link(server), "/files/0/2026-12-01/new.txt"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request(method, path, body=b"x" * 10)
        response = conn.getresponse()
        assert response.status == 405, (method, path)
        assert response.getheader("Allow") == "GET, HEAD"
        response.read()
        conn.close()
    assert files["video"].read_bytes() == before
    assert not (files["video"].parent / "new.txt").exists()


def _escapes(secret: Path) -> list[str]:
    rel = os.path.relpath(secret, secret.parent)  # "secret.txt"; the output folder is ../data/outputs
    return [
        "/files/0/../../../" + rel,
        "/files/0/2026-12-01/../../../../" + rel,
        "/files/0/%2e%2e/%2e%2e/%2e%2e/" + rel,
        "/files/0/%2E%2E%2F%2E%2E%2F%2E%2E%2F" + rel,
        "/files/0/..%2f..%2f..%2f" + rel,
        "/files/0/..\\..\\..\\" + rel,
        "/../" + rel,
        "/%2e%2e/" + rel,
        "/files/0/" + str(secret),
        "/files/0/" + str(secret).replace("/", "%2f"),
        "/files/0//" + str(secret),
        str(secret),
        "/" + str(secret),
        "//" + str(secret),
        "/files/0/2026-12-01/waves.mp4%00/../../../../" + rel,
        "/files/1/" + rel,
        "/files/-1/" + rel,
        "/etc/passwd",
        "/files/0/../../../../../../../etc/passwd",
        "/files/%ff%fe",
    ]


def test_no_url_reaches_a_file_outside_the_output_folders(
    server: GalleryServer, files: dict[str, Path]
) -> None:
    assert _get(server, _video_link(server))[0] == 200  # the server does serve files
    for path in _escapes(files["secret"]):
        status, _, body = _get(server, path)
        assert status == 404, path
        assert SECRET not in body and b"root:" not in body, path
    # The absolute form of a request target is read for its path only.
    status, _, body = _get(server, f"http://127.0.0.1:{server.port}/files/0/../../../secret.txt")
    assert status == 404 and SECRET not in body


def test_a_symlink_out_of_the_output_folder_is_not_followed(
    out_dir: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    day = out_dir / "2026-12-01"
    link = day / "escape.png"
    link.symlink_to(files["secret"])  # recorded as an output: the page lists it
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.png").write_bytes(png_bytes(8, 8))
    (day / "folder").symlink_to(outside)  # a folder inside that leads out
    now = time.time()
    for name, path in (("escape", link), ("folder", day / "folder" / "x.png")):
        record_job(
            created_at=now,
            kind="image",
            prompt=name,
            outputs=[{"path": str(path), "media_type": "image/png", "index": 0}],
            out_dir=str(out_dir),
        )
    with GalleryServer(port=0) as server:
        page = _get(server, "/")[2]
        assert b"outside the output folders" in page  # the folder link is not linked at all
        for url in ("/files/0/2026-12-01/escape.png", "/files/0/2026-12-01/folder/x.png"):
            status, _, body = _get(server, url)
            assert status == 404 and SECRET not in body, url


def test_files_the_page_does_not_show_are_not_served(server: GalleryServer, out_dir: Path) -> None:
    work = out_dir / ".work"
    work.mkdir()
    (work / "partial.mp4").write_bytes(b"half a video")
    (out_dir / "2026-12-01" / "notes.txt").write_text("private notes")
    for path in ("/files/0/.work/partial.mp4", "/files/0/2026-12-01/notes.txt", "/files/0/2026-12-01"):
        assert _get(server, path)[0] == 404, path


def test_another_host_name_is_refused(server: GalleryServer) -> None:
    """A page on another site rebinding its name to 127.0.0.1 cannot read the gallery."""
    status, _, body = _get(server, "/", headers={"Host": f"evil.example:{server.port}"})
    assert status == 403 and b"lighthouse" not in body
    assert _get(server, "/", headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_it_listens_on_loopback_only(server: GalleryServer) -> None:
    assert server._server.server_address[0] == "127.0.0.1"
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        addresses = set()
    for address in addresses - {"127.0.0.1"}:
        if address.startswith("127."):
            continue
        with pytest.raises(OSError), socket.create_connection((address, server.port), timeout=2):
            pass


def test_a_port_in_use_is_a_clear_error(server: GalleryServer) -> None:
    with pytest.raises(ArthurGenError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*--port"):
        GalleryServer(port=server.port)
    with pytest.raises(ArthurGenError, match="port=70000 is not valid"):
        GalleryServer(port=70000)


def test_the_cli_serves_until_ctrl_c(files: dict[str, Path], home: Path) -> None:
    env = {**os.environ, "ARTHUR_GEN_HOME": str(home), "ARTHUR_GEN_LOAD_PLUGINS": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arthur_gen", "gallery", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and b"Stopped" in out


def test_a_page_that_cannot_be_built_is_a_500_with_a_message_not_a_traceback(
    server: GalleryServer, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from arthur_gen.gallery import _server

    def broken() -> None:
        raise RuntimeError("the store is gone")

    monkeypatch.setattr(_server, "load", broken)
    status, _, body = _get(server, "/")
    assert status == 500 and b"the gallery could not be built: the store is gone" in body
    err = capfd.readouterr().err
    assert "the store is gone" in err and "Traceback" not in err
