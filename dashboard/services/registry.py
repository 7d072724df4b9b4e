"""Which model bundles exist and which one is active.

The active model's name lives in the database (`ll_settings`), not in a
worker's memory, so every gunicorn worker (and every host behind a load
balancer) answers with the same model after someone switches it on the Models
page. Reading cards never imports TensorFlow.
"""

from __future__ import annotations

import time

from pipeline.bundle import BrokenBundle, list_bundles
from pipeline.card import BundleCard
from pipeline.errors import BundleError

ACTIVE_MODEL_KEY = "active_model"
# Used when nothing is chosen: the bundle shipped with the repository (trained on real breast ultrasound,
# `make run` installs it), then the synthetic-cohort demo model that tests train.
FALLBACK_MODELS = ("busbra", "demo")
LIST_TTL_S = 5.0  # re-list bundles at most this often: a directory walk per callback adds up


class ModelRegistry:
    def __init__(self, settings, store) -> None:
        self.settings = settings
        self.store = store
        self._listed: tuple[float, list[BundleCard | BrokenBundle]] = (0.0, [])

    def bundles(self, fresh: bool = False) -> list[BundleCard | BrokenBundle]:
        """Every bundle folder: valid cards newest first, then the broken ones with their error."""
        stamp, cards = self._listed
        if fresh or time.monotonic() - stamp > LIST_TTL_S:
            cards = list_bundles(self.settings.models_dir)
            self._listed = (time.monotonic(), cards)
        return cards

    def valid_bundles(self) -> list[BundleCard]:
        return [c for c in self.bundles() if isinstance(c, BundleCard)]

    def active_name(self) -> str | None:
        """The stored choice, else the configured default, else FALLBACK_MODELS in order, else the newest bundle."""
        stored = self.store.get_setting(ACTIVE_MODEL_KEY)
        valid = self.valid_bundles()
        names = [c.name for c in valid]
        for candidate in (stored, self.settings.default_model, *FALLBACK_MODELS):
            if candidate and candidate in names:
                return candidate
        return names[0] if names else None

    def active_card(self) -> BundleCard | None:
        name = self.active_name()
        for card in self.valid_bundles():
            if card.name == name:
                return card
        return None

    def require_active(self) -> BundleCard:
        card = self.active_card()
        if card is None:
            raise BundleError(
                f"no model bundle is available under {self.settings.models_dir}; "
                "train one (python -m training train ...) or set LESIONLENS_MODELS"
            )
        return card

    def card_by_name(self, name: str) -> BundleCard | None:
        for card in self.valid_bundles():
            if card.name == name:
                return card
        return None

    def activate(self, name: str) -> BundleCard:
        card = self.card_by_name(name)
        if card is None:
            raise BundleError(f"model {name!r} is not a valid bundle under {self.settings.models_dir}")
        self.store.set_setting(ACTIVE_MODEL_KEY, name)
        return card

    def active_identity(self) -> tuple[str, str] | None:
        card = self.active_card()
        return None if card is None else card.identity
