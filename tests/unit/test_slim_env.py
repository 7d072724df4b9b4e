"""tools/slim_env.py on a fake site-packages: what it removes, what it keeps, idempotence."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import slim_env  # noqa: E402


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    (site / "tensorflow_cpu-2.21.0.dist-info").mkdir(parents=True)
    (site / "tensorflow" / "include" / "tensorflow").mkdir(parents=True)
    (site / "tensorflow" / "include" / "tensorflow" / "op.h").write_text("// header\n" * 100)
    (site / "tensorflow" / "python").mkdir()
    (site / "tensorflow" / "python" / "__init__.py").write_text("")
    for folder in (
        "pandas/tests/io",
        "pandas/_testing",
        "numpy/_core/tests",
        "numpy/testing",
        "scipy/stats/tests",
        "keras/src/testing",
        "pydicom/data/test_files",
    ):
        (site / folder).mkdir(parents=True)
        (site / folder / "x.py").write_text("x = 1\n")
    return site


def test_removes_headers_and_test_suites_only(tmp_path):
    site = _site(tmp_path)
    slim_env.slim_tensorflow(site, strip=None)
    removed = slim_env.remove_test_suites(site)
    assert removed > 0
    assert not (site / "tensorflow" / "include").exists()
    assert (site / "tensorflow" / "python" / "__init__.py").exists()
    assert not (site / "pandas" / "tests").exists() and not (site / "numpy" / "_core" / "tests").exists()
    assert not (site / "scipy" / "stats" / "tests").exists()
    # importable test helpers and other packages' data stay
    for kept in ("pandas/_testing", "numpy/testing", "keras/src/testing", "pydicom/data/test_files"):
        assert (site / kept / "x.py").exists(), kept
    # without strip, no marker: a later run with binutils still strips
    assert not (site / "tensorflow" / slim_env.MARKER).exists()


@pytest.mark.skipif(shutil.which("strip") is None, reason="binutils strip not installed")
def test_strips_shared_objects_once(tmp_path):
    site = _site(tmp_path)
    library = site / "tensorflow" / "libdemo.so.2"
    shutil.copy(Path(sys.executable).resolve(), library)  # any ELF file with a symbol table will do
    slim_env.slim_tensorflow(site, shutil.which("strip"))
    assert (site / "tensorflow" / slim_env.MARKER).read_text().strip() == "2.21.0"
    stamp = library.stat().st_mtime_ns
    assert slim_env.slim_tensorflow(site, shutil.which("strip")) == {"headers": 0, "symbols": 0}
    assert library.stat().st_mtime_ns == stamp


def test_no_tensorflow_is_a_no_op(tmp_path):
    assert slim_env.slim_tensorflow(tmp_path, shutil.which("strip")) == {"headers": 0, "symbols": 0}
    assert slim_env.remove_test_suites(tmp_path) == 0
