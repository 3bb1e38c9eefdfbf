"""NodeRunner: one long-lived `node` process running node_driver.mjs.

Requests and replies are JSON lines on the process's stdin/stdout; tensors travel as raw bytes
in files of a private temporary directory. stdout and stderr are drained by threads, so a
chatty runtime can never fill a pipe and stall the process.
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np

from . import shaped, TYPED_ARRAYS, Runner, RuntimeRunError, runtime_dist

DRIVER = Path(__file__).with_name("node_driver.mjs")
TAG = b"\x01webdnn "
_EOF = object()


def _find_node(node: str) -> str:
    exe = shutil.which(node)
    if exe is None:
        raise FileNotFoundError(f"cannot find the `{node}` executable (Node.js >= 18 is needed "
                                f"to run descriptors from Python; e.g. `apt-get install nodejs`)")
    return exe


def _shutdown(proc: subprocess.Popen | None, tmp: tempfile.TemporaryDirectory | None):
    if proc is not None and proc.poll() is None:
        try:
            proc.stdin.close()
            proc.wait(timeout=2)
        except Exception:
            proc.kill()
            try:
                proc.wait(timeout=2)
            except Exception:
                pass
    if tmp is not None:
        tmp.cleanup()


class NodeRunner(Runner):
    """Runs descriptors with the runtime's ES module build in one `node` process.

    ``node``: the executable; ``runtime``: a directory holding webdnn.mjs (default:
    :func:`runtime_dist`); ``timeout``: seconds to wait for one request; ``cache_size``: how
    many loaded descriptors the process keeps.  If the process dies, the next call starts a new
    one.
    """

    name = "node"

    def __init__(self, node: str = "node", runtime: Path | str | None = None,
                 timeout: float = 300.0, cache_size: int = 8, env: dict | None = None):
        super().__init__()
        self._exe = _find_node(node)
        dist = Path(runtime) if runtime is not None else runtime_dist(("webdnn.mjs",))
        self._module = dist / "webdnn.mjs" if dist.is_dir() else dist
        if not self._module.is_file():
            raise FileNotFoundError(f"runtime module {self._module} does not exist")
        self.timeout = float(timeout)
        self._cache_size = int(cache_size)
        self._env = env
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._tmp = tempfile.TemporaryDirectory(prefix="webdnn-node-")
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.stdout_noise: collections.deque[str] = collections.deque(maxlen=200)
        self.node_version: str | None = None
        self._finalizer = None
        self._start()

    # -- process management --------------------------------------------------------------------

    def _start(self):
        env = dict(os.environ if self._env is None else self._env)
        self._proc = subprocess.Popen(
            [self._exe, str(DRIVER), str(self._module), str(self._cache_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=self._tmp.name)
        self._replies = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(self._proc, self._replies),
                         name="webdnn-node-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self._proc,),
                         name="webdnn-node-stderr", daemon=True).start()
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _shutdown, self._proc, None)
        ready = self._wait(0, self._replies, self._proc)
        self.node_version = ready.get("node")

    def _read_stdout(self, proc, replies):
        for line in proc.stdout:
            # text the runtime printed without a newline may precede a reply on its line
            at = line.find(TAG)
            if at >= 0:
                try:
                    replies.put(json.loads(line[at + len(TAG):]))
                    line = line[:at]
                except ValueError:
                    pass
            if line.strip():
                self.stdout_noise.append(line.decode("utf-8", "replace").rstrip("\n"))
        replies.put(_EOF)

    def _read_stderr(self, proc):
        for line in proc.stderr:
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self) -> int | None:
        """The node process id (stays the same across runs while the process lives)."""
        return self._proc.pid if self._proc is not None else None

    def _logs(self) -> list[str]:
        return list(self.stderr_tail)[-40:]

    def _wait(self, req_id: int, replies: queue.Queue, proc: subprocess.Popen) -> dict:
        while True:
            try:
                msg = replies.get(timeout=self.timeout)
            except queue.Empty:
                proc.kill()
                raise RuntimeRunError(f"node did not answer within {self.timeout:g} s "
                                      f"(the process was killed)", logs=self._logs()) from None
            if msg is _EOF:
                try:
                    code = proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = None
                raise RuntimeRunError(f"the node process exited (code {code}) while handling "
                                      f"a request", logs=self._logs())
            if msg.get("id") == req_id:
                break
            if msg.get("id") == -1 and not msg.get("ok"):
                break
        if not msg.get("ok"):
            raise RuntimeRunError(msg.get("error") or "unknown JavaScript error",
                                  js_stack=msg.get("stack"), logs=self._logs()[-10:])
        return msg

    def _call(self, request: dict) -> dict:
        with self._lock:
            self._check_open()
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            req_id = next(self._ids)
            request = {"id": req_id, **request}
            proc, replies = self._proc, self._replies
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass  # the reader reports the exit with the process's stderr
            return self._wait(req_id, replies, proc)

    # -- Runner ------------------------------------------------------------------------------

    def _load(self, descriptor_dir, stamp, backends):
        reply = self._call({"cmd": "load", "dir": str(descriptor_dir), "stamp": stamp,
                            "backends": backends})
        reply.pop("id", None)
        reply.pop("ok", None)
        return reply

    def _run(self, descriptor_dir, stamp, backends, inputs, repeat=1, warmup=0, profile=0):
        with self._lock:
            req_id = next(self._ids)
            tmp = Path(self._tmp.name)
            files = []
            try:
                specs = []
                for i, (name, arr, typed, shape) in enumerate(inputs):
                    f = tmp / f"in_{req_id}_{i}.bin"
                    arr.tofile(f)
                    files.append(f)
                    specs.append({"name": name, "file": str(f), "type": typed, "shape": shape})
                reply = self._call({
                    "cmd": "run" if repeat == 1 else "bench", "dir": str(descriptor_dir),
                    "stamp": stamp, "backends": backends, "inputs": specs,
                    "outPrefix": str(tmp / f"out_{req_id}_"), "repeat": repeat,
                    "warmup": warmup, "profile": profile})
                outputs = {}
                for o in reply["outputs"]:
                    f = Path(o["file"])
                    files.append(f)
                    dtype = TYPED_ARRAYS.get(o["type"])
                    if dtype is None:
                        raise RuntimeRunError(f"output {o['name']!r} came back as an unsupported "
                                              f"{o['type']}")
                    outputs[o["name"]] = shaped(np.fromfile(f, dtype=dtype), o.get("shape"))
            finally:
                for f in files:
                    try:
                        f.unlink()
                    except OSError:
                        pass
        return {"outputs": outputs, "ms": reply.get("ms", []), "loadMs": reply.get("loadMs"),
                "backendName": reply.get("backendName"), "backendInfo": reply.get("backendInfo"),
                "profile": reply.get("profile")}

    def forget(self, descriptor_dir: Path | str | None = None) -> None:
        """Drop cached loaded descriptors (one directory, or all)."""
        d = None if descriptor_dir is None else str(Path(descriptor_dir).resolve())
        self._call({"cmd": "forget", "dir": d})

    def close(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._closed = True
            if self._finalizer is not None:
                self._finalizer.detach()
            _shutdown(self._proc, self._tmp)

    def __repr__(self):
        state = "closed" if self._closed else f"pid={self.pid}"
        return f"<NodeRunner {state} runtime={self._module}>"
