"""Geometry of a lesion mask for the BI-RADS shape, orientation and margin descriptors.

Why a radial profile: a radiologist judges a margin by walking around it. The
outline is therefore described as r(theta), the distance from the centroid to
the OUTERMOST boundary crossing along each of `N_ANGLES` rays, found with
sub-pixel precision on the bilinearly interpolated mask (iso-line 0.5, so a
single pixel has a radius of about half a pixel). Everything a reader calls
"smooth", "lobulated", "angular" or "spiculated" is then a property of this
periodic signal and of its difference to the moment ellipse of the mask:

* `rho = r / mean(r)`: its std is roughness, its local maxima are lobes, its
  energy in harmonics >= `HF_FROM` is spiculation (thin, many projections);
* curvature of the outline (spectral derivatives of r, low-passed), minus the
  curvature of the fitted ellipse at the same angle: corners (angular);
* convexity defects (depth of the outline under its convex hull, relative to
  the equivalent radius): deep clefts between lobes or spicules.

All functions take the mask in image pixels (bool H x W, one lesion) and are
pure numpy/scipy; they are fast because every ray is sampled in one
`map_coordinates` call and the hull is built on `N_ANGLES` points only.
The hull of the outer envelope equals the hull of the mask (every hull
vertex is the farthest mask point on its own ray), so solidity is exact up
to the angular sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

N_ANGLES = 256
HF_FROM = 8  # harmonics of rho from here up count as spiculation (an ellipse lives in k = 2, 4)
CURVATURE_HARMONICS = 24  # low-pass before curvature: corners, not pixel steps
LOBE_HARMONICS = 32  # low-pass before counting lobes
LOBE_PROMINENCE = 0.025  # a lobe must stand out by 2.5 % of the mean radius
DEFECT_DEPTH = 0.08  # a convexity defect counts when deeper than 8 % of the equivalent radius


def lesion_crop(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]] | None:
    """(largest lesion cropped to its bounding box, (row, col) of the crop's corner); None if empty.

    Predicted masks can hold specks and expert masks pin-holes; neither is
    something a reader would describe, so only the largest 8-connected region
    is kept and its holes are filled. Everything after this works on the
    crop, which is what keeps a 600 x 500 image in a few milliseconds.
    """
    mask = np.asarray(mask, dtype=bool)
    row_any, col_any = mask.any(axis=1), mask.any(axis=0)
    if not row_any.any():
        return None
    rows, cols = np.flatnonzero(row_any), np.flatnonzero(col_any)
    r0, c0 = int(rows[0]), int(cols[0])
    crop = mask[r0:rows[-1] + 1, c0:cols[-1] + 1]
    labels, n = ndimage.label(crop, structure=np.ones((3, 3), bool))
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        crop = labels == int(np.argmax(sizes))
    # holes = background components not connected to the border of the padded crop
    background, _ = ndimage.label(~np.pad(crop, 1))
    crop = background[1:-1, 1:-1] != background[0, 0]
    row_any, col_any = crop.any(axis=1), crop.any(axis=0)
    rows, cols = np.flatnonzero(row_any), np.flatnonzero(col_any)
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.ascontiguousarray(crop), (r0 + int(rows[0]), c0 + int(cols[0]))


@dataclass(frozen=True, eq=False)
class Outline:
    """Radial outline of one lesion, in pixels of the image.

    `theta` is measured from the image's +x axis (to the right) towards the
    top of the image (the skin), so theta = -pi/2 points straight down.
    """

    centroid: tuple[float, float]  # (row, col)
    theta: np.ndarray
    radius: np.ndarray  # outer boundary distance per angle, px
    area_px: int
    equivalent_radius: float  # sqrt(area / pi), px

    def points(self) -> np.ndarray:
        """(N, 2) outline points as (x, y) = (col, -row) offsets from the centroid."""
        return np.stack([self.radius * np.cos(self.theta), self.radius * np.sin(self.theta)], axis=1)


def radial_outline(crop: np.ndarray, offset: tuple[int, int] = (0, 0), n_angles: int = N_ANGLES) -> Outline:
    """Outline of a non-empty lesion crop (see `lesion_crop`), sub-pixel, in one vectorised pass.

    The mask is blurred slightly (Gaussian, 0.7 px) before the 0.5 iso-line
    is found so that the staircase of a pixel mask does not read as
    micro-lobulation on small lesions. The centroid is in image coordinates.
    """
    area_f, (cr, cc), _ = _moments(crop)
    pad = 3
    field = ndimage.gaussian_filter(np.pad(crop, pad).astype(np.float32), 0.7, mode="constant")
    reach = math.hypot(*crop.shape) + 2.0
    step = max(0.5, reach / 200.0)
    radii = np.arange(0.0, reach + step, step)
    theta = np.linspace(-math.pi, math.pi, n_angles, endpoint=False)
    ys = (cr + pad) - np.outer(np.sin(theta), radii)
    xs = (cc + pad) + np.outer(np.cos(theta), radii)
    values = ndimage.map_coordinates(field, [ys.ravel(), xs.ravel()], order=1, cval=0.0).reshape(ys.shape)
    inside = values >= 0.5
    last = radii.size - 1 - np.argmax(inside[:, ::-1], axis=1)
    hit = inside.any(axis=1)
    nxt = np.minimum(last + 1, radii.size - 1)
    v0 = values[np.arange(n_angles), last]
    v1 = values[np.arange(n_angles), nxt]
    frac = np.where(v0 > v1, (v0 - 0.5) / np.maximum(v0 - v1, 1e-6), 0.0)
    radius = np.where(hit, radii[last] + np.clip(frac, 0.0, 1.0) * step, 0.0)
    area = int(round(area_f))
    centroid = (cr + offset[0], cc + offset[1])
    return Outline(centroid, theta, radius.astype(float), area, math.sqrt(area / math.pi))


@dataclass(frozen=True)
class Ellipse:
    """Moment ellipse (same second moments as the mask), in the units it was computed in."""

    major: float  # semi-axis
    minor: float
    angle: float  # of the major axis, radians from +x towards the top, in (-pi/2, pi/2]


def _moments(mask: np.ndarray) -> tuple[float, tuple[float, float], tuple[float, float, float]]:
    """(area, (row, col) centroid, (var row, var col, cov row-col)) from row/column sums (no pixel lists)."""
    m = mask.astype(np.float64)
    r = np.arange(mask.shape[0], dtype=np.float64)
    c = np.arange(mask.shape[1], dtype=np.float64)
    per_row, per_col = m.sum(axis=1), m.sum(axis=0)
    area = float(per_row.sum())
    cr, cc = float(r @ per_row) / area, float(c @ per_col) / area
    vr = float((r - cr) ** 2 @ per_row) / area
    vc = float((c - cc) ** 2 @ per_col) / area
    crc = float((r - cr) @ m @ (c - cc)) / area
    return area, (cr, cc), (vr, vc, crc)


def moment_ellipse(mask: np.ndarray, spacing_mm: tuple[float, float] | None = None) -> Ellipse:
    """Ellipse with the mask's second moments; in mm when `spacing_mm` (row, col) is given.

    A uniform ellipse with semi-axes a, b has variances a^2/4 and b^2/4 along
    its axes, hence the factor 2 on the square roots. The 1/12 added to each
    variance is the pixel's own extent, which keeps a single pixel finite.
    """
    dy, dx = spacing_mm if spacing_mm else (1.0, 1.0)
    m00, (cr, cc), (vr, vc, crc) = _moments(mask)
    # y points up (towards the skin), x to the right: cov(x, y) = -cov(col, row)
    cov = np.array([[vc * dx * dx + dx * dx / 12, -crc * dx * dy], [-crc * dx * dy, vr * dy * dy + dy * dy / 12]])
    evals, evecs = np.linalg.eigh(cov)
    major_vec = evecs[:, 1]
    angle = math.atan2(major_vec[1], major_vec[0])
    if angle <= -math.pi / 2:
        angle += math.pi
    elif angle > math.pi / 2:
        angle -= math.pi
    return Ellipse(2.0 * math.sqrt(max(evals[1], 0.0)), 2.0 * math.sqrt(max(evals[0], 0.0)), angle)


def ellipse_radius(ellipse: Ellipse, theta: np.ndarray) -> np.ndarray:
    """Polar radius of a centred ellipse at angles `theta`."""
    phi = theta - ellipse.angle
    a, b = ellipse.major, max(ellipse.minor, 1e-9)
    return a * b / np.sqrt((b * np.cos(phi)) ** 2 + (a * np.sin(phi)) ** 2)


def ellipse_mismatch(mask: np.ndarray, ellipse_px: Ellipse) -> float:
    """|mask XOR its moment ellipse| / area: 0 for an ellipse, large for irregular shapes.

    Counted pixel by pixel (ellipse tested at pixel centres) for lesions up to
    80 px in equivalent radius, so a small lesion's digitisation is the same
    for both shapes. Larger lesions use (area + pi a b - 2 |mask AND
    ellipse|) / area with the intersection counted on every s-th row and
    column (s = r_eq / 40): the same value within a fraction of a percent, at
    a bounded cost.
    """
    area = int(np.count_nonzero(mask))
    cr = float(np.arange(mask.shape[0]) @ mask.sum(axis=1)) / area
    cc = float(np.arange(mask.shape[1]) @ mask.sum(axis=0)) / area
    ca, sa = math.cos(ellipse_px.angle), math.sin(ellipse_px.angle)
    a, b = max(ellipse_px.major, 1e-9), max(ellipse_px.minor, 1e-9)

    def inside(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        x, y = (cols - cc).astype(np.float32), (cr - rows).astype(np.float32)
        u, v = (x * ca + y * sa) / a, (-x * sa + y * ca) / b
        return u * u + v * v <= 1.0

    stride = max(1, int(math.sqrt(area / math.pi) / 40))
    if stride == 1:
        reach = int(math.ceil(a)) + 2
        r0, c0 = min(0, int(cr) - reach), min(0, int(cc) - reach)
        r1, c1 = max(mask.shape[0], int(cr) + reach + 1), max(mask.shape[1], int(cc) + reach + 1)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        local = np.zeros(yy.shape, bool)
        local[-r0:-r0 + mask.shape[0], -c0:-c0 + mask.shape[1]] = mask
        return float(np.count_nonzero(local ^ inside(yy, xx)) / area)
    rows, cols = np.nonzero(mask[::stride, ::stride])
    both = min(np.count_nonzero(inside(rows * stride, cols * stride)) * stride * stride, area)
    return float(max(area + math.pi * a * b - 2 * both, 0.0) / area)


def resolvable_harmonics(equivalent_radius: float, n_angles: int = N_ANGLES) -> int:
    """Highest harmonic of the outline that the pixel grid can show: one cycle per 4 px of perimeter.

    Above it, "lobes" are pixel steps. Caps every low-pass below, so a
    20-pixel lesion is not called microlobulated for being made of pixels.
    """
    return int(max(3, min(n_angles // 2, 2 * math.pi * equivalent_radius / 4.0)))


def _taper(n_freq: int, harmonics: float) -> np.ndarray:
    """Gaussian low-pass weights per harmonic (no ringing, unlike a hard cut-off)."""
    k = np.arange(n_freq)
    return np.exp(-0.5 * (k / max(harmonics, 1e-9)) ** 2)


def _lowpass(signal: np.ndarray, harmonics: float) -> np.ndarray:
    spectrum = np.fft.rfft(signal)
    return np.fft.irfft(spectrum * _taper(spectrum.size, harmonics), n=signal.size)


def polar_curvature(radius: np.ndarray, harmonics: float = CURVATURE_HARMONICS) -> np.ndarray:
    """Signed curvature of the closed curve r(theta) (1/px), from spectral derivatives.

    kappa = (r^2 + 2 r'^2 - r r'') / (r^2 + r'^2)^(3/2); positive where convex.
    """
    n = radius.size
    spectrum = np.fft.rfft(radius)
    spectrum = spectrum * _taper(spectrum.size, harmonics)
    k = np.arange(spectrum.size)
    r = np.fft.irfft(spectrum, n=n)
    d1 = np.fft.irfft(spectrum * (1j * k), n=n)
    d2 = np.fft.irfft(spectrum * (-(k ** 2)), n=n)
    return (r * r + 2 * d1 * d1 - r * d2) / np.maximum(r * r + d1 * d1, 1e-12) ** 1.5


def turning(points: np.ndarray, window: int) -> np.ndarray:
    """Change of tangent direction (radians) over `window` consecutive outline samples, at each sample.

    The integral of curvature over an arc: a corner turns by its full angle
    within a short arc whatever the smoothing, a smooth curve only by
    arc / radius. Being an integral, it is far less noisy than curvature.
    """
    d = np.diff(np.vstack([points, points[:1]]), axis=0)
    psi = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    n = psi.size
    extended = np.concatenate([psi, psi + (psi[-1] - psi[0] + (psi[1] - psi[0]))])  # one more lap
    return extended[window:window + n] - extended[:n]


def lowpass_points(theta: np.ndarray, radius: np.ndarray, harmonics: float) -> np.ndarray:
    """(x, y) points of the outline r(theta) after a Gaussian low-pass of r."""
    r = _lowpass(radius, harmonics)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def count_lobes(rho: np.ndarray, harmonics: float = LOBE_HARMONICS, prominence: float = LOBE_PROMINENCE) -> int:
    """Lobes of the (low-passed) normalised radial profile: rises and falls of at least `prominence`.

    A zig-zag (hysteresis) count around the closed profile, starting at its
    global minimum: a lobe is counted once the profile has risen by
    `prominence` above the lowest point since the last lobe and then fallen
    by `prominence` below the peak. A disc has 0, an ellipse 2. (Equivalent
    to counting maxima of topographic prominence >= `prominence`, without
    importing scipy.signal, which costs seconds.)
    """
    smooth = _lowpass(rho, harmonics)
    start = int(np.argmin(smooth))
    values = np.concatenate([smooth[start:], smooth[:start + 1]]).tolist()
    lobes, low, high, rising = 0, values[0], values[0], True
    for v in values[1:]:
        if rising:
            if v > high:
                high = v
            elif high - v >= prominence and high - low >= prominence:
                lobes += 1
                rising, low = False, v
        else:
            if v < low:
                low = v
            elif v - low >= prominence:
                rising, high = True, v
    return lobes


def convexity_defects(points: np.ndarray, equivalent_radius: float) -> tuple[float, int, float, float]:
    """(max defect depth / r_eq, number of defects deeper than DEFECT_DEPTH, hull area, hull perimeter).

    The outline points are in angular order and the hull vertices are a
    subset of them, so each point's defect depth is its distance below the
    hull edge spanning it.
    """
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):
        return 0.0, 0, 0.0, 0.0
    vertices = np.sort(hull.vertices)
    n = points.shape[0]
    idx = np.arange(n)
    pos = np.searchsorted(vertices, idx, side="right") - 1  # hull vertex at or before each point
    prev_v = vertices[pos % vertices.size]
    next_v = vertices[(pos + 1) % vertices.size]
    a, b = points[prev_v], points[next_v]
    edge = b - a
    length = np.maximum(np.hypot(edge[:, 0], edge[:, 1]), 1e-9)
    cross = edge[:, 0] * (points[:, 1] - a[:, 1]) - edge[:, 1] * (points[:, 0] - a[:, 0])
    depth = np.abs(cross) / length / max(equivalent_radius, 1e-9)
    depth[np.isin(idx, vertices)] = 0.0
    deep = depth > DEFECT_DEPTH
    # runs of consecutive deep points (circular) are one defect each
    starts = deep & ~np.roll(deep, 1)
    n_defects = int(starts.sum()) if not deep.all() else 1
    return float(depth.max()), n_defects, float(hull.volume), float(hull.area)


def perimeter(points: np.ndarray) -> float:
    """Length of the closed polygon through `points`."""
    d = np.diff(np.vstack([points, points[:1]]), axis=0)
    return float(np.hypot(d[:, 0], d[:, 1]).sum())


def harmonic_energy(rho: np.ndarray, k_from: int, k_to: int | None = None) -> float:
    """RMS amplitude of the harmonics k_from..k_to of `rho` (0 for a circle or an ellipse)."""
    spectrum = np.fft.rfft(rho - rho.mean()) / rho.size
    power = 2.0 * np.abs(spectrum[k_from:None if k_to is None else k_to + 1]) ** 2
    return float(math.sqrt(power.sum()))
