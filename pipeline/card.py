"""The bundle card (bundle.json) as typed, versioned, validated data.

`BundleCard` is the contract between training (which writes it) and serving (which reads it):
`BundleCard.from_json(dict)` validates a parsed bundle.json and names the bad field in every
error (`CardError`), `to_json()` gives the dict to write. Reading and writing files, weight
hashes and the content version live in `pipeline.bundle`; nothing else reads a card's keys.

Versions. `format_version` (1) is the layout: a reader refuses any other. `schema_version`
counts additive revisions within that layout; cards without it are schema 1:

* schema 1 (2026-11 .. 2026-12): preprocessing as prose strings, no per-file weight hashes,
  no `data_sources`, no `provenance` (only the top-level `git_commit`);
* schema 2: preprocessing as tokens the predictor executes (`Preprocessing`), `weights_sha256`
  (sha256 of every weights file a member names, checked at load), `data_sources` (name,
  licence, citation, url of each dataset the bundle was trained on), `provenance` (git commit,
  uncommitted changes, the command line that made the bundle).

Older cards read like schema 2 (prose preprocessing maps to its token, data sources are derived
from `training.dataset`) but keep their `schema_version`, which says what was checked: a schema-1
card has no weight hashes until `write_bundle_card` rewrites it. Every key a schema-1 card had is
still written, so an older program still reads a newer card. Keys this program does not know are
kept (`extra`) and written back unchanged.

The parts live in `pipeline.card_parts` (preprocessing, thresholds, members, training, metrics),
`pipeline.data_sources` and `pipeline.card_fields` (the validation helpers, called here as
`card_fields.opt_str(...)` so that a reader sees which calls validate); import the parts from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.calibration import Calibration
from pipeline import card_fields
from pipeline.card_fields import CardError
from pipeline.card_parts import (
    Member,
    Split,
    Metrics,
    Preprocessing,
    Thresholds,
    Training,
    calibration_from_json,
    presence_from_json,
    presence_to_json,
)
from pipeline.card_runtime import RuntimeArtefacts
from pipeline.data_sources import DataSource, data_sources_for
from pipeline.presence import PresenceModel

FORMAT_VERSION = 1
SCHEMA_VERSION = 2
INTENDED_USE = "research use; not a medical device"

__all__ = [
    "FORMAT_VERSION",
    "INTENDED_USE",
    "SCHEMA_VERSION",
    "BundleCard",
    "CardError",
    "DataSource",
    "Member",
    "Metrics",
    "Preprocessing",
    "Provenance",
    "Split",
    "Thresholds",
    "Training",
    "data_sources_for",
]


@dataclass(frozen=True)
class Provenance:
    """Who made the bundle: code commit (and whether the tree had uncommitted changes), command, libraries."""

    git_commit: str | None = None
    git_dirty: bool | None = None
    command: str | None = None
    tensorflow: str | None = None
    keras: str | None = None


# top-level keys `BundleCard` reads; any other key is kept in `extra`
CARD_KEYS = (
    "format_version",
    "schema_version",
    "created",
    "git_commit",
    "tensorflow",
    "keras",
    "intended_use",
    "name",
    "version",
    "provenance",
    "data_sources",
    "preprocessing",
    "label_map",
    "has_normal",
    "thresholds",
    "calibration",
    "tta_flip",
    "tta_views",
    "presence",
    "ood",
    "members",
    "weights_sha256",
    "models",
    "training",
    "metrics",
    "content_sha256",
    "stacking",
    "runtime",
)
# facts about a folder as read by schema-1 programs (never part of a card)
FOLDER_KEYS = ("path", "has_weights")


@dataclass(frozen=True)
class BundleCard:
    """A model bundle's card. Build new ones with keyword arguments; `write_bundle_card` fills
    provenance, weight hashes and the content version. `path` and `has_weights` describe the
    folder a card was read from and are never written."""

    name: str
    version: str
    preprocessing: Preprocessing
    thresholds: Thresholds
    members: tuple[Member, ...]
    label_map: Mapping[str, str] = field(default_factory=lambda: {"0": "benign", "1": "malignant"})
    has_normal: bool = False
    calibration: Calibration | None = None  # None: identity (raw classifier probabilities)
    tta_flip: bool = True
    tta_views: bool = False
    presence: PresenceModel | None = None  # None: a lesion is reported whenever the mask is big enough
    ood: Mapping[str, Any] | None = None  # the OOD fingerprint (its own format: pipeline.ood.Fingerprint)
    stacking: Mapping[str, Any] | None = None  # the stacked CNN + descriptor model's record (pipeline.stacking_apply)
    runtime: RuntimeArtefacts | None = None  # exported artefacts run instead of Keras (pipeline.runtimes)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # role -> architecture spec
    training: Training = Training()
    metrics: Metrics = Metrics()
    data_sources: tuple[DataSource, ...] = ()
    provenance: Provenance = Provenance()
    created: str | None = None
    intended_use: str = INTENDED_USE
    weights_sha256: Mapping[str, str] = field(default_factory=dict)  # relative path -> sha256 hex
    content_sha256: str | None = None
    format_version: int = FORMAT_VERSION
    schema_version: int = SCHEMA_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)
    has_weights: bool = field(default=True, compare=False)

    # -- reading -------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: Any) -> "BundleCard":
        """Validate a parsed bundle.json (any schema up to SCHEMA_VERSION); CardError names the bad field."""
        raw = card_fields.as_object(data, "(the card)")
        format_version = card_fields.as_int(card_fields.raw_value(raw, "format_version", "", True), "format_version")
        if format_version != FORMAT_VERSION:
            raise CardError("format_version", f"is {format_version}; this program reads format {FORMAT_VERSION}")
        schema = card_fields.opt_int(raw, "schema_version", minimum=1) or 1
        if schema > SCHEMA_VERSION:
            raise CardError(
                "schema_version",
                f"is {schema}: the card was written by a newer Lesion Lens (this "
                f"program reads schemas up to {SCHEMA_VERSION}); update the program",
            )
        version = card_fields.raw_value(raw, "version", "", True)
        if isinstance(version, bool) or not isinstance(version, (str, int)) or not str(version):
            raise card_fields.wrong("version", "a non-empty string", version)
        name = card_fields.req_str(raw, "name")
        if not name.strip():
            raise CardError("name", "is empty")
        members_raw = card_fields.as_list(raw, "members", "", None)
        if not members_raw:
            raise CardError("members", "lists no model members")
        members = tuple(Member.from_json(m, f"members[{i}]") for i, m in enumerate(members_raw))
        label_map = card_fields.obj(raw, "label_map", required=True) or {}
        for key, value in label_map.items():
            card_fields.as_str(value, f"label_map.{key}")
        training = Training.from_json(raw.get("training") or {})
        provenance_raw = card_fields.obj(raw, "provenance") or {}
        git_dirty = card_fields.raw_value(provenance_raw, "git_dirty", "provenance", False)
        provenance = Provenance(
            git_commit=card_fields.opt_str(provenance_raw, "git_commit", "provenance")
            or card_fields.opt_str(raw, "git_commit"),
            git_dirty=None if git_dirty is None else card_fields.as_bool(git_dirty, "provenance.git_dirty"),
            command=card_fields.opt_str(provenance_raw, "command", "provenance"),
            tensorflow=card_fields.opt_str(raw, "tensorflow"),
            keras=card_fields.opt_str(raw, "keras"),
        )
        if "data_sources" in raw:
            sources = tuple(
                DataSource.from_json(s, f"data_sources[{i}]")
                for i, s in enumerate(card_fields.as_list(raw, "data_sources", "", []))
            )
        else:  # schema 1: what `training.dataset` names
            sources = data_sources_for(training.dataset)
        hashes = card_fields.obj(raw, "weights_sha256") or {}
        for rel, digest in hashes.items():
            if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise card_fields.wrong(
                    f"weights_sha256.{rel}", "a sha256 hex digest (64 lowercase hex digits)", digest
                )
        files = [rel for m in members for rel in m.weight_files.values()]
        if schema >= 2:
            unhashed = [rel for rel in files if rel not in hashes]
            if unhashed:
                raise CardError(
                    f"weights_sha256.{unhashed[0]}", "is missing (schema 2 records every weights file's sha256)"
                )
        models = card_fields.obj(raw, "models") or {}
        for role, spec in models.items():
            card_fields.as_object(spec, f"models.{role}")
        calibration = raw.get("calibration")
        presence = raw.get("presence")
        runtime = raw.get("runtime")
        return cls(
            format_version=format_version,
            schema_version=schema,
            name=name,
            version=str(version),
            created=card_fields.opt_str(raw, "created"),
            intended_use=card_fields.opt_str(raw, "intended_use") or INTENDED_USE,
            provenance=provenance,
            data_sources=sources,
            preprocessing=Preprocessing.from_json(card_fields.raw_value(raw, "preprocessing", "", True)),
            label_map={str(k): str(v) for k, v in label_map.items()},
            has_normal=card_fields.as_bool(raw.get("has_normal", False), "has_normal"),
            thresholds=Thresholds.from_json(card_fields.raw_value(raw, "thresholds", "", True)),
            calibration=None if not calibration else calibration_from_json(calibration),
            tta_flip=card_fields.as_bool(raw.get("tta_flip", True), "tta_flip"),
            tta_views=card_fields.as_bool(raw.get("tta_views", False), "tta_views"),
            presence=None if not presence else presence_from_json(presence),
            ood=card_fields.obj(raw, "ood"),
            stacking=card_fields.obj(raw, "stacking"),
            runtime=None if not runtime else RuntimeArtefacts.from_json(runtime),
            members=members,
            weights_sha256=dict(hashes),
            models={role: dict(spec) for role, spec in models.items()},
            training=training,
            metrics=Metrics.from_json(raw.get("metrics") or {}),
            content_sha256=card_fields.opt_str(raw, "content_sha256"),
            extra=card_fields.extra_keys(raw, CARD_KEYS + FOLDER_KEYS),
        )

    # -- writing -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The card as bundle.json holds it (schema 2; every schema-1 key kept for older readers)."""
        out: dict[str, Any] = {
            "format_version": self.format_version,
            "schema_version": self.schema_version,
            "created": self.created,
            "git_commit": self.provenance.git_commit,  # schema 1's place; also in provenance
            "tensorflow": self.provenance.tensorflow,
            "keras": self.provenance.keras,
            "intended_use": self.intended_use,
            "name": self.name,
            "version": self.version,
            "provenance": {
                "git_commit": self.provenance.git_commit,
                "git_dirty": self.provenance.git_dirty,
                "command": self.provenance.command,
            },
            "data_sources": [s.to_json() for s in self.data_sources],
            "preprocessing": self.preprocessing.to_json(),
            "label_map": dict(self.label_map),
            "has_normal": self.has_normal,
            "thresholds": self.thresholds.to_json(),
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_card()
        out.update(
            {
                "tta_flip": self.tta_flip,
                "tta_views": self.tta_views,
                "presence": None if self.presence is None else presence_to_json(self.presence),
                "ood": None if self.ood is None else dict(self.ood),
                "members": [m.to_json() for m in self.members],
                "weights_sha256": dict(self.weights_sha256),
                "models": {role: dict(spec) for role, spec in self.models.items()},
                "training": self.training.to_json(),
                "metrics": self.metrics.to_json(),
            }
        )
        if self.stacking is not None:
            out["stacking"] = dict(self.stacking)
        if self.runtime is not None:
            out["runtime"] = self.runtime.to_json()
        if self.content_sha256 is not None:
            out["content_sha256"] = self.content_sha256
        return {**out, **self.extra}

    # -- conveniences ----------------------------------------------------------------------------------
    @property
    def weight_files(self) -> list[str]:
        """Every weights file the members name (relative paths, member order)."""
        return [rel for m in self.members for rel in m.weight_files.values()]

    @property
    def identity(self) -> tuple[str, str]:
        """(name, version): the key predictions are stored and cached under."""
        return self.name, self.version
