"""Risk-coverage: does the reported uncertainty separate right answers from wrong ones?

Sort the cases from most to least certain, keep the `k` most certain, and
report the error rate among them (the risk) at every coverage k/n. If the
uncertainty means something, the risk rises with coverage: the cases the model
is sure about are right more often. The area under the curve (AURC) is compared
with a random ordering (whose expected risk is the overall error rate at every
coverage) and with the oracle ordering (all errors last). Ties in uncertainty
are handled exactly: within a group of equal values the expected risk of a
random order inside the group is used, so a constant uncertainty gives the
random curve, not an artefact of the sort order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RiskCoverage:
    coverage: np.ndarray  # k / n, k = 1..n
    risk: np.ndarray  # error rate among the k most certain cases
    uncertainty: np.ndarray  # the k-th case's uncertainty (the threshold that keeps k cases)
    aurc: float  # mean risk over coverage (lower is better)
    random_aurc: float  # expected AURC of a random ordering = the overall error rate
    oracle_aurc: float  # AURC if every error were the least certain case
    error_auc: float  # P(an error is more uncertain than a correct answer); 0.5 = uninformative
    n: int
    errors: int

    @property
    def gain(self) -> float:
        """Fraction of the possible improvement over random that the uncertainty achieves (1 = oracle)."""
        span = self.random_aurc - self.oracle_aurc
        return float((self.random_aurc - self.aurc) / span) if span > 0 else float("nan")

    def risk_at(self, coverage: float) -> float:
        """Error rate of the most certain `coverage` fraction of the cases."""
        k = int(np.clip(np.ceil(coverage * self.n), 1, self.n))
        return float(self.risk[k - 1])

    def to_dict(self, points: int = 101) -> dict[str, Any]:
        """JSON-ready summary with the curve resampled at `points` coverages."""
        grid = np.linspace(1.0 / self.n, 1.0, min(points, self.n))
        idx = np.clip(np.ceil(grid * self.n).astype(int), 1, self.n) - 1
        return {
            "n": self.n, "errors": self.errors, "aurc": round(self.aurc, 4), "random_aurc": round(self.random_aurc, 4),
            "oracle_aurc": round(self.oracle_aurc, 4), "error_auc": round(self.error_auc, 4),
            "gain": None if not np.isfinite(self.gain) else round(self.gain, 4),
            "risk_at": {f"{c:.0%}": round(self.risk_at(c), 4) for c in (0.5, 0.8, 0.9)},
            "coverage": [round(float(c), 4) for c in self.coverage[idx]],
            "risk": [round(float(r), 4) for r in self.risk[idx]],
            "uncertainty": [round(float(u), 5) for u in self.uncertainty[idx]],
        }


def _error_auc(uncertainty: np.ndarray, errors: np.ndarray) -> float:
    """Mann-Whitney AUC of uncertainty for errors vs correct answers (ties count one half)."""
    n_err, n_ok = int(errors.sum()), int((~errors).sum())
    if not n_err or not n_ok:
        return float("nan")
    order = np.argsort(uncertainty, kind="mergesort")
    ranks = np.empty(len(uncertainty))
    sorted_u = uncertainty[order]
    # average ranks of ties
    _, start, counts = np.unique(sorted_u, return_index=True, return_counts=True)
    avg = start + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[errors].sum() - n_err * (n_err + 1) / 2.0) / (n_err * n_ok))


def risk_coverage(uncertainty, errors) -> RiskCoverage:
    """The risk-coverage curve of `errors` (bool per case) ordered by `uncertainty` (low = certain)."""
    u = np.asarray(uncertainty, dtype=np.float64).ravel()
    e = np.asarray(errors, dtype=bool).ravel()
    if u.shape != e.shape or u.size == 0:
        raise ValueError("uncertainty and errors must be non-empty and of equal length")
    if not np.isfinite(u).all():
        raise ValueError("uncertainty must be finite")
    n = u.size
    order = np.argsort(u, kind="mergesort")
    su, se = u[order], e[order].astype(np.float64)
    _, start, counts = np.unique(su, return_index=True, return_counts=True)
    group_errors = np.add.reduceat(se, start)
    before = np.concatenate([[0.0], np.cumsum(group_errors)[:-1]])
    k = np.arange(1, n + 1)
    group = np.repeat(np.arange(len(start)), counts)
    # expected errors among the first k under a random order inside each tie group
    expected = before[group] + (k - start[group]) * (group_errors[group] / counts[group])
    risk = expected / k
    total = int(e.sum())
    oracle = np.maximum(0, k - (n - total)) / k
    return RiskCoverage(
        coverage=k / n, risk=risk, uncertainty=su, aurc=float(risk.mean()), random_aurc=total / n,
        oracle_aurc=float(oracle.mean()), error_auc=_error_auc(u, e), n=n, errors=total,
    )


def classification_errors(probability, malignant, threshold: float) -> np.ndarray:
    """Wrong benign/malignant calls at `threshold` (the bundle's operating point)."""
    return (np.asarray(probability, dtype=np.float64) >= threshold) != np.asarray(malignant).astype(bool)
