"""Bundle cards for tests: the smallest valid card JSON, and `make_card` to build a `BundleCard` from it."""

from __future__ import annotations

import copy
from typing import Any

from pipeline.card import BundleCard

FIXTURE = "results/cv-busbra-v2/fold_1/bundle.json"  # a schema-1 card as the current training writes it


def minimal_card_json(**overrides: Any) -> dict[str, Any]:
    """A schema-1 card with only what a reader needs; top-level keys in `overrides` replace the defaults."""
    card: dict[str, Any] = {
        "format_version": 1,
        "name": "test-model",
        "version": "20260101-000000",
        "preprocessing": {"work_max_side": 256, "seg_input_size": 128, "cls_input_size": 96, "margin": 0.3},
        "label_map": {"0": "benign", "1": "malignant"},
        "thresholds": {"malignant": 0.5, "segmentation": 0.5},
        "members": [{"seg": "members/0/seg.keras", "cls": "members/0/cls.keras"}],
        "training": {"dataset": "synthetic:40:1"},
        "metrics": {},
    }
    card.update(copy.deepcopy(overrides))
    return card


def make_card(**overrides: Any) -> BundleCard:
    """`BundleCard.from_json(minimal_card_json(**overrides))`."""
    return BundleCard.from_json(minimal_card_json(**overrides))
