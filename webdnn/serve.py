"""A small static HTTP server for descriptors, demo pages and the runtime build.

Browsers only enable SharedArrayBuffer (wasm threads) on a cross-origin-isolated page, so every
response carries COOP/COEP/CORP headers. The server binds to the loopback interface only, checks
the Host header (a DNS-rebinding page cannot read it) and never serves a file outside the
directories it was given.

    srv = serve(Path("out"), mounts={"/webdnn/": runtime_dist()})
    print(srv.url)            # http://127.0.0.1:PORT/
    srv.mount("/m/1/", other_dir)
    srv.close()
"""
from __future__ import annotations

import html
import logging
import os
import posixpath
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import WebDNNError

__all__ = ["Server", "serve", "serve_forever", "add_model_page", "CONTENT_TYPES", "ISOLATION_HEADERS"]

log = logging.getLogger("webdnn.serve")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Explicit table: the platform's mimetypes database differs between machines (.mjs, .wasm).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".onnx": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".wgsl": "text/plain; charset=utf-8",
    ".glsl": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
}

_CHUNK = 1 << 20


def _norm_prefix(prefix: str) -> str:
    """'/webdnn', 'webdnn/' -> '/webdnn/' ; '' or '/' -> '/'."""
    parts = [p for p in prefix.strip().split("/") if p]
    for p in parts:
        if p in (".", "..") or "\\" in p:
            raise ValueError(f"invalid mount prefix {prefix!r}")
    return "/" + "".join(p + "/" for p in parts)


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "webdnn"

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        log.debug("%s %s", self.address_string(), format % args)

    # -- request handling -------------------------------------------------------------------

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def _other(self):
        self._send_error(HTTPStatus.METHOD_NOT_ALLOWED, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").strip().lower()
        if not host:
            return True  # HTTP/1.0 clients; the socket is loopback-only anyway
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_HOSTS or name == "[::1]"

    def _serve(self, head: bool):
        if not self._host_ok():
            self._send_error(HTTPStatus.FORBIDDEN, "only loopback host names are served")
            return
        blob = self.server.owner._blob(self.path)
        if blob is not None:
            data, ctype = blob
            self._send_bytes(HTTPStatus.OK, data, ctype, head=head)
            return
        resolved = self.server.owner._resolve(self.path)
        if resolved is None:
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        url_path, fs_path = resolved
        if fs_path.is_dir():
            if not url_path.endswith("/"):
                self._redirect(url_path + "/")
                return
            index = fs_path / "index.html"
            if index.is_file() and _is_within(index.resolve(), fs_path.resolve()):
                fs_path = index
            else:
                self._send_listing(url_path, fs_path, head)
                return
        if not fs_path.is_file():
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        ctype = CONTENT_TYPES.get(fs_path.suffix.lower(), "application/octet-stream")
        try:
            f = open(fs_path, "rb")
        except OSError:
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            self._common_headers(ctype, size)
            self.end_headers()
            if head:
                return
            try:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    # -- responses --------------------------------------------------------------------------

    def _common_headers(self, ctype: str, length: int):
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        # descriptors are rewritten in place while a page is open; never serve a stale copy
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in ISOLATION_HEADERS.items():
            self.send_header(k, v)

    def _send_bytes(self, status, body: bytes, ctype: str, head: bool = False, extra=None):
        self.send_response(status)
        self._common_headers(ctype, len(body))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _send_error(self, status, message: str | None = None, extra=None):
        status = HTTPStatus(status)
        text = f"{status.value} {status.phrase}" + (f": {message}" if message else "") + "\n"
        self._send_bytes(status, text.encode(), "text/plain; charset=utf-8",
                         head=self.command == "HEAD", extra=extra)

    def _redirect(self, location: str):
        self._send_bytes(HTTPStatus.MOVED_PERMANENTLY, b"", "text/plain; charset=utf-8",
                         head=True, extra={"Location": urllib.parse.quote(location)})

    def _send_listing(self, url_path: str, directory: Path, head: bool):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        items = []
        for n in names:
            slash = "/" if (directory / n).is_dir() else ""
            href = urllib.parse.quote(n + slash)
            items.append(f'<li><a href="{href}">{html.escape(n + slash)}</a></li>')
        title = html.escape(url_path)
        body = (f"<!doctype html><meta charset=utf-8><title>{title}</title>"
                f"<h1>{title}</h1><ul>{''.join(items)}</ul>\n").encode()
        self._send_bytes(HTTPStatus.OK, body, "text/html; charset=utf-8", head=head)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "Server"

    def handle_error(self, request, client_address):
        log.debug("error while handling a request from %s", client_address, exc_info=True)


class Server:
    """A running loopback HTTP server. Use :func:`serve` to create one."""

    def __init__(self, root: Path | str, port: int = 0, mounts: dict[str, Path] | None = None,
                 host: str = "127.0.0.1"):
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"webdnn.serve only binds to the loopback interface "
                             f"(127.0.0.1); refusing host {host!r}")
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"cannot serve {root}: not a directory")
        self._lock = threading.Lock()
        self._mounts: dict[str, Path] = {"/": self.root}
        self._blobs: dict[str, tuple[bytes, str]] = {}
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}/"
        self._thread: threading.Thread | None = None
        self._closed = False
        try:
            for prefix, path in (mounts or {}).items():
                self.mount(prefix, path)
        except BaseException:
            self._httpd.server_close()
            raise

    # -- mounts -----------------------------------------------------------------------------

    def mount(self, prefix: str, path: Path | str) -> str:
        """Serve directory ``path`` under URL ``prefix``; returns the absolute URL of it."""
        p = _norm_prefix(prefix)
        d = Path(path).resolve()
        if not d.is_dir():
            raise FileNotFoundError(f"cannot mount {path}: not a directory")
        with self._lock:
            self._mounts[p] = d
        return self.url.rstrip("/") + p

    def unmount(self, prefix: str) -> None:
        p = _norm_prefix(prefix)
        if p == "/":
            raise ValueError("the root cannot be unmounted")
        with self._lock:
            self._mounts.pop(p, None)

    # -- in-memory files (the Chromium runner serves large input tensors this way) -----------

    def put_blob(self, url_path: str, data: bytes,
                 content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` at exactly ``url_path`` until :meth:`drop_blob`; returns its URL."""
        if not url_path.startswith("/") or ".." in url_path.split("/"):
            raise ValueError(f"invalid blob path {url_path!r}")
        with self._lock:
            self._blobs[url_path] = (bytes(data) if not isinstance(data, bytes) else data,
                                     content_type)
        return self.url.rstrip("/") + url_path

    def drop_blob(self, url_path: str) -> None:
        with self._lock:
            self._blobs.pop(url_path, None)

    def _blob(self, raw_path: str) -> tuple[bytes, str] | None:
        path = urllib.parse.urlsplit(raw_path).path
        with self._lock:
            return self._blobs.get(path) if self._blobs else None

    @property
    def mounts(self) -> dict[str, Path]:
        with self._lock:
            return dict(self._mounts)

    def _resolve(self, raw_path: str) -> tuple[str, Path] | None:
        """URL path -> (normalized url path, file system path) or None (=> 404)."""
        path = urllib.parse.urlsplit(raw_path).path
        if not path.startswith("/"):
            return None
        if "%" in path:
            try:
                path = urllib.parse.unquote(path, errors="strict")
            except UnicodeDecodeError:
                return None
        if "\x00" in path or "\\" in path:
            return None
        segments = path.split("/")
        # '..' anywhere is refused outright rather than normalized away
        if any(s == ".." for s in segments):
            return None
        if any(":" in s for s in segments):  # drive letters, alternate data streams
            return None
        norm = posixpath.normpath(path)
        if path.endswith("/") and norm != "/":
            norm += "/"
        if norm.startswith("//"):
            return None
        with self._lock:
            prefixes = sorted(self._mounts, key=len, reverse=True)
            mounts = dict(self._mounts)
        for prefix in prefixes:
            if norm == prefix.rstrip("/") and prefix != "/":
                return norm, mounts[prefix]  # '/webdnn' -> directory, redirected to '/webdnn/'
            if norm.startswith(prefix):
                base = mounts[prefix]
                rest = [s for s in norm[len(prefix):].split("/") if s and s != "."]
                candidate = base.joinpath(*rest)
                try:
                    real = candidate.resolve(strict=True)
                except (OSError, RuntimeError):
                    return None
                if not _is_within(real, base):  # symlinks that lead outside the mount
                    return None
                return norm, real
        return None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "Server":
        """Serve in a background daemon thread (done by :func:`serve`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.2},
                                            name=f"webdnn-serve-{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` or KeyboardInterrupt."""
        self._httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<webdnn.serve.Server {self.url} root={self.root}>"


def serve(root: Path | str, port: int = 0, mounts: dict[str, Path] | None = None) -> Server:
    """Start serving ``root`` on 127.0.0.1:``port`` (0 = any free port) in a background thread.

    ``mounts`` maps URL prefixes (``"/webdnn/"``) to further directories.
    """
    return Server(root, port=port, mounts=mounts).start()


def add_model_page(srv: Server) -> bool:
    """A descriptor folder without a page of its own gets viewer.html as its index: the model's inputs
    and outputs, data to feed them, a backend to run on and the results. Returns whether it did."""
    if not (srv.root / "model.json").is_file() or (srv.root / "index.html").exists():
        return False
    page = (Path(__file__).parent / "viewer.html").read_bytes()
    for path in ("/", "/index.html"):
        srv.put_blob(path, page, "text/html; charset=utf-8")
    return True


def serve_forever(root: Path | str, port: int = 8000) -> None:
    """``webdnn serve OUT``: serve a directory and the runtime build under ``/webdnn/``."""
    from .runners import RuntimeNotBuiltError, runtime_dist

    mounts: dict[str, Path] = {}
    try:
        mounts["/webdnn/"] = runtime_dist()
    except RuntimeNotBuiltError as e:
        print(f"warning: {e}; /webdnn/ will not be served", flush=True)
    if not Path(root).is_dir():
        raise WebDNNError(f"cannot serve {str(root)!r}: not a folder")
    if not 0 <= port <= 65535:
        raise WebDNNError(f"port {port} is not a TCP port (0-65535; 0 picks a free one)")
    try:
        srv = Server(root, port=port, mounts=mounts)
    except OSError as e:
        raise WebDNNError(f"cannot listen on 127.0.0.1:{port}: {e.strerror or e} (is another server using it? "
                          f"try --port 0)") from None
    if add_model_page(srv):
        print("  a page for the model: its inputs, outputs, a backend to run on and the results", flush=True)
    print(f"Serving {srv.root} at {srv.url}", flush=True)
    if "/webdnn/" in mounts:
        print(f"  runtime: {srv.url}webdnn/webdnn.js (script tag), "
              f"{srv.url}webdnn/webdnn.mjs (module)", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
