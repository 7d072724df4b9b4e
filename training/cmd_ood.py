"""`python -m training ood`: fit (if needed) a bundle's OOD fingerprint and measure the guard.

    python -m training ood --model models/busbra --out reports/ood-busbra [--write-card]

Scores, exactly as the predictor will: the bundle's own held-out patients (test
part, else validation), pydicom's sample DICOMs (CT, MR, X-ray, ...), colour
images (a photograph, generated colour pictures, ultrasound with a colour
Doppler box), the synthetic demo cohort and BrEaST-Lesions-USG. Writes
`ood_scores.csv` (one row per image), `ood_summary.json` (flag rate per set and
group), `fingerprint.json`, and prints the table the README quotes.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
XRAY = {"CR", "DX", "DR", "RF", "XA", "MG", "IO", "PX"}


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--refit", action="store_true", help="fit a new fingerprint even if the card has one")
    p.add_argument("--write-card", action="store_true", help="store the fitted fingerprint in the bundle card")
    p.add_argument("--synthetic", default="synthetic:100:0", help="synthetic cohort spec ('' to skip)")
    p.add_argument("--breast", default=None, help="BrEaST spec (default: the shared copy, if present; '' to skip)")
    p.add_argument("--limit", type=int, default=0, help="score at most N images per dataset (quick checks)")


def _pydicom_records():
    from pipeline.errors import ImageLoadError
    from pipeline.io import load_image

    try:
        from pydicom.data import get_testdata_files
    except ImportError:
        return
    quiet = logging.getLogger("pydicom")
    level, quiet.level = quiet.level, logging.CRITICAL  # sample files are damaged on purpose
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files = sorted(set(get_testdata_files("*.dcm")))
            for path in files:
                try:
                    record = load_image(path)
                except ImageLoadError:
                    continue
                modality = (record.modality or "").upper()
                yield ("X-ray" if modality in XRAY else modality or "no modality"), Path(path).name, record
    finally:
        quiet.level = level


def _colour_records(seed: int = 0):
    """A real photograph (matplotlib's sample) and generated colour pictures, as PNG uploads."""
    from pipeline.io import load_image, to_png_bytes
    from pipeline.synthetic import render, sample_cohort

    try:
        import matplotlib

        photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        if photo.exists():
            yield "photograph", photo.name, load_image(photo)
    except ImportError:
        pass
    rng = np.random.default_rng(seed)
    for i in range(20):  # smooth colour fields + noise: pictures, diagrams, screenshots
        h, w = rng.integers(300, 600, 2)
        yy, xx = np.mgrid[0:h, 0:w]
        channels = [128 + 100 * np.sin(xx / rng.uniform(10, 80) + rng.uniform(0, 6))
                    * np.cos(yy / rng.uniform(10, 80) + rng.uniform(0, 6)) for _ in range(3)]
        picture = np.clip(np.stack(channels, -1) + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        yield "generated colour picture", f"colour_{i}.png", load_image(to_png_bytes(picture))
    for i, case in enumerate(sample_cohort(20, seed=seed + 7)):  # B-mode with a colour Doppler box
        grey = render(case, seed=i)[0]
        rgb = np.stack([grey] * 3, -1)
        h, w = grey.shape
        r0, c0 = h // 4, w // 4
        box = rgb[r0:r0 + h // 3, c0:c0 + w // 3]
        flow = rng.random(box.shape[:2]) < 0.6
        box[flow] = np.where(rng.random((int(flow.sum()), 1)) < 0.5, [220, 40, 30], [30, 60, 220])
        yield "ultrasound + colour Doppler", f"doppler_{i}.png", load_image(to_png_bytes(rgb))


def _dataset_records(cases, limit: int):
    from pipeline.io import load_image

    for case in cases[: limit or None]:
        yield case.dataset or "dataset", case.case_id, load_image(case.image_path)


def run(args) -> int:
    import keras
    import pandas as pd

    from pipeline.bundle import read_bundle_card, write_bundle_card
    from pipeline.datasets import load_cases
    from pipeline.ood import Fingerprint
    from pipeline.paths import shared_data_dir
    from training.data import load_arrays
    from training.ood import fit_fingerprint_on, score_record, training_cases

    bundle, out = Path(args.model), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    card = read_bundle_card(bundle)
    work_max_side, seg_size = card.preprocessing.work_max_side, card.preprocessing.seg_input_size
    unet = keras.saving.load_model(bundle / card.members[0].seg, compile=False)
    train, val, test = training_cases(card, bundle)
    fingerprint = None if args.refit else Fingerprint.from_card(card.ood)
    if fingerprint is None:
        arrays = load_arrays(train + val, work_max_side)[: len(train)]  # the training run's cache key
        fingerprint = fit_fingerprint_on(arrays, unet, seg_size=seg_size, work_max_side=work_max_side,
                                         dataset_spec=card.training.dataset)
        if args.write_card:
            card = write_bundle_card(bundle, replace(card, ood=fingerprint.to_card()))
    (out / "fingerprint.json").write_text(json.dumps(fingerprint.to_card()))

    held_name = "held-out patients (" + ("test" if test else "validation") + f") of {str(card.training.dataset).split(':')[0]}"
    sets = [(held_name, _dataset_records(test or val, args.limit)),
            ("pydicom sample DICOMs", _pydicom_records()),
            ("colour images", _colour_records())]
    if args.synthetic:
        sets.append((f"synthetic cohort ({args.synthetic})", _dataset_records(load_cases(args.synthetic), args.limit)))
    breast = args.breast
    if breast is None:
        folder = shared_data_dir() / "breast-lesions-usg"
        breast = f"breast-lesions-usg:{folder}" if folder.exists() else ""
    if breast:
        sets.append(("BrEaST-Lesions-USG", _dataset_records(load_cases(breast), args.limit)))

    rows = []
    for set_name, records in sets:
        for group, item, record in records:
            result = score_record(fingerprint, unet, record, work_max_side=work_max_side, seg_size=seg_size)
            rows.append({"set": set_name, "group": group, "item": item, "modality": record.modality or "",
                         "flagged": result.flagged, "score": round(result.score, 3),
                         "stats_ratio": round(result.components.get("stats", np.nan), 3),
                         "features_ratio": round(result.components.get("features", np.nan), 3),
                         "reasons": " | ".join(result.reasons)})
        log.info("%s: scored", set_name)
    df = pd.DataFrame(rows)
    df.to_csv(out / "ood_scores.csv", index=False)
    summary = {"bundle": card.name, "trained_on": fingerprint.trained_on, "n_fingerprint": fingerprint.n_images,
               "quantile": fingerprint.quantile, "sets": {}}
    lines = ["| set | group | images | flagged | flag rate |", "|---|---|---:|---:|---:|"]
    for set_name, part in df.groupby("set", sort=False):
        groups = {g: {"n": int(len(p)), "flagged": int(p["flagged"].sum()), "rate": round(float(p["flagged"].mean()), 3)}
                  for g, p in part.groupby("group", sort=False)}
        summary["sets"][set_name] = {"n": int(len(part)), "flagged": int(part["flagged"].sum()),
                                     "rate": round(float(part["flagged"].mean()), 3), "groups": groups}
        for g, v in groups.items():
            lines.append(f"| {set_name} | {g} | {v['n']} | {v['flagged']} | {100 * v['rate']:.1f}% |")
        reasons = part.loc[part["flagged"], "reasons"].str.split(" \\| ").explode().str.replace(r" \(.*", "", regex=True)
        summary["sets"][set_name]["top_reasons"] = reasons.value_counts().head(5).to_dict()
    (out / "ood_summary.json").write_text(json.dumps(summary, indent=2))
    (out / "ood_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
