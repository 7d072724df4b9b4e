"""Decode and de-identify an upload within a per-file time limit, away from the web worker.

`prepare_upload` is the work: `load_image` (size and pixel limits from the
header, content sniffing: file names are never used), then for DICOM
`deidentify_bytes` with the case's pseudonymous id, the stored metadata read
back from the *de-identified* header (so whatever the profile removed can
never reach the store), and a content key computed from the pixels instead
of the identifying original file.

`Sandbox` runs it with a wall-clock limit. In "process" isolation (the
deployment default) each web worker keeps a few spawned child processes
(fresh interpreters: nothing inherited from a worker that may have loaded
TensorFlow) with an address-space limit; a file that runs past the limit has
its child killed and replaced, so a decoder stuck in native code, or one
that allocates without bound, costs that one file and never the worker or
the requests it serves. "thread" isolation (tests, embedding) runs the same
function in a thread: the caller still gets its answer in time, but a
runaway decode cannot be stopped.

This module imports only the standard library at the top, so a child starts
quickly and loads pipeline.io/pydicom once, before its first file.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.errors import ImageLoadError

log = logging.getLogger(__name__)

DEFAULT_TARGET = "dashboard.sandbox:prepare_upload"
STARTUP_TIMEOUT_S = 60.0  # a fresh child imports numpy, Pillow and pydicom (seconds on a busy machine)


class FileTimeLimit(ImageLoadError):
    """A file took longer than the per-file time limit."""


def time_limit_message(limit_s: float, stage: str = "reading") -> str:
    return (f"{stage} this file took longer than the {limit_s:g} s limit per file and was stopped; "
            "the other files and the server are unaffected")


# --------------------------------------------------------------------------- the work
@dataclass
class PreparedUpload:
    """A decoded upload ready for the store: the record and the files to keep beside it."""

    record: Any  # pipeline.types.ImageRecord
    files: dict[str, bytes] = field(default_factory=dict)


def prepare_upload(data: bytes, *, max_bytes: int, pseudonym: str, salt: bytes,
                   keep_original: bool = False, max_side: int | None = None) -> PreparedUpload:
    """Decode `data`; de-identify a DICOM with `pseudonym`; shrink to `max_side` (store/downsample.py).

    Raises ImageLoadError with a readable message."""
    import numpy as np

    from dashboard.store.downsample import DEFAULT_MAX_SIDE, downsample
    from dashboard.store.files import ORIGINAL, SOURCE_DICOM, npy_bytes
    from pipeline.deid import deidentify_bytes
    from pipeline.io import Limits, load_image
    from pipeline.io.dicom_header import read_dataset
    from pipeline.io.limits import UPLOAD_MIN_SIDE, check_dimensions, check_not_blank
    from pipeline.io.dicom_meta import metadata
    from pipeline.io.sniff import DICOM

    limits = Limits(max_bytes=max_bytes)
    record = load_image(bytes(data), limits=limits)
    # Checked once decoded (a damaged small file keeps its own message): a 1 x 1 or 20 x 500 image and a
    # blank one would otherwise be "analysed" and get a meaningless P(malignant).
    check_dimensions(record.shape[1], record.shape[0], Limits(min_side=UPLOAD_MIN_SIDE))
    check_not_blank(record.pixels)
    downsample(record, max_side or DEFAULT_MAX_SIDE)  # here, in the child: only small arrays reach the worker
    files: dict[str, bytes] = {}
    if record.source_format == DICOM:
        clean = deidentify_bytes(bytes(data), pseudonym=pseudonym, salt=salt, limits=limits)
        fields = metadata(read_dataset(clean))  # allow-listed fields of the de-identified header only
        if "frame" in record.metadata:
            fields["frame"] = record.metadata["frame"]
        record.metadata = {**fields, **({"downsampled_from": record.metadata["downsampled_from"]}
                                        if "downsampled_from" in record.metadata else {})}
        # The original file's hash would link the case to the identifying file; the pixels' does not,
        # and the same image uploaded twice still meets its cached prediction.
        record.sha256 = hashlib.sha256(npy_bytes(np.asarray(record.pixels, dtype=np.float32))).hexdigest()
        files[SOURCE_DICOM] = clean
    if keep_original:
        files[ORIGINAL] = bytes(data)
    return PreparedUpload(record, files)


def _resolve(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


# --------------------------------------------------------------------------- child processes
def _child_main(conn, target: str, memory_mb: int) -> None:
    """Loop of a decoding child: receive (args, kwargs), send ("ok", result) or ("error", message)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    function = _resolve(target)
    if memory_mb > 0:
        try:
            import resource

            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    conn.send(("ready", os.getpid()))
    while True:
        try:
            args, kwargs = conn.recv()
        except (EOFError, OSError):  # the worker went away: so do we
            return
        try:
            reply = ("ok", function(*args, **kwargs))
        except ImageLoadError as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("error", "image is too large to load in the available memory")
        except Exception as exc:  # noqa: BLE001 - a programming error: report the type only
            reply = ("failed", type(exc).__name__)
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("error", "image is too large to load in the available memory"))


class _Child:
    def __init__(self, context, target: str, memory_mb: int) -> None:
        parent, child = context.Pipe()
        self.process = context.Process(target=_child_main, args=(child, target, memory_mb), daemon=True,
                                       name="lesionlens-decode")
        self.process.start()
        child.close()
        self.conn = parent
        if not self.conn.poll(STARTUP_TIMEOUT_S):
            self.kill()
            raise RuntimeError("decoding process did not start")
        self.conn.recv()

    def alive(self) -> bool:
        return self.process.is_alive()

    def call(self, args: tuple, kwargs: dict, timeout_s: float):
        self.conn.send((args, kwargs))
        if not self.conn.poll(timeout_s):
            raise TimeoutError
        return self.conn.recv()

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(5)
        except Exception:  # noqa: BLE001 - already gone
            pass
        try:
            self.conn.close()
        except OSError:
            pass


class Sandbox:
    """Run `target(*args, **kwargs)` within `time_limit_s`, in a child process or a thread."""

    def __init__(self, time_limit_s: float, isolation: str = "process", processes: int = 2,
                 memory_mb: int = 4096, target: str = DEFAULT_TARGET) -> None:
        if isolation not in ("process", "thread"):
            raise ValueError(f"isolation must be 'process' or 'thread', got {isolation!r}")
        self.time_limit_s = float(time_limit_s)
        self.isolation = isolation
        self.memory_mb = memory_mb
        self.target = target
        self._slots = threading.BoundedSemaphore(max(1, processes))
        self._idle: queue.LifoQueue[_Child] = queue.LifoQueue()
        self._pid = os.getpid()
        self.killed = 0  # children killed for running past the limit (for tests and /healthz)

    def run(self, *args, stage: str = "reading", **kwargs):
        if self.isolation == "thread":
            return self._run_in_thread(args, kwargs, stage)
        return self._run_in_process(args, kwargs, stage)

    # -- thread
    def _run_in_thread(self, args, kwargs, stage):
        box: dict[str, Any] = {}

        def work():
            try:
                box["value"] = _resolve(self.target)(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                box["error"] = exc

        thread = threading.Thread(target=work, daemon=True, name="lesionlens-decode")
        thread.start()
        thread.join(self.time_limit_s)
        if thread.is_alive():
            log.warning("upload %s exceeded %.3g s (thread left to finish)", stage, self.time_limit_s)
            raise FileTimeLimit(time_limit_message(self.time_limit_s, stage))
        if "error" in box:
            raise box["error"]
        return box["value"]

    # -- process
    def _checkout(self) -> _Child:
        if self._pid != os.getpid():  # inherited through a fork: start afresh
            self._idle = queue.LifoQueue()
            self._pid = os.getpid()
        while True:
            try:
                child = self._idle.get_nowait()
            except queue.Empty:
                import multiprocessing

                return _Child(multiprocessing.get_context("spawn"), self.target, self.memory_mb)
            if child.alive():
                return child
            child.kill()

    def _run_in_process(self, args, kwargs, stage):
        if not self._slots.acquire(timeout=max(30.0, 2 * self.time_limit_s)):
            raise FileTimeLimit("the server is busy reading other files; please try again in a minute")
        child = None
        try:
            child = self._checkout()
            started = time.perf_counter()
            try:
                status, value = child.call(args, kwargs, self.time_limit_s)
            except TimeoutError:
                self.killed += 1
                log.warning("upload %s exceeded %.3g s: decoding process %d killed", stage, self.time_limit_s,
                            child.process.pid)
                child.kill()
                child = None
                raise FileTimeLimit(time_limit_message(self.time_limit_s, stage)) from None
            except (EOFError, OSError, BrokenPipeError):
                log.warning("decoding process %d died after %.1f s (exit code %s)", child.process.pid,
                            time.perf_counter() - started, child.process.exitcode)
                child.kill()
                child = None
                raise ImageLoadError("the file stopped the image decoder (it is damaged or hostile); "
                                     "the server is unaffected") from None
            if status == "ok":
                return value
            if status == "error":
                raise ImageLoadError(value)
            raise RuntimeError(f"upload preparation failed with {value}")
        finally:
            if child is not None:
                self._idle.put(child)
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return
