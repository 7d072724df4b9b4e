"""Keras `PyDataset` batch generators with on-the-fly augmentation.

Augmentation runs in numpy (pipeline.augment) on the work-resolution arrays;
at 10-60 images/s of training throughput the generator is never the
bottleneck, and one implementation serves both tests and training.
"""

from __future__ import annotations

import keras
import numpy as np

from pipeline.augment import AugmentConfig, augment_pair, jitter_mask
from pipeline.preprocess import Letterbox, crop_region, standardize
from training.data import CaseArrays


def seg_input(item: CaseArrays, size: int) -> tuple[np.ndarray, np.ndarray]:
    box = Letterbox(item.image.shape, size)
    return box.forward(standardize(item.image)), box.forward(item.mask)


class SegBatches(keras.utils.PyDataset):
    def __init__(self, items: list[CaseArrays], size: int, batch_size: int, augment: AugmentConfig | None, seed: int):
        super().__init__()
        self.items, self.size, self.batch_size, self.augment = items, size, batch_size, augment
        self.rng = np.random.default_rng(seed)
        self.prepared = [seg_input(it, size) for it in items]
        self.order = np.arange(len(items))
        if augment is not None:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return int(np.ceil(len(self.items) / self.batch_size))

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        xs, ys = [], []
        for i in idx:
            img, msk = self.prepared[i]
            if self.augment is not None:
                img, msk = augment_pair(img, msk, self.rng, self.augment)
            xs.append(img)
            ys.append(msk)
        return np.stack(xs)[..., None].astype(np.float32), np.stack(ys)[..., None].astype(np.float32)

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
