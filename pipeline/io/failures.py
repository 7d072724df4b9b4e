"""Which exceptions a decoder may turn into `ImageLoadError`, and which it must not.

Native decoders do not limit themselves to `Exception`: pylibjpeg-rle is
written in Rust, and a Rust panic on damaged data surfaces in Python as
`pyo3_runtime.PanicException`, a `BaseException`. Such failures are about the
file, so they are caught too; only the signals that control the process
(Ctrl-C, exit, generator close, task cancellation) are let through.
"""

from __future__ import annotations

import asyncio

CONTROL_FLOW: tuple[type[BaseException], ...] = (
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    asyncio.CancelledError,
)

# Resource exhaustion keeps its own, more useful message in `loader`.
PASS_THROUGH: tuple[type[BaseException], ...] = (*CONTROL_FLOW, MemoryError, RecursionError)
