"""ChromiumRunner: one headless Chromium (Playwright) with one page, driven from Python.

The page is harness.html, served by webdnn.serve with cross-origin isolation; it loads the
runtime's script-tag build from /webdnn/webdnn.js. Each descriptor directory is mounted under its
own URL prefix the first time it is run. Tensors cross the Python/page boundary as raw bytes:
outputs as base64 in the evaluate() reply; inputs the same way when small, and when large
(``http_threshold`` bytes and more) fetched by the page from the local server's memory, which
halves the round trip for MB-sized inputs (a string argument through Playwright's driver costs
~100 ms per MB; a PUT of the outputs measured slower than base64). Playwright's sync API is
bound to the thread that created the runner.
"""
from __future__ import annotations

import base64
import collections
import itertools
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from . import shaped, TYPED_ARRAYS, Runner, RuntimeRunError, runtime_dist
from ..serve import Server

HARNESS = Path(__file__).with_name("harness.html")
CHROMIUM = "/usr/bin/chromium"

BASE_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
# WebGPU on SwiftShader (Vulkan) and WebGL2 on ANGLE/SwiftShader: GPU backends without a GPU
SWIFTSHADER_ARGS = (
    "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader",
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
)
DEFAULT_ARGS = BASE_ARGS + SWIFTSHADER_ARGS


class ChromiumRunner(Runner):
    """Runs descriptors in one headless Chromium page.

    ``executable``: the browser (Debian's /usr/bin/chromium by default; no downloaded browser
    is needed); ``args``: the full command-line flag list (default :data:`DEFAULT_ARGS`);
    ``extra_args``: appended to it; ``timeout``: seconds for one load/run;
    ``http_threshold``: inputs of at least this many bytes are fetched over HTTP instead of
    sent as base64 (None: always base64).

    ``cross_origin_isolated`` tells whether the page got cross-origin isolation (needed for
    wasm threads); ``webgpu`` whether navigator.gpu exists; ``console_errors`` collects the
    page's console errors and uncaught exceptions; ``launch_s`` is the start-up time.
    """

    name = "chromium"

    def __init__(self, executable: str = CHROMIUM, args=None, extra_args=(),
                 headless: bool = True, timeout: float = 300.0,
                 runtime: Path | str | None = None, cache_size: int = 8,
                 http_threshold: int | None = 256 * 1024):
        super().__init__()
        t0 = time.perf_counter()
        exe = Path(executable)
        if not exe.is_file():
            found = shutil.which(str(executable))
            if found is None:
                raise FileNotFoundError(f"cannot find the Chromium executable {executable} "
                                        f"(on Debian: `apt-get install chromium`)")
            exe = Path(found)
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:
            raise ImportError("the chromium runner needs Playwright: `pip install playwright` "
                              "(no browser download is needed; the system Chromium is used)"
                              ) from e
        dist = Path(runtime) if runtime is not None else runtime_dist(("webdnn.js",))
        if not (dist / "webdnn.js").is_file():
            raise FileNotFoundError(f"runtime script {dist / 'webdnn.js'} does not exist")
        self.timeout = float(timeout)
        self.args = list(DEFAULT_ARGS if args is None else args) + list(extra_args)
        self.console_errors: collections.deque[str] = collections.deque(maxlen=200)
        self.console: collections.deque[str] = collections.deque(maxlen=500)
        self._n_errors = 0
        self._mounted: dict[Path, str] = {}
        self._crashed = False
        self._pw = self._browser = self._page = None
        self._executable, self._headless = str(exe), headless

        # the served root holds only the harness; descriptors and the runtime are mounts
        self._tmp = tempfile.TemporaryDirectory(prefix="webdnn-chromium-")
        shutil.copyfile(HARNESS, Path(self._tmp.name) / HARNESS.name)
        self._server = Server(self._tmp.name, mounts={"/webdnn/": dist}).start()
        self.http_threshold = http_threshold
        self._io = f"/io/{secrets.token_hex(16)}/"
        self._requests = itertools.count()
        try:
            self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(
                executable_path=str(exe), args=self.args, headless=headless,
                timeout=self.timeout * 1000)
            self.browser_version = self._browser.version
            self._open_page(cache_size)
        except BaseException:
            self.close()
            raise
        self.launch_s = time.perf_counter() - t0

    # -- page ----------------------------------------------------------------------------------

    def new_page(self):
        """Another page in the same browser, for opening pages as a person would."""
        return self._browser.new_page()

    def launch_browser(self, extra_args=()):
        """A second browser of the same executable with more flags (e.g. a fake camera), through this
        runner's Playwright (one thread holds one sync Playwright); the caller closes it."""
        return self._pw.chromium.launch(executable_path=self._executable, args=self.args + list(extra_args),
                                        headless=self._headless, timeout=self.timeout * 1000)

    def _open_page(self, cache_size: int = 8):
        if self._page is not None:  # replacing a crashed page
            try:
                self._page.close()
            except Exception:
                pass
        page = self._browser.new_page()
        page.set_default_timeout(self.timeout * 1000)
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self._on_error(f"uncaught: {err}"))
        page.on("crash", lambda _p: setattr(self, "_crashed", True))
        page.goto(self._server.url + HARNESS.name, wait_until="load")
        page.wait_for_function("() => window.webdnnHarness !== undefined")
        info = page.evaluate("() => webdnnHarness.info()")
        page.evaluate("(n) => webdnnHarness.setCacheSize(n)", cache_size)
        self._page, self._crashed, self._cache_size = page, False, cache_size
        self.info = info
        self.cross_origin_isolated: bool = bool(info["crossOriginIsolated"])
        self.webgpu: bool = bool(info["webgpu"])
        if not info["runtime"]:
            raise RuntimeRunError("the runtime script /webdnn/webdnn.js did not load in Chromium",
                                  logs=list(self.console_errors))

    def _on_console(self, msg):
        text = f"[{msg.type}] {msg.text}"
        self.console.append(text)
        if msg.type == "error":
            url = (msg.location or {}).get("url")
            self._on_error(f"{msg.text} ({url})" if url else msg.text)

    def _on_error(self, text: str):
        self._n_errors += 1
        self.console_errors.append(text)

    @property
    def page(self):
        """The Playwright page (for custom checks)."""
        return self._page

    @property
    def url(self) -> str:
        """The local server's base URL."""
        return self._server.url

    def mount(self, descriptor_dir: Path | str) -> str:
        """The URL (ending in '/') at which the page sees ``descriptor_dir``."""
        d = Path(descriptor_dir).resolve()
        prefix = self._mounted.get(d)
        if prefix is None:
            prefix = f"/m/{len(self._mounted)}/"
            self._server.mount(prefix, d)
            self._mounted[d] = prefix
        return self._server.url.rstrip("/") + prefix

    def _call(self, fn: str, request: dict) -> dict:
        self._check_open()
        if self._crashed or self._page is None or self._page.is_closed():
            self._open_page(self._cache_size)
        seen = self._n_errors
        try:
            reply = self._page.evaluate(f"(req) => webdnnHarness.{fn}(req)",
                                        {**request, "timeout": self.timeout})
        except Exception as e:  # the page crashed or the browser went away
            raise RuntimeRunError(f"Chromium failed while running: {e}",
                                  logs=list(self.console_errors)) from None
        if not reply.get("ok"):
            fresh = list(self.console_errors)[-(self._n_errors - seen):] if self._n_errors > seen else []
            raise RuntimeRunError(reply.get("error") or "unknown JavaScript error",
                                  js_stack=reply.get("stack"), logs=fresh)
        return reply

    # -- Runner --------------------------------------------------------------------------------

    def _load(self, descriptor_dir, stamp, backends):
        reply = self._call("load", {"url": self.mount(descriptor_dir), "stamp": stamp,
                                    "backends": backends})
        reply.pop("ok", None)
        return reply

    def _run(self, descriptor_dir, stamp, backends, inputs, repeat=1, warmup=0):
        n = next(self._requests)
        thr = self.http_threshold
        specs, blobs = [], []
        try:
            for i, (name, arr, typed, shape) in enumerate(inputs):
                spec = {"name": name, "type": typed, "shape": shape}
                if thr is not None and arr.nbytes >= thr:
                    path = f"{self._io}in_{n}_{i}.bin"
                    self._server.put_blob(path, arr.tobytes())
                    blobs.append(path)
                    spec["url"] = path
                else:
                    spec["b64"] = base64.b64encode(arr.data).decode("ascii")
                specs.append(spec)
            reply = self._call("run", {
                "url": self.mount(descriptor_dir), "stamp": stamp, "backends": backends,
                "inputs": specs, "repeat": repeat, "warmup": warmup})
        finally:
            for path in blobs:
                self._server.drop_blob(path)
        outputs = {}
        for o in reply["outputs"]:
            dtype = TYPED_ARRAYS.get(o["type"])
            if dtype is None:
                raise RuntimeRunError(f"output {o['name']!r} came back as an unsupported {o['type']}")
            outputs[o["name"]] = shaped(np.frombuffer(base64.b64decode(o["b64"]), dtype=dtype).copy(), o.get("shape"))
        return {"outputs": outputs, "ms": reply.get("ms", []), "loadMs": reply.get("loadMs"),
                "backendName": reply.get("backendName"), "backendInfo": reply.get("backendInfo")}

    def forget(self, descriptor_dir: Path | str | None = None) -> None:
        """Drop cached loaded descriptors in the page (one directory, or all)."""
        url = None if descriptor_dir is None else self.mount(descriptor_dir)
        if self._page is not None and not self._page.is_closed():
            self._page.evaluate("(u) => webdnnHarness.forget(u)", url)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for step in (lambda: self._browser and self._browser.close(),
                     lambda: self._pw and self._pw.stop(),
                     lambda: self._server.close(),
                     lambda: self._tmp.cleanup()):
            try:
                step()
            except Exception:
                pass

    def __repr__(self):
        state = "closed" if self._closed else self._server.url
        return f"<ChromiumRunner {state}>"
