"""`python -m training descriptors`: BI-RADS lexicon descriptors of every expert mask, and what they are worth.

Measures `pipeline.descriptors` on each benign/malignant image's EXPERT mask
and writes to --out:

* `descriptors.csv` - case_id, patient_id, fold, label, birads, every numeric
  descriptor and model feature, the words, the suspicion count and the
  out-of-fold descriptor-model score (`descriptor_score_oof`, log-odds);
* `descriptors.json` - per-feature AUC for malignancy; agreement of our words
  with the radiologists' BI-RADS category (shares, Spearman); for datasets
  with the readers' own descriptors (BrEaST-Lesions-USG) Cohen's kappa per
  descriptor; and the patient-level cross-validated AUC (95 % CI by patient
  bootstrap) of the descriptor-only logistic model beside the readers'
  BI-RADS AUC on the same images, with the paired difference;
* `descriptors.md` - the headline table.

No CNN is involved: this is the ceiling of the descriptors with perfect
masks, and the fit of the descriptor level of `pipeline.stacking`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.datasets import load_cases
from pipeline.descriptors import DESCRIPTOR_FEATURES
from pipeline.metrics.jsonable import to_jsonable

log = logging.getLogger(__name__)
SIZE_FEATURE = "log_area_fraction"


def add_arguments(p) -> None:
    p.add_argument("--dataset", required=True, help="dataset spec, e.g. busbra:../shared/data/bus-bra")
    p.add_argument("--out", required=True, help="output folder, e.g. results/descriptors-busbra")
    p.add_argument("--official-folds", action="store_true",
                   help="use the dataset's own patient folds (BUS-BRA 5-fold-cv.csv) instead of stratified k folds")
    p.add_argument("--folds", type=int, default=5, help="k of the patient-grouped folds without --official-folds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic model")


def _reader_table(cases) -> pd.DataFrame:
    rows = [{"case_id": c.case_id, **{k: v for k, v in c.metadata.items() if k.startswith("radiologist_")}}
            for c in cases if c.label != "normal"]
    return pd.DataFrame(rows) if rows and len(rows[0]) > 1 else pd.DataFrame()


def _markdown(summary: dict) -> str:
    cv = summary["cross_validation"]
    lines = [f"# Descriptors of expert masks: {summary['dataset']}", "",
             f"{cv['n']} images, {cv['n_patients']} patients, {cv['n_malignant']} malignant; "
             f"folds: {summary['folds']}; CPU per image: median {summary['timing']['cpu_ms_median']:.1f} ms, "
             f"p95 {summary['timing']['cpu_ms_p95']:.1f} ms.", "",
             "| model (out-of-fold) | AUC | 95% CI (patient bootstrap) |", "|---|---|---|"]
    for row in cv["models"]:
        lo, hi = row["auc_ci95"]
        lines.append(f"| {row['model']} | {row['auc']:.3f} | {lo:.3f}-{hi:.3f} |")
    if "radiologists_birads" in cv:
        r = cv["radiologists_birads"]
        lines.append(f"| radiologists' BI-RADS (same images) | {r['auc']:.3f} | "
                     f"{r['auc_ci95'][0]:.3f}-{r['auc_ci95'][1]:.3f} |")
        t = cv["paired_vs_birads"]
        p = f"p < {1 / summary['n_boot']:.2g}" if t["p_value"] == 0 else f"p = {t['p_value']:.3g}"
        lines += ["", f"Descriptor model - BI-RADS: {t['delta_auc']:+.3f} "
                      f"(95% CI {t['delta_auc_ci95'][0]:+.3f} to {t['delta_auc_ci95'][1]:+.3f}, {p}, {t['method']})."]
    agreement = summary.get("birads_agreement")
    if agreement:
        s = agreement["spearman_suspicion_count_vs_birads"]
        lines += ["", f"Suspicion count vs BI-RADS: Spearman rho = {s['rho']:.2f} (n = {agreement['n']}).", "",
                  "| word | " + " | ".join(next(iter(agreement["share_of_word_by_birads"].values()))) + " |",
                  "|---|" + "---|" * len(next(iter(agreement["share_of_word_by_birads"].values())))]
        for word, shares in agreement["share_of_word_by_birads"].items():
            lines.append(f"| {word} | " + " | ".join(f"{v:.0%}" for v in shares.values()) + " |")
    readers = summary.get("reader_agreement")
    if readers:
        lines += ["", "| our word vs the reader's | agreement | Cohen's kappa |", "|---|---|---|"]
        for name, item in readers.items():
            lines.append(f"| {name} | {item['agreement']:.0%} | {item['cohen_kappa']:.2f} |")
    lines += ["", "| feature | AUC for malignancy |", "|---|---|"]
    for name, item in list(summary["feature_auc"].items())[:12]:
        lines.append(f"| {name} | {item['auc']:.3f} |")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    from training.descriptor_cv import assign_folds, cv_summary, out_of_fold_scores, refit_all
    from training.descriptor_report import birads_agreement, descriptor_table, feature_aucs, reader_agreement

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cases = load_cases(args.dataset)
    table, timing = descriptor_table(cases)
    log.info("described %d images: median %.1f ms CPU each", len(table), timing["cpu_ms_median"])
    table[SIZE_FEATURE] = np.log(np.maximum(table["area_px"], 1) / (table["image_height"] * table["image_width"]))
    folds = assign_folds(table, args.official_folds, args.folds, args.seed)
    table["fold"] = folds
    main = "descriptors (logistic, DESCRIPTOR_FEATURES)"
    scores = {main: out_of_fold_scores(table, folds, DESCRIPTOR_FEATURES, args.c),
              "descriptors + lesion size (log area fraction)":
                  out_of_fold_scores(table, folds, (*DESCRIPTOR_FEATURES, SIZE_FEATURE), args.c)}
    table["descriptor_score_oof"] = scores[main]
    summary = {
        "dataset": args.dataset, "masks": "expert (the dataset's own)",
        "folds": "official (dataset)" if args.official_folds else f"stratified patient-grouped {args.folds}-fold, seed {args.seed}",
        "timing": timing, "features": list(DESCRIPTOR_FEATURES), "c": args.c, "n_boot": args.n_boot,
        "cross_validation": cv_summary(table, folds, scores, args.n_boot, args.seed),
        "feature_auc": feature_aucs(table),
        "birads_agreement": birads_agreement(table),
        "reader_agreement": reader_agreement(table, _reader_table(cases)),
        "descriptor_model_refit_on_all": refit_all(table, DESCRIPTOR_FEATURES, args.c),
        "command": f"python -m training descriptors --dataset {args.dataset} --out {args.out}"
                   + (" --official-folds" if args.official_folds else f" --folds {args.folds} --seed {args.seed}"),
    }
    summary = to_jsonable(summary)
    table.to_csv(out / "descriptors.csv", index=False, float_format="%.6g")
    (out / "descriptors.json").write_text(json.dumps(summary, indent=2))
    markdown = _markdown(summary)
    (out / "descriptors.md").write_text(markdown)
    print(markdown)
    return 0
