"""Keras `PyDataset` batch generators with on-the-fly augmentation.

Augmentation runs in numpy (pipeline.augment) on the work-resolution arrays;
at 10-60 images/s of training throughput the generator is never the
bottleneck, and one implementation serves both tests and training.
"""

from __future__ import annotations

import keras
import numpy as np

from scipy import ndimage

from pipeline.augment import AugmentConfig, _intensity, augment_pair, jitter_mask
from pipeline.crops import crop_box, cut, jitter_window, lesion_free_box, random_containing_box, random_lesion_free_box, refine_window
from pipeline.preprocess import Letterbox, crop_region, standardize
from pipeline.refine import refine_input
from training.data import CaseArrays


def seg_input(item: CaseArrays, size: int) -> tuple[np.ndarray, np.ndarray]:
    box = Letterbox(item.image.shape, size)
    return box.forward(standardize(item.image)), box.forward(item.mask)


class SegBatches(keras.utils.PyDataset):
    """Whole-image batches; with `negative_fraction`, lesion-free crops of the same scans with an
    empty target are mixed in, and `positive_crop_prob` of the lesion images are shown as random
    crops that still hold the lesion (so crop geometry never predicts the answer)."""

    def __init__(self, items: list[CaseArrays], size: int, batch_size: int, augment: AugmentConfig | None, seed: int,
                 negative_fraction: float = 0.0, positive_crop_prob: float = 0.0):
        super().__init__()
        self.items, self.size, self.batch_size, self.augment = items, size, batch_size, augment
        self.rng = np.random.default_rng(seed)
        self.prepared = [seg_input(it, size) for it in items]
        self.positive_crop_prob = positive_crop_prob
        self.with_free = [i for i, it in enumerate(items) if it.mask.any() and lesion_free_box(it.mask) is not None]
        n_neg = int(round(negative_fraction * len(items))) if self.with_free else 0
        self.order = np.concatenate([np.arange(len(items)), -1 - np.arange(n_neg)])  # negative ids: crops
        if augment is not None:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.batch_size))

    def _crop(self, item: CaseArrays, box) -> tuple[np.ndarray, np.ndarray]:
        image, mask = crop_box(item.image, box), crop_box(item.mask, box)
        letter = Letterbox(image.shape, self.size)
        return letter.forward(standardize(image)), letter.forward(mask)

    def _sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i < 0:  # a lesion-free crop of a random training scan
            item = self.items[self.with_free[int(self.rng.integers(len(self.with_free)))]]
            box = random_lesion_free_box(item.mask, self.rng)
            img, msk = self._crop(item, box)
            return img, np.zeros_like(msk)
        item = self.items[i]
        if self.augment is not None and item.mask.any() and self.rng.random() < self.positive_crop_prob:
            return self._crop(item, random_containing_box(item.mask, self.rng))
        return self.prepared[i]

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        xs, ys = [], []
        for i in idx:
            img, msk = self._sample(int(i))
            if self.augment is not None:
                img, msk = augment_pair(img, msk, self.rng, self.augment)
            xs.append(img)
            ys.append(msk)
        return np.stack(xs)[..., None].astype(np.float32), np.stack(ys)[..., None].astype(np.float32)

    def on_epoch_end(self) -> None:
        if self.augment is not None:
            self.rng.shuffle(self.order)


def border_weights(mask: np.ndarray, extra: float, sigma: float = 2.0) -> np.ndarray:
    """1 + `extra` * exp(-d^2 / 2 sigma^2), d = distance (px) to the mask's border."""
    if extra <= 0 or not mask.any() or mask.all():
        return np.ones(mask.shape, np.float32)
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    distance = np.where(mask, inside, outside) - 0.5
    return (1.0 + extra * np.exp(-(distance**2) / (2 * sigma**2))).astype(np.float32)


def degraded_prior(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the coarse stage might have said about an expert mask: a jittered, blurred copy
    (at times only an ellipse in its box), as the refiner's second input channel in training."""
    from pipeline.preprocess import mask_box

    out = jitter_mask(mask, rng, 2.0)
    if rng.random() < 0.25:
        box = mask_box(out)
        if box is not None:
            r0, c0, r1, c1 = box
            rows, cols = np.ogrid[: mask.shape[0], : mask.shape[1]]
            cr, cc, hr, hc = (r0 + r1) / 2, (c0 + c1) / 2, max((r1 - r0) / 2, 1), max((c1 - c0) / 2, 1)
            out = ((rows - cr) / hr) ** 2 + ((cols - cc) / hc) ** 2 <= 1.0
    prior = ndimage.gaussian_filter(out.astype(np.float32), sigma=rng.uniform(1.0, 4.0))
    return np.clip(prior * rng.uniform(0.7, 1.0), 0.0, 1.0)


class RefineBatches(keras.utils.PyDataset):
    """Refinement windows (image, prior) -> (mask, border weight), on detail-resolution arrays.

    Training: the window is the expert box jittered the way a coarse box errs, the prior a
    degraded expert mask. Validation passes the coarse model's own `windows` and `priors`,
    so model selection sees what inference will give the refiner.
    """

    def __init__(self, items: list[CaseArrays], size: int, batch_size: int, margin: float, border_weight: float,
                 augment: AugmentConfig | None = None, seed: int = 0, windows=None, priors=None):
        super().__init__()
        keep = [i for i, it in enumerate(items) if it.mask.any()]
        self.items = [items[i] for i in keep]
        self.windows = None if windows is None else [windows[i] for i in keep]
        self.priors = None if priors is None else [priors[i] for i in keep]
        self.size, self.batch_size, self.margin, self.border_weight = size, batch_size, margin, border_weight
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(self.items))
        if augment is not None:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.items) / self.batch_size))

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from pipeline.preprocess import mask_box

        item = self.items[i]
        if self.windows is None:
            window = jitter_window(refine_window(mask_box(item.mask), self.margin), self.rng)
            prior = degraded_prior(item.mask, self.rng)
        else:
            window, prior = self.windows[i], self.priors[i]
        x = refine_input(item.image, prior, window, self.size)
        target = cut(item.mask.astype(np.float32), window, self.size) >= 0.5
        if self.augment is not None:
            if self.rng.random() < 0.5:
                x, target = x[:, ::-1], target[:, ::-1]
            x = np.stack([_intensity(np.ascontiguousarray(x[..., 0]), self.rng, self.augment), x[..., 1]], axis=-1)
        weight = border_weights(np.ascontiguousarray(target), self.border_weight)
        return x, np.stack([target.astype(np.float32), weight], axis=-1)

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        pairs = [self.sample(int(i)) for i in idx]
        return np.stack([p[0] for p in pairs]).astype(np.float32), np.stack([p[1] for p in pairs]).astype(np.float32)

    def on_epoch_end(self) -> None:
        if self.augment is not None:
            self.rng.shuffle(self.order)


class RegionBatches(keras.utils.PyDataset):
    """Lesion-region crops (image + mask channels) with malignant labels.

    Training uses expert masks perturbed by `jitter_mask`; validation and
    evaluation pass `masks=` holding the segmentation model's predictions,
    so model selection sees the masks it will meet in use.
    """

    def __init__(self, items, size, batch_size, margin, augment=None, jitter=0.0, seed=0, masks=None):
        super().__init__()
        self.items, self.size, self.batch_size, self.margin = items, size, batch_size, margin
        self.augment, self.jitter = augment, jitter
        self.masks = masks
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(items))
        if augment is not None:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.items) / self.batch_size))

    def region(self, i: int) -> np.ndarray:
        item = self.items[i]
        mask = item.mask if self.masks is None else self.masks[i]
        image = standardize(item.image)
        if self.augment is not None:
            mask = jitter_mask(mask, self.rng, self.jitter)
            image, mask = augment_pair(image, mask, self.rng, self.augment)
        return crop_region(image, mask, self.size, margin=self.margin)

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = np.stack([self.region(i) for i in idx]).astype(np.float32)
        y = np.array([[self.items[i].malignant] for i in idx], np.float32)
        return x, y

    def on_epoch_end(self) -> None:
        if self.augment is not None:
            self.rng.shuffle(self.order)
