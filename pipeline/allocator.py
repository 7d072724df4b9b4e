"""Run TensorFlow training processes on jemalloc when the machine has it.

Why: TensorFlow 2.21's tf.data generator op (used by Keras `PyDataset`) sets
glibc's `M_TRIM_THRESHOLD` to 128 kB ("Memory patch applied" in the log), so
every training step hands its activation buffers back to the kernel and faults
them in again. Measured here on a 160 x 160 U-Net step (`bench/bench_allocator.py`,
320 images): glibc 3.9 images/s, 19.8 million minor page faults, 73 s of the
145 s CPU time in the kernel; jemalloc with purging disabled 8.5 images/s,
21 thousand faults, 1 s in the kernel. glibc's own `MALLOC_*` variables cannot undo it because
TensorFlow calls `mallopt()` itself, so the fix is a different allocator,
which has to be preloaded before the interpreter starts: hence a re-exec.

Set `LESIONLENS_JEMALLOC=0` to opt out; nothing changes where the library
is absent (the code then runs on glibc, only slower).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

JEMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
)
# Never give pages back to the kernel: training re-uses the same buffer sizes every step.
MALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1,retain:true"


def find_jemalloc(candidates: Sequence[str] = JEMALLOC_CANDIDATES) -> str | None:
    return next((path for path in candidates if Path(path).is_file()), None)


def jemalloc_environment(environ: Mapping[str, str], library: str | None) -> dict[str, str] | None:
    """The environment to re-exec with, or None when no re-exec is wanted."""
    if library is None or environ.get("LESIONLENS_JEMALLOC", "1") == "0":
        return None
    if "jemalloc" in environ.get("LD_PRELOAD", ""):
        return None  # already running on it (or the caller chose it)
    env = dict(environ)
    env["LD_PRELOAD"] = ":".join(p for p in (library, environ.get("LD_PRELOAD", "")) if p)
    env.setdefault("MALLOC_CONF", MALLOC_CONF)
    return env


def reexec_on_jemalloc(module: str, argv: Sequence[str]) -> None:
    """Replace this process by `python -m module argv...` preloaded with jemalloc.

    Returns normally (doing nothing) when jemalloc is missing, disabled or
    already loaded. Call it first thing, before TensorFlow is imported.
    """
    env = jemalloc_environment(os.environ, find_jemalloc())
    if env is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
