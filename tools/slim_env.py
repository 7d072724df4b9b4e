"""Remove from installed packages what neither the served app nor the training CLI ever reads.

    python tools/slim_env.py [SITE_PACKAGES]     # default: this interpreter's site-packages

The Makefile runs it after every install of the pinned requirements (`make run`, `make test`);
it is idempotent. It

- deletes `tensorflow/include/` (~256 MB of C++ headers, read only when compiling a custom op
  against `tf.sysconfig.get_include()`; this project compiles none);
- strips the non-dynamic symbol tables (`.symtab`/`.strtab`) from TensorFlow's shared objects
  with binutils' `strip --strip-unneeded` (libtensorflow_cc.so.2: 752 -> 557 MB, ~240 MB in all).
  The dynamic symbols that the loader and the Python extensions link against stay; what is lost
  is function names in native crash backtraces. Each file is stripped to a temporary file and
  renamed over the original, so a running process keeps the copy it has mapped. A marker
  (`tensorflow/.slimmed`, holding the version) makes a second run a no-op;
- deletes the bundled test suites (`tests/`, `test/` folders) of pandas, NumPy, SciPy,
  scikit-learn and Matplotlib (~110 MB): they run only under `pytest --pyargs PACKAGE`.
  The importable helpers (`pandas._testing`, `numpy.testing`, `matplotlib.testing`) are kept.

Without `strip` on the PATH the rest is still done and a message says the libraries were left
as they are. `make test` runs the whole suite (training, inference, reports) on the slimmed
environment; `tests/unit/test_slim_env.py` checks what is removed and what is kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

MARKER = ".slimmed"
TEST_SUITES_OF = ("pandas", "numpy", "scipy", "sklearn", "matplotlib")
TEST_DIR_NAMES = {"tests", "test"}


def _tensorflow_version(site: Path) -> str | None:
    for info in site.glob("tensorflow*.dist-info"):
        name, _, rest = info.name.partition("-")
        if name in {"tensorflow", "tensorflow_cpu"}:
            return rest.removesuffix(".dist-info")
    return None


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _shared_objects(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*.so*")
        if path.is_file() and not path.is_symlink() and (path.suffix == ".so" or ".so." in path.name)
    )


def _strip_file(path: Path, strip: str) -> int:
    """Strip one shared object (temp file + rename); bytes saved, 0 if strip declined."""
    before = path.stat().st_size
    tmp = path.with_name(path.name + ".slim-tmp")
    result = subprocess.run([strip, "--strip-unneeded", "-o", str(tmp), str(path)], capture_output=True)
    if result.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        return 0
    shutil.copymode(path, tmp)
    os.replace(tmp, path)
    return before - path.stat().st_size


def slim_tensorflow(site: Path, strip: str | None) -> dict[str, int]:
    root = site / "tensorflow"
    version = _tensorflow_version(site)
    saved = {"headers": 0, "symbols": 0}
    if not root.is_dir() or version is None:
        return saved
    marker = root / MARKER
    if marker.exists() and marker.read_text().strip() == version:
        return saved
    include = root / "include"
    if include.is_dir():
        saved["headers"] = _tree_size(include)
        shutil.rmtree(include)
    if strip is None:
        print("slim_env: no `strip` (binutils): TensorFlow's shared objects left unstripped", file=sys.stderr)
        return saved  # no marker: a later run with binutils finishes the job
    for path in _shared_objects(root):
        saved["symbols"] += _strip_file(path, strip)
    marker.write_text(version + "\n")
    return saved


def test_suite_dirs(site: Path) -> list[Path]:
    found: list[Path] = []
    for package in TEST_SUITES_OF:
        root = site / package
        if not root.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(root):
            for name in [d for d in dirnames if d in TEST_DIR_NAMES]:
                found.append(Path(dirpath) / name)
                dirnames.remove(name)
    return sorted(found)


def remove_test_suites(site: Path) -> int:
    saved = 0
    for path in test_suite_dirs(site):
        saved += _tree_size(path)
        shutil.rmtree(path)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("site", nargs="?", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    args = parser.parse_args(argv)
    saved = slim_tensorflow(args.site, shutil.which("strip"))
    saved["test suites"] = remove_test_suites(args.site)
    total = sum(saved.values())
    if total:
        parts = ", ".join(f"{name} {size / 2**20:.0f} MB" for name, size in saved.items() if size)
        print(f"slim_env: removed {total / 2**20:.0f} MB ({parts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
