"""`python -m training external`: a bundle on a dataset it never saw.

Refuses (exit 2, plain message) when the dataset is the bundle's own training
data, or the data of a bundle it was initialised from. Otherwise runs the same
evaluation as `evaluate` (predictions.csv, metrics.json, figures, subgroups,
radiologists where BI-RADS exists) and adds external.json / external.md
(in-domain beside external, one row per metric) and
figures/calibration_external.png, since calibration is what domain shift
breaks first and an in-domain threshold means little elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("--dataset", required=True, help="dataset spec the bundle was NOT trained on")
    p.add_argument("--out", required=True, help="report folder, e.g. reports/NAME-on-X")
    p.add_argument("--in-domain", metavar="PATH",
                   help="in-domain metrics.json / fold_metrics.json / cv_summary.json (default: the bundle's "
                        "cross-validated metrics, or fold_metrics.json beside a CV fold bundle)")
    p.add_argument("--limit", type=int, help="evaluate only the first N cases (quick checks)")
    p.add_argument("--n-boot", type=int, default=1000)


def run(args) -> int:
    from pipeline.bundle import read_bundle_card
    from training.external import calibration_stats, external_markdown, in_domain_summary, refuse_if_seen

    bundle_dir = Path(args.model)
    card = read_bundle_card(bundle_dir)
    refuse_if_seen(card, args.dataset)  # before loading any weights: a refusal is instant
    in_domain = in_domain_summary(bundle_dir, card, args.in_domain)

    from training.cmd_evaluate import evaluate_bundle
    from training.external import summary_from_metrics
    from training.figures_clinical import calibration_external_figure

    out = Path(args.out)
    _, _, df, metrics = evaluate_bundle(str(bundle_dir), args.dataset, out, limit=args.limit, n_boot=args.n_boot)
    external = {"dataset": args.dataset, **summary_from_metrics(metrics, df)}
    external["threshold"] = metrics["classification"].get("threshold")
    result = {"model": card.name, "bundle": str(bundle_dir),
              "trained_on": card.training.dataset, "in_domain": in_domain,
              "external": external}
    (out / "external.json").write_text(json.dumps(result, indent=2))
    (out / "external.md").write_text(external_markdown(result))
    rows = df[df["malignant"].notna()]
    if rows["malignant"].nunique() == 2:
        y, p = rows["malignant"].to_numpy(int), rows["probability"].to_numpy(float)
        stats = {**external, **calibration_stats(y, p), "title": f"Calibration on {args.dataset.split(':')[0]} (external)"}
        calibration_external_figure(y, p, stats, out / "figures" / "calibration_external.png")
    print((out / "external.md").read_text())
    return 0
