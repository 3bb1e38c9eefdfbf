"""Helpers of the tests that open example pages: a PNG writer and a page opened in the session's
Chromium that waits for the page to report its runs."""
from __future__ import annotations

import shutil
import struct
import time
import zlib
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def copy_example(name: str, files, dest: Path) -> None:
    """The example page's files and the runtime script into dest, as its README says to."""
    from webdnn.runners import runtime_dist
    for f in files:
        shutil.copy(EXAMPLES / name / f, dest / f)
    shutil.copy(runtime_dist(("webdnn.js",)) / "webdnn.js", dest / "webdnn.js")


def png(path, rgb):
    """An 8-bit RGB PNG of rgb [H, W, 3] uint8."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class ExamplePage:
    """A page of the session's Chromium on `url`, collecting errors; wait_runs(n) waits until the
    page's body[data-runs] reaches n (or its title says error)."""

    def __init__(self, runners, url: str):
        self.page = runners["chromium"].new_page()
        self.errors, self.console = [], []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.goto(url)

    def wait_runs(self, n: int, timeout: float = 300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.page.title() == "error":
                raise AssertionError(f"the page failed: {self.page.inner_text('#status')} {self.errors} {self.console[-5:]}")
            if int(self.page.evaluate("Number(document.body.dataset.runs || 0)")) >= n:
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"no run {n} within {timeout}s: {self.page.inner_text('#status')} {self.errors}")

    def give_file(self, path) -> None:
        """After the page's first run (on its own picture), a file through its file input; waits
        for the run on it."""
        self.wait_runs(1)
        self.page.set_input_files("#file", str(path))
        self.wait_runs(2)

    def close(self):
        self.page.close()
