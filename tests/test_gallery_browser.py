"""The gallery in headless Chromium (Debian's ``chromium``), at desktop and at phone width.

The browser is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``), so
the test needs no extra library: it loads the page (written to a file, and served), looks at
what was drawn, plays a video, works the filters and follows lineage links.
:class:`Chromium` is also used by the cost dashboard's phone-width test.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.gallery import GalleryServer
from arthur_gen.testing import png_bytes, record_job

from ._chromium import chromium_env, chromium_path

PHONE = (390, 844)
DESKTOP = (1280, 900)


class Chromium:
    """One headless Chromium, one tab, commands over the DevTools pipe (fd 3 in, fd 4 out)."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)  # above 4: the redirections cannot clash
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        to_browser_r, from_browser_w = high_r, high_w
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        # bash puts the pipe ends on the descriptors Chromium reads and writes, then execs it
        # (dash cannot name descriptors above 9).
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.proc = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", script, executable, *flags],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=chromium_env(),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe: " + self._stderr())
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        data: dict[str, Any] = json.loads(message)
        return data

    def _stderr(self) -> str:
        self.close()
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def call(self, method: str, *, session: bool = False, timeout: float = 30, **params: Any) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == name:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def open(self, url: str, size: tuple[int, int]) -> None:
        """Load ``url`` in a viewport of ``size`` CSS pixels (mobile emulation below 600 px)."""
        width, height = size
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str, timeout: float = 30) -> Any:
        """Evaluate ``expression`` (promises awaited) and return its JSON value."""
        result = self.call(
            "Runtime.evaluate",
            session=True,
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def overflow(self) -> dict[str, Any]:
        """How far the page is wider than the viewport, and the widest elements that stick out."""
        value: dict[str, Any] = self.js(
            """(() => {
              const w = document.documentElement.clientWidth;
              const out = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1 && e.getClientRects().length)
                .slice(0, 5)
                .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
              return {width: w, scroll: document.documentElement.scrollWidth, out};
            })()"""
        )
        return value

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the browser and its helpers, its own session
        except ProcessLookupError:
            pass
        self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); cannot render the page")
    chrome = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chrome
    finally:
        chrome.close()


def _mp4(path: Path, seconds: float = 2.0, size: tuple[int, int] = (160, 96)) -> Path:
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * 24)):
            frame = np.full((size[1], size[0], 3), (i * 9) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_sample(out_dir: Path) -> dict[str, str]:
    """A keyframe image, a video made from it, an edit of the video with a poster, a failed job."""
    day = out_dir / "2026-12-01"
    day.mkdir(parents=True, exist_ok=True)
    now = time.time()
    key = day / "keyframe.png"
    key.write_bytes(png_bytes(96, 64, 3))
    image = record_job(
        created_at=now - 300,
        kind="image",
        backend="mflux",
        model="flux-schnell",
        prompt="a lighthouse at dusk",
        seed=7,
        cost_usd=0.0,
        cost_source="free",
        request={"kind": "image", "prompt": "a lighthouse at dusk", "seed": 7},
        outputs=[{"path": str(key), "media_type": "image/png", "index": 0}],
        out_dir=str(out_dir),
    )
    clip = _mp4(day / "waves.mp4")
    video = record_job(
        created_at=now - 200,
        prompt="waves roll in",
        seed=11,
        request={"kind": "video", "prompt": "waves roll in", "seed": 11, "first_frame": str(key)},
        outputs=[{"path": str(clip), "media_type": "video/mp4", "index": 0}],
        parents=[image],
        out_dir=str(out_dir),
    )
    cut = _mp4(day / "cut.mp4", seconds=1.0, size=(96, 160))
    poster = day / "poster.jpg"
    poster.write_bytes(key.read_bytes())  # any image will do as a poster here
    edit = record_job(
        created_at=now - 100,
        kind="edit",
        backend="edit",
        model="pyav",
        prompt="linkedin-portrait waves",
        cost_usd=0.0,
        cost_source="free",
        request={"kind": "edit", "prompt": "linkedin-portrait waves"},
        outputs=[
            {"path": str(cut), "media_type": "video/mp4", "index": 0},
            {"path": str(poster), "media_type": "image/jpeg", "index": 1},
        ],
        parents=[video],
        out_dir=str(out_dir),
    )
    failed = record_job(
        created_at=now - 50,
        kind="image",
        backend="replicate",
        model="black-forest-labs/flux-schnell",
        prompt="a very long prompt " * 30 + "<script>alert(1)</script>",
        state="failed",
        error="the provider said no",
        cost_usd=None,
        cost_source=None,
        out_dir=str(out_dir),
    )
    return {"image": image, "video": video, "edit": edit, "failed": failed}


def _check_page(chrome: Chromium, url: str, ids: dict[str, str]) -> None:
    chrome.open(url, DESKTOP)
    assert chrome.js("document.querySelectorAll('.card').length") == 4
    assert chrome.js("[...document.querySelectorAll('.card')].map(c => c.id.slice(4))") == [
        ids["failed"], ids["edit"], ids["video"], ids["image"],
    ]  # fmt: skip
    assert chrome.js("document.getElementById('count').textContent") == "4 of 4 shown"
    assert chrome.js("document.querySelectorAll('script').length") == 1  # the prompt's tag is text
    # The image thumbnail and the edit's poster were found and drawn.
    loaded = chrome.js(
        "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth, () => 0)))"
    )
    assert loaded and all(w == 96 for w in loaded), loaded
    # The video loads when it comes into view, and plays.
    played = chrome.js(
        f"""(async () => {{
          const v = document.querySelector('#job-{ids["video"]} video');
          v.scrollIntoView();
          await v.play();
          const t0 = performance.now();
          while (v.currentTime < 0.2 && performance.now() - t0 < 15000) {{
            await new Promise(r => setTimeout(r, 50));
          }}
          return {{time: v.currentTime, ready: v.readyState, error: v.error && v.error.code}};
        }})()"""
    )
    assert played["error"] is None and played["ready"] >= 2 and played["time"] >= 0.2, played
    # Filters: kind, backend, model, text, date, and clear.
    visible = (  # laid out, not only flagged hidden
        "[...document.querySelectorAll('.card')].filter(c => c.getClientRects().length > 0)"
        ".map(c => c.id.slice(4))"
    )

    def choose(element: str, value: str) -> Any:
        chrome.js(
            f"(() => {{ const e = document.getElementById('{element}'); e.value = {json.dumps(value)};"
            " e.dispatchEvent(new Event('input', {bubbles: true})); })()"
        )
        return chrome.js(visible)

    assert choose("f-kind", "video") == [ids["video"]]
    assert chrome.js("document.getElementById('count').textContent") == "1 of 4 shown"
    assert choose("f-kind", "") == [ids["failed"], ids["edit"], ids["video"], ids["image"]]
    assert choose("f-backend", "mflux") == [ids["image"]]
    choose("f-backend", "")
    assert choose("f-model", "pyav") == [ids["edit"]]
    choose("f-model", "")
    assert choose("f-text", "WAVES roll") == [ids["video"]]
    assert choose("f-text", ids["edit"][-8:]) == [ids["edit"]]
    choose("f-text", "")
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    assert choose("f-from", tomorrow) == []
    assert choose("f-from", "") and choose("f-to", "2000-01-01") == []
    chrome.js("document.querySelector('form.filters button[type=reset]').click()")
    assert len(chrome.js(visible)) == 4
    # Lineage: the edit links to its parent video, and that link reveals it even when filtered out.
    choose("f-kind", "edit")
    chrome.js(f"document.querySelector('#job-{ids['edit']} a.jl[href=\"#job-{ids['video']}\"]').click()")
    time.sleep(0.2)
    assert ids["video"] in chrome.js(visible)
    assert chrome.js("location.hash") == f"#job-{ids['video']}"
    children = chrome.js(f"[...document.querySelectorAll('#job-{ids['video']} a.jl')].map(a => a.hash)")
    assert children == [f"#job-{ids['image']}", f"#job-{ids['edit']}"]  # from the image; used by the edit
    # At phone width nothing sticks out sideways and the cards are one column.
    chrome.open(url, PHONE)
    over = chrome.overflow()
    assert over["scroll"] <= over["width"] and not over["out"], over
    widths = chrome.js("[...document.querySelectorAll('.card')].map(c => c.getBoundingClientRect().width)")
    assert all(300 < w <= PHONE[0] for w in widths), widths


def test_the_written_page_in_chromium(browser: Chromium, out_dir: Path, tmp_path: Path) -> None:
    ids = make_sample(out_dir)
    page = arthur_gen.write_gallery(tmp_path / "site" / "gallery.html")
    _check_page(browser, page.as_uri(), ids)
    # Without clipboard access (a file page, no permission) "copy" selects the command instead.
    browser.open(page.as_uri(), DESKTOP)
    result = browser.js(
        f"""(async () => {{
          const card = document.getElementById('job-{ids["video"]}');
          card.querySelector('details').open = true;
          const button = card.querySelectorAll('button.copy')[1];
          button.click();
          const t0 = performance.now();
          while (button.textContent === 'copy' && performance.now() - t0 < 5000) {{
            await new Promise(r => setTimeout(r, 20));
          }}
          return [button.textContent, window.getSelection().toString()];
        }})()"""
    )
    assert result[0] in ("copied", "selected"), result
    if result[0] == "selected":
        assert result[1].startswith("arthur-gen video 'waves roll in' --backend replicate"), result


def test_the_served_page_in_chromium(browser: Chromium, out_dir: Path) -> None:
    ids = make_sample(out_dir)
    with GalleryServer(port=0) as server:
        _check_page(browser, server.url, ids)
        # "copy" puts the re-run command on the clipboard (here, where the page may use it).
        browser.call(
            "Browser.grantPermissions",
            origin=server.url.rstrip("/"),
            permissions=["clipboardReadWrite", "clipboardSanitizedWrite"],
        )
        browser.open(server.url, DESKTOP)
        copied = browser.js(
            f"""(async () => {{
              const card = document.getElementById('job-{ids["image"]}');
              card.querySelector('details').open = true;
              const button = card.querySelector('button.copy');
              button.click();
              const t0 = performance.now();
              while (button.textContent === 'copy' && performance.now() - t0 < 5000) {{
                await new Promise(r => setTimeout(r, 20));
              }}
              return [button.textContent, await navigator.clipboard.readText()];
            }})()"""
        )
        assert copied == ["copied", f"arthur-gen rerun {ids['image']}"]
