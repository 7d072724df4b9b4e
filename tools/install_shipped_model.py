"""Copy the model shipped with the repository (`shipped/<name>/`) into the models folder `make run` serves.

Why a copy: `models/` is the operator's folder (git-ignored; bundles they train land there), while the
shipped bundle is versioned with the code. A copy made here carries a marker file, so a later `make run`
refreshes it when the repository ships a new bundle, but never overwrites a bundle of the same name that
someone trained themselves (it says so and keeps it).

    python tools/install_shipped_model.py [--name busbra] [--models models]
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MARKER = ".shipped-copy"


def install(source: Path, target: Path) -> str:
    """Install or refresh `target` from `source`; returns what was done (one line for the console)."""
    if not (source / "bundle.json").is_file():
        raise SystemExit(f"no shipped bundle at {source} (bundle.json missing): is the checkout complete?")
    if target.exists():
        if not (target / MARKER).exists():
            return f"kept {target}: it is not a copy of the shipped bundle (trained here?); remove it to get the shipped one"
        if filecmp.cmp(source / "bundle.json", target / "bundle.json", shallow=False):
            return f"{target} is the shipped bundle already"
    staging = target.with_name(f".{target.name}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    (staging / MARKER).write_text(
        f"copied from {source.relative_to(REPO) if source.is_relative_to(REPO) else source}\n"
    )
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return f"installed the shipped bundle {source.name} into {target}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="busbra")
    parser.add_argument("--shipped", type=Path, default=REPO / "shipped")
    parser.add_argument("--models", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    args.models.mkdir(parents=True, exist_ok=True)
    print("==> " + install(args.shipped / args.name, args.models / args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
