"""A Gaussian density for out-of-distribution distances: pure numpy, JSON-serialisable.

Features are standardised, projected on their first principal components, and
scored with the Mahalanobis distance under a Ledoit-Wolf shrunk covariance in
that subspace plus the residual off it (probabilistic PCA: the residual counts
as isotropic noise of the training images' residual variance). An input far
from the training images along a direction they never varied in is therefore
caught too, not only one far along the directions they did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrunk covariance of centred rows `x` (n x p) towards mu*I, and the shrinkage.

    The Ledoit & Wolf (2004) optimal coefficient, as sklearn.covariance.ledoit_wolf
    computes it (assume_centered=True)."""
    n, p = x.shape
    emp = x.T @ x / n
    mu = float(np.trace(emp)) / p
    x2 = x ** 2
    beta_ = float((x2.T @ x2).sum())
    delta_ = float(((x.T @ x) ** 2).sum()) / n ** 2
    delta = (delta_ - 2.0 * mu * float(x2.sum(axis=0).sum() / n) + p * mu ** 2) / p
    beta = min((beta_ / n - delta_) / (p * n), delta)
    shrinkage = 0.0 if delta <= 0 else max(0.0, beta / delta)
    return (1.0 - shrinkage) * emp + shrinkage * mu * np.eye(p), shrinkage


@dataclass(frozen=True)
class Gaussian:
    mean: np.ndarray  # D
    scale: np.ndarray  # D, per-feature standard deviation (floored)
    components: np.ndarray  # k x D, orthonormal rows
    precision: np.ndarray  # k x k
    residual_var: float  # per-dimension variance off the subspace (0: no residual term)

    @classmethod
    @staticmethod
    def n_components_for(n: int, d: int, n_components: int | None) -> int:
        """Principal components kept: at least 4 samples per component (with fewer, the residual
        variance is estimated near 0); all `d` (no residual term) when `n_components` is None."""
        return d if n_components is None else int(max(1, min(n_components, d, (n - 1) // 4)))

    @classmethod
    def fit(cls, x: np.ndarray, n_components: int | None = None, *, exact: bool = False) -> "Gaussian":
        """`exact`: keep exactly `n_components` (cross-fitting uses the full sample's number)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 3:
            raise ValueError("a Gaussian needs at least 3 samples of a 2-D array")
        n, d = x.shape
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        floor = max(0.1 * float(np.median(std)), 1e-6)
        scale = np.maximum(std, floor)
        z = (x - mean) / scale
        k = min(int(n_components), d, n - 1) if exact and n_components else cls.n_components_for(n, d, n_components)
        if k < d:
            _, _, vt = np.linalg.svd(z, full_matrices=False)
            components = vt[:k]
        else:
            components = np.eye(d)
        proj = z @ components.T
        cov, _ = ledoit_wolf(proj - proj.mean(axis=0))
        residual = z - proj @ components
        residual_var = float((residual ** 2).sum(axis=1).mean() / (d - k)) if k < d else 0.0
        # standardised features have unit variance: below 0.1% per dimension is an artefact of small samples
        return cls(mean, scale, components, np.linalg.inv(cov), max(residual_var, 1e-3) if k < d else 0.0)

    def distance(self, x: np.ndarray) -> np.ndarray:
        """Root mean squared Mahalanobis distance per row (about 1 for a typical training row)."""
        z = (np.atleast_2d(np.asarray(x, dtype=np.float64)) - self.mean) / self.scale
        proj = z @ self.components.T
        d2 = np.einsum("ij,jk,ik->i", proj, self.precision, proj)
        if self.residual_var > 0:
            residual = z - proj @ self.components
            d2 = d2 + (residual ** 2).sum(axis=1) / self.residual_var
        return np.sqrt(np.maximum(d2, 0.0) / z.shape[1])

    def to_card(self) -> dict[str, Any]:
        identity = self.components.shape[0] == self.components.shape[1] and np.allclose(self.components, np.eye(len(self.mean)))
        return {
            "mean": _floats(self.mean),
            "scale": _floats(self.scale),
            "components": None if identity else [_floats(row) for row in self.components],
            "precision": [_floats(row) for row in self.precision],
            "residual_var": float(self.residual_var),
        }

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "Gaussian":
        mean = np.asarray(card["mean"], dtype=np.float64)
        components = np.eye(len(mean)) if card.get("components") is None else np.asarray(card["components"], dtype=np.float64)
        return cls(mean, np.asarray(card["scale"], dtype=np.float64), components,
                   np.asarray(card["precision"], dtype=np.float64), float(card.get("residual_var", 0.0)))


def _floats(values: np.ndarray) -> list[float]:
    return [float(f"{float(v):.6g}") for v in np.asarray(values).ravel()]
