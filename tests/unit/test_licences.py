"""Licence gate (issue 16.3): no GPL or AGPL distribution among the pinned requirements.

Reads the installed distributions' own metadata (License-Expression, License, classifiers,
licence file) through `tools/licences.py`, the same code that writes the README's table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipeline.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import licences  # noqa: E402

RUNTIME = REPO_ROOT / "requirements.txt"
DEV = REPO_ROOT / "requirements-dev.txt"


@pytest.mark.parametrize(
    ("terms", "expression", "gpl"),
    [
        (("GPL V3.0",), False, True),  # pylibjpeg-libjpeg 2.5.0's License field
        (("GPL-3.0-only",), True, True),
        (("AGPL-3.0-or-later",), True, True),
        (("GNU General Public License v3 (GPLv3)",), False, True),
        (("GNU Affero General Public License v3",), False, True),
        (("MIT", "GNU General Public License v2 (GPLv2)"), False, True),  # any GPL classifier counts
        (("MIT AND GPL-2.0-only",), True, True),
        (("LGPL with exceptions",), False, False),  # psycopg2-binary: LGPL is accepted
        (("GNU Library or Lesser General Public License (LGPL)",), False, False),
        (("LGPL-2.1-or-later",), True, False),
        (("MIT OR GPL-2.0-only",), True, False),  # a choice: MIT
        (("GPL-3.0-or-later WITH GCC-exception-3.1",), True, False),  # runtime-library exception
        (("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0",), True, False),
        (("Apache Software License",), False, False),
    ],
)
def test_policy_on_licence_strings(terms, expression, gpl):
    assert licences.is_gpl(terms, expression=expression) is gpl


def test_no_pinned_distribution_is_gpl_or_agpl_or_unreadable():
    rows, pinned, missing = licences.licences([RUNTIME, DEV])
    assert not missing, f"pinned but not installed (run make install-dev): {missing}"
    offenders = [f"{r.name} {r.version}: {r.licence} ({r.source})" for r in rows if r.gpl or not r.readable]
    assert not offenders, offenders
    assert {"tensorflow-cpu", "python-gdcm", "pydicom"} <= set(pinned)
    assert "pylibjpeg-libjpeg" not in pinned


def test_readme_licence_table_is_the_generated_one():
    readme = (REPO_ROOT / "README.md").read_text()
    assert licences.START in readme and licences.END in readme
    body = readme[readme.index(licences.START) + len(licences.START) : readme.index(licences.END)].strip()
    rows, pinned, _ = licences.licences([RUNTIME])
    generated = licences.table(rows, pinned).splitlines()
    in_readme = body.splitlines()
    assert [line.split("|")[1].strip() for line in in_readme[2:]] == [
        line.split("|")[1].strip() for line in generated[2:]
    ]
    # a row can only be compared where the installed version is the pinned one (a developer's
    # older venv may differ until `make install-dev`): those rows must match exactly
    exact = {r.name for r in rows if r.version == pinned[licences.canonicalize_name(r.name)]}
    for mine, theirs in zip(in_readme[2:], generated[2:]):
        if mine.split("|")[1].strip() in exact:
            assert mine == theirs, "README licence table is stale: python tools/licences.py --readme README.md"


def test_pins_follow_markers(tmp_path: Path):
    path = tmp_path / "r.txt"
    path.write_text(
        "a==1.0 \\\n    --hash=sha256:00\n"
        "b[extra]==2.0 ; sys_platform == 'win32'\n"
        "C_D==3.0 ; python_version >= '3.0'\n"
        "# e==4.0\n"
    )
    assert licences.pins(path) == {"a": "1.0", "c-d": "3.0"}
