"""C → wasm with the `ziglang` package (clang + wasm-ld, no emscripten).

The kernel library (csrc/*.c) is compiled once into objects cached under a key made of its
sources, the flags and the compiler version; each model compiles only its own small C file and
links it against those objects."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from ...errors import ConversionError

CSRC = Path(__file__).with_name("csrc")
LIBRARY = ("runtime.c", "gemm.c", "ops.c", "indexmap.c", "indexing.c", "recurrent.c", "qgemm.c")
CFLAGS = ["--target=wasm32-freestanding", "-O3", "-msimd128", "-matomics", "-mbulk-memory",
          "-mnontrapping-fptoint", "-mmutable-globals", "-nostdlib", "-ffp-contract=off",
          "-fno-math-errno", "-Wall", "-Wno-unused-function"]
# the GEMM's cache blocking: one definition, given to the C as -D flags and to the planner as the
# per-thread scratch a GEMM needs (a packed B block [KC][NC] and an A panel [KC][4], floats)
GEMM_KC, GEMM_NC = 256, 128
GEMM_SCRATCH = (GEMM_KC * GEMM_NC + 4 * GEMM_KC) * 4 + 64
CFLAGS += [f"-DWD_KC={GEMM_KC}", f"-DWD_NC={GEMM_NC}"]
STACK_BYTES = 256 << 10       # thread 0's stack (the linker's); helper threads get theirs in the plan
INITIAL_BYTES = 2 << 20       # stack + static data, at least; more when the model's static tables need it
_lock = threading.Lock()


def cache_dir() -> Path:
    root = os.environ.get("WEBDNN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "webdnn")
    return Path(root) / "wasm"


def _zig(*args, what: str) -> None:
    cmd = [sys.executable, "-m", "ziglang", *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:  # pragma: no cover - python itself missing
        raise ConversionError(f"wasm backend: cannot run {cmd[0]}: {e}") from None
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip()
        if "No module named ziglang" in msg:
            raise ConversionError("the wasm backend compiles C with the `ziglang` package: pip install ziglang "
                                  "(it is a dependency of webdnn)")
        raise ConversionError(f"wasm backend: {what} failed:\n{msg[-4000:]}")


def compiler_version() -> str:
    try:
        from importlib.metadata import version
        return version("ziglang")
    except Exception:  # pragma: no cover
        return "unknown"


def cflags(relaxed: bool = False) -> list[str]:
    """The compiler flags; `relaxed` adds relaxed SIMD (the kernels then use fused multiply-add)."""
    return CFLAGS + (["-mrelaxed-simd"] if relaxed else [])


def library_objects(relaxed: bool = False) -> list[Path]:
    """The kernel library's objects, compiled on first use and cached by content hash."""
    flags = cflags(relaxed)
    h = hashlib.sha256()
    for name in [*sorted(p.name for p in CSRC.glob("*.h")), *LIBRARY]:
        h.update(name.encode() + b"\0" + (CSRC / name).read_bytes())
    h.update(" ".join(flags).encode() + compiler_version().encode())
    d = cache_dir() / f"lib-{h.hexdigest()[:16]}"
    objs = [d / (Path(n).stem + ".o") for n in LIBRARY]
    with _lock:
        if all(o.is_file() for o in objs):
            return objs
        d.mkdir(parents=True, exist_ok=True)
        for src, obj in zip(LIBRARY, objs):
            tmp = obj.with_suffix(f".{os.getpid()}.tmp")
            _zig("cc", *flags, "-c", str(CSRC / src), "-o", str(tmp), what=f"compiling {src}")
            os.replace(tmp, obj)  # atomic: a concurrent build never sees half an object
    return objs


def build(model_c: str, dynamic_bytes: int, keep: Path | None = None, relaxed: bool = False) -> tuple[bytes, int]:
    """Compile the model's C, link it with the library; returns the .wasm bytes and the initial memory
    (stack + static data, whole pages). The maximum memory is that plus `dynamic_bytes`."""
    objs = library_objects(relaxed)
    with tempfile.TemporaryDirectory(prefix="webdnn-wasm-") as tmp:
        t = Path(tmp)
        (t / "model.c").write_text(model_c)
        if keep is not None:
            keep.write_text(model_c)
        _zig("cc", *cflags(relaxed), f"-I{CSRC}", "-c", str(t / "model.c"), "-o", str(t / "model.o"),
             what="compiling the model's C")
        initial = INITIAL_BYTES
        for _ in range(2):
            try:
                _link(t, objs, initial, initial + dynamic_bytes)
                break
            except ConversionError as e:
                # static tables beyond the default: the linker says how much it needs; link again with that
                need = re.search(r"initial memory too small, (\d+) bytes needed", str(e))
                if not need or int(need.group(1)) <= initial:
                    raise
                initial = -(-int(need.group(1)) // 65536) * 65536
        return (t / "model.wasm").read_bytes(), initial


def _link(t: Path, objs, initial: int, max_bytes: int) -> None:
    max_pages = -(-max_bytes // 65536)
    if max_pages > 65536:
        raise ConversionError(f"wasm backend: the model needs {max_bytes / 2**30:.2f} GiB of memory with the "
                              f"maximum thread count; wasm32 memories hold at most 4 GiB")
    _zig("wasm-ld", "--no-entry", "--import-memory", "--shared-memory", f"--max-memory={max_pages * 65536}",
         f"--initial-memory={initial}", "-z", f"stack-size={STACK_BYTES}", "--stack-first", "--gc-sections",
         "--strip-all", str(t / "model.o"), *map(str, objs), "-o", str(t / "model.wasm"), what="linking")
