"""Exporting a bundle's stages to TFLite files (with their sha256 in the card) and choosing them at load.

Why in the bundle: converting at load time costs seconds and the heavy MLIR converter in every
worker; a file exported once, hashed and checked against the Keras weights it came from, loads in
milliseconds. The Keras weights stay the source of truth: a missing, stale or unloadable artefact
means the predictor runs the Keras models (`tf.function`), with a log line saying why.

The export checks each stage against Keras on a fixed batch of z-scored noise before writing the
card, and refuses (nothing written to the card) when any output moves by more than `TOLERANCE`
(absolute, on probabilities; on logits for the classifier). The parity on real images is tested in
tests/integration/test_runtime_parity.py.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.card import BundleCard
from pipeline.card_runtime import RuntimeArtefacts, stage_source_sha256
from pipeline.errors import BundleError

log = logging.getLogger(__name__)

TOLERANCE = 1e-3  # max |artefact - Keras| accepted at export, on probabilities (seg, refine) and logits (cls)
RUNTIME_DIR = "runtime"


def stage_files(card: BundleCard) -> dict[str, list[str]]:
    """stage -> the members' weight files of that stage (member order); stages no member has are left out."""
    out: dict[str, list[str]] = {}
    for member in card.members:
        for stage, rel in member.weight_files.items():
            out.setdefault(stage, []).append(rel)
    return {stage: files for stage, files in out.items() if len(files) == len(card.members)}


def _max_diff(models: list[Any], content: bytes, sigmoid: bool) -> float:
    from pipeline.runtimes import keras_stage, tflite_stage

    shape = tuple(int(d) for d in models[0].input_shape[1:])
    batch = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    reference = keras_stage(models, shape[0], shape[2], sigmoid)(batch)
    return float(np.abs(tflite_stage(content, 1)(batch) - reference).max())


def export_tflite(bundle_dir: str | Path) -> BundleCard:
    """Write runtime/<stage>.tflite for every stage and record them in the card (rewritten by the card writer)."""
    import keras
    import tensorflow as tf

    from pipeline.bundle import file_sha256, read_bundle_card, write_bundle_card
    from pipeline.runtimes import tflite_bytes

    bundle_dir = Path(bundle_dir)
    card = read_bundle_card(bundle_dir)
    (bundle_dir / RUNTIME_DIR).mkdir(exist_ok=True)
    files, hashes, sources, tolerance = {}, {}, {}, {"max_abs_diff": TOLERANCE}
    for stage, weights in stage_files(card).items():
        models = [keras.saving.load_model(bundle_dir / rel, compile=False) for rel in weights]
        content = tflite_bytes(models, sigmoid=stage != "cls")
        diff = _max_diff(models, content, sigmoid=stage != "cls")
        if not diff <= TOLERANCE:
            raise BundleError(
                f"bundle {bundle_dir.name}: the TFLite {stage} stage differs from Keras by {diff:.2g} "
                f"(> {TOLERANCE}); not exported"
            )
        rel = f"{RUNTIME_DIR}/{stage}.tflite"
        tmp = bundle_dir / f"{rel}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, bundle_dir / rel)
        files[stage], hashes[rel] = rel, file_sha256(bundle_dir / rel)
        sources[stage] = stage_source_sha256(card.weights_sha256, weights)
        tolerance[f"measured_{stage}"] = float(f"{diff:.3g}")
        log.info("exported %s (%d bytes, max |diff| vs Keras %.2g)", rel, len(content), diff)
    runtime = RuntimeArtefacts("tflite", files, hashes, sources, tf.__version__, tolerance)
    return write_bundle_card(bundle_dir, replace(card, runtime=runtime))


def bundle_artefacts(bundle_dir: str | Path, card: BundleCard) -> dict[str, bytes] | None:
    """The card's TFLite artefacts (stage -> bytes) if every stage's file is present and was exported from
    these very weights; None (and a log line) otherwise, so the caller runs Keras."""
    runtime = card.runtime
    if runtime is None or runtime.kind != "tflite":
        return None
    expected = stage_files(card)
    out = {}
    for stage, weights in expected.items():
        rel = runtime.files.get(stage)
        if rel is None or not (Path(bundle_dir) / rel).is_file():
            log.warning("bundle %s: runtime artefact for %s is missing: running the Keras models", card.name, stage)
            return None
        if runtime.source_sha256.get(stage) != stage_source_sha256(card.weights_sha256, weights):
            log.warning(
                "bundle %s: runtime artefact %s was exported from other weights: running the Keras models",
                card.name,
                rel,
            )
            return None
        out[stage] = (Path(bundle_dir) / rel).read_bytes()  # its sha256 was checked by read_bundle_card
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.runtime_export BUNDLE`: export the stages and rewrite the card (new content version)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.runtime_export", description=main.__doc__)
    parser.add_argument("bundle", help="bundle folder (bundle.json + members/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    card = export_tflite(args.bundle)
    print(
        f"{card.name} {card.version}: "
        + ", ".join(f"{s}={rel}" for s, rel in (card.runtime.files if card.runtime else {}).items())
    )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
