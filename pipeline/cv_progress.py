"""Where a cross-validation stands, read from its output folder: one state per fold, for the CLI and the Jobs page.

Why the folder and not the broker: the fold folders (on the shared volume
with `cv --backend celery`) are the truth on either backend. A fold is done
when `fold_K/fold_metrics.json` exists, and in training while its lease
`fold_K/worker.json` beats; the lease also carries the fold's last progress
line (e.g. "segmentation epoch 3/40 …", training/fit.py). So the `cv`
command that submitted the folds, `python -m training cv-status`, and the
dashboard's Jobs page (which never imports training) read the same files
with this one module and show the same states:

    done       fold_metrics.json written (Dice and AUC shown)
    training   a live lease: host:pid of the worker, stage and epoch
    lost       a lease whose heartbeat is older than LESIONLENS_LEASE_SECONDS (the CLI sends the fold again)
    stopped    the fold's folder exists, no lease, no metrics (interrupted; a re-run resumes it)
    waiting    not started
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEASE_FILE = "worker.json"
EPOCH = re.compile(r"(\w+) epoch (\d+)/(\d+)")


def stale_after() -> float:
    return float(os.environ.get("LESIONLENS_LEASE_SECONDS") or 60)


def read_lease(fold_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((fold_dir / LEASE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_live(info: dict[str, Any] | None, now: float | None = None) -> bool:
    """A lease whose holder still beats (and, on this host, still runs)."""
    if not info:
        return False
    now = time.time() if now is None else now
    if now - float(info.get("beat", 0)) > stale_after():
        return False
    if info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", 0))):
        return False
    return True


@dataclass(frozen=True)
class FoldState:
    fold: int
    state: str  # done | training | lost | stopped | waiting
    detail: str = ""  # the lease's last progress line, or Dice/AUC when done
    worker: str | None = None  # host:pid holding the lease
    stage: str | None = None
    epoch: int | None = None
    epochs: int | None = None

    @property
    def line(self) -> str:
        """One line, as the CLI prints it and the Jobs page shows it."""
        where = f" on {self.worker}" if self.worker else ""
        epoch = f" · {self.stage} epoch {self.epoch}/{self.epochs}" if self.epoch is not None else ""
        detail = f" · {self.detail}" if self.detail and self.epoch is None else ""
        return f"fold {self.fold}: {self.state}{where}{epoch}{detail}"


@dataclass(frozen=True)
class CvProgress:
    out: Path
    folds: tuple[FoldState, ...]
    summarised: bool  # cv_summary.json lists every fold
    updated: float  # newest change in the folder (seconds since the epoch)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for fold in self.folds:
            out[fold.state] = out.get(fold.state, 0) + 1
        return out

    @property
    def headline(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        return f"{self.out}: {len(self.folds)} folds ({counts})" + (" · summary written" if self.summarised else "")

    def lines(self) -> list[str]:
        return [self.headline, *(f"  {fold.line}" for fold in self.folds)]


def _fold_state(fold_dir: Path, k: int, now: float) -> FoldState:
    metrics = fold_dir / "fold_metrics.json"
    if metrics.exists():
        try:
            data = json.loads(metrics.read_text())
            dice = (data.get("segmentation") or {}).get("dice")
            auc = (data.get("classification") or {}).get("auc")
            detail = " ".join(f"{name} {value:.3f}" for name, value in (("Dice", dice), ("AUC", auc))
                              if isinstance(value, (int, float)))
        except (OSError, ValueError, AttributeError):
            detail = ""
        return FoldState(k, "done", detail)
    lease = read_lease(fold_dir)
    if lease is not None:
        status = str(lease.get("status") or "")
        match = EPOCH.search(status)
        worker = f"{lease.get('host')}:{lease.get('pid')}"
        state = "training" if is_live(lease, now) else "lost"
        if match:
            return FoldState(k, state, status, worker, match.group(1), int(match.group(2)), int(match.group(3)))
        return FoldState(k, state, status, worker)
    return FoldState(k, "stopped" if fold_dir.exists() else "waiting")


def cv_progress(out: Path, now: float | None = None) -> CvProgress | None:
    """The folds of the CV in `out` (None when `out` holds no folds.json: not a CV folder)."""
    out = Path(out)
    try:
        assignment = json.loads((out / "folds.json").read_text())
    except (OSError, ValueError):
        return None
    now = time.time() if now is None else now
    ks = sorted({int(k) for k in assignment.values()}) if isinstance(assignment, dict) else []
    folds = tuple(_fold_state(out / f"fold_{k}", k, now) for k in ks)
    try:
        summary = json.loads((out / "cv_summary.json").read_text())
        summarised = sorted(summary.get("folds_done") or []) == ks
    except (OSError, ValueError, AttributeError):
        summarised = False
    stamps = [p.stat().st_mtime for p in (out / "folds.json", *(out / f"fold_{k}" / name for k in ks
                                                               for name in (LEASE_FILE, "fold_metrics.json")))
              if p.exists()]
    return CvProgress(out, folds, summarised, max(stamps, default=0.0))


def cv_runs(roots: tuple[Path, ...], limit: int = 5) -> list[CvProgress]:
    """CV folders directly under `roots` (and `tune`'s trial_NNN folders inside them), most recently changed first."""
    found = []
    for root in roots:
        for folds_json in [*Path(root).glob("*/folds.json"), *Path(root).glob("*/trial_*/folds.json")]:
            progress = cv_progress(folds_json.parent)
            if progress is not None:
                found.append(progress)
    return sorted(found, key=lambda p: p.updated, reverse=True)[:limit]
