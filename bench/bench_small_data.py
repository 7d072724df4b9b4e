"""Does the default recipe hold on small datasets? (issue 19, item 1)

Trains three recipes on three datasets and compares their validation metrics from each bundle's
card (the same patient-level train/validation split per dataset, seed 0):

* `default`    the default recipe, adapted to the dataset's size (training/adapt.py);
* `no-adapt`   the same recipe with the adaptation off (training/configs/no-adapt.yaml);
* `small-data` training/configs/small-data.yaml (the hand-made recipe for a few hundred images).

Datasets: BrEaST-Lesions-USG (256 images) and BUS-BRA subsamples of 200 and 400 patients
(`python -m training datasets subsample`, label-stratified, seed 0). The question is whether the
default's validation Dice is within 0.02 of the best of the other two. Each run is a plain
`python -m training train` into var/small-data/<dataset>-<recipe>; a finished bundle is kept and
skipped on the next call, so the bench resumes after an interruption. Writes
bench/results/small_data-<UTC time>.json and prints a markdown table.

    .venv/bin/python bench/bench_small_data.py [--datasets breast,busbra-200,busbra-400] [--recipes default,no-adapt,small-data]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline.bundle import read_bundle_card  # noqa: E402

WORK = ROOT / "var" / "small-data"
BUSBRA = "busbra:../shared/data/bus-bra"
RECIPES = {
    "default": None,
    "no-adapt": "training/configs/no-adapt.yaml",
    "small-data": "training/configs/small-data.yaml",
}


def dataset_spec(name: str) -> str:
    if name == "breast":
        return "breast-lesions-usg:../shared/data/breast-lesions-usg"
    patients = int(name.removeprefix("busbra-"))
    manifest = WORK / f"{name}.csv"
    if not manifest.exists():
        subprocess.run([sys.executable, "-m", "training", "datasets", "subsample", BUSBRA, "--patients",
                        str(patients), "--seed", "0", "--out", str(manifest)], cwd=ROOT, check=True)  # fmt: skip
    return f"manifest:{manifest}"


def train(dataset: str, recipe: str) -> dict:
    out = WORK / f"{dataset}-{recipe}"
    card = out / "bundle.json"
    minutes = None
    if not card.exists():
        cmd = [sys.executable, "-m", "training", "train", "--dataset", dataset_spec(dataset), "--out", str(out)]
        if RECIPES[recipe]:
            cmd += ["--config", RECIPES[recipe]]
        log = WORK / "logs" / f"{dataset}-{recipe}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"== {dataset} / {recipe}: {' '.join(cmd[1:])} (log {log.relative_to(ROOT)})", flush=True)
        start = time.monotonic()
        with log.open("w") as handle:
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=handle, stderr=subprocess.STDOUT,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
        minutes = round((time.monotonic() - start) / 60, 1)
        (out / "bench_minutes.txt").write_text(f"{minutes}\n")
    elif (out / "bench_minutes.txt").exists():
        minutes = float((out / "bench_minutes.txt").read_text())
    bundle = read_bundle_card(out)  # the typed card (weights checked), as every reader of a bundle
    if minutes is None:  # trained outside this bench's bookkeeping: the card's own wall clock
        minutes = (bundle.training.minutes or {}).get("this_run")
    val = bundle.metrics.validation
    return {
        "dataset": dataset, "recipe": recipe, "minutes": minutes,
        "n_train": bundle.training.n_train, "n_val_images": val["n_images"], "n_val_patients": val["n_patients"],
        "dice": val["dice"], "dice_ci95": val["dice_ci95"], "auc": val["auc"], "auc_ci95": val["auc_ci95"],
        "adaptation": bundle.training.adaptation,
    }  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = ["| dataset | recipe | train / val images | val Dice [95% CI] | val AUC [95% CI] | minutes |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['recipe']} | {r['n_train']} / {r['n_val_images']} | {r['dice']:.3f} "
                     f"[{r['dice_ci95'][0]:.3f}–{r['dice_ci95'][1]:.3f}] | {r['auc']:.3f} "
                     f"[{r['auc_ci95'][0]:.3f}–{r['auc_ci95'][1]:.3f}] | {r['minutes'] or '—'} |")  # fmt: skip
    verdicts = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        by = {r["recipe"]: r["dice"] for r in rows if r["dataset"] == dataset}
        others = [v for k, v in by.items() if k != "default"]
        if "default" in by and others:
            gap = max(others) - by["default"]
            verdicts.append(f"- {dataset}: default {by['default']:.3f}, best other {max(others):.3f}, "
                            f"gap {gap:+.3f} ({'within' if gap <= 0.02 else 'NOT within'} 0.02)")  # fmt: skip
    return "\n".join(lines + [""] + verdicts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="breast,busbra-200,busbra-400")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    args = parser.parse_args()
    rows = [train(d, r) for d in args.datasets.split(",") for r in args.recipes.split(",")]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = ROOT / "bench" / "results" / f"small_data-{stamp}.json"
    out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
