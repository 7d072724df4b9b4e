"""Reliability sections: does the uncertainty mean something, and does the OOD guard fire when it should?

Uncertainty (issue 14.3): the risk-coverage curve of the out-of-fold
predictions (else the held-out evaluation's): keep the most certain cases
first and watch the error rate. Compared with a random ordering (the overall
error rate), the oracle (all errors last) and the free reference "distance of
P(malignant) from the threshold", which any calibrated classifier has.

Out-of-distribution guard (issue 14.2): the flag rates `python -m training ood`
measured (`ood_summary.json` in --out or the bundle folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.metrics.risk_coverage import RiskCoverage, risk_coverage
from training.report.artifacts import Artifacts, find_file
from training.report.doc import Bullets, Figure, Paragraph, Section, not_available, table
from training.report.fmt import num, pct

UNCERTAINTY_COMMAND = "python -m training cv --dataset SPEC --out DIR (oof_predictions.csv with an uncertainty column)"
OOD_COMMAND = "python -m training ood --model {model} --out {out}"


def prediction_errors(df: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(uncertainty, error, probability) of the labelled benign/malignant rows; errors are the calls as made
    (`pred_label`, each fold at its own threshold) when recorded, else P >= threshold."""
    need = {"uncertainty", "probability", "malignant"}
    if df is None or not need <= set(df.columns):
        return None
    rows = df[df["malignant"].notna() & df["probability"].notna() & df["uncertainty"].notna()]
    if "true_label" in rows:
        rows = rows[rows["true_label"].isin(["benign", "malignant"])]
    if rows.empty:
        return None
    y = rows["malignant"].to_numpy(int).astype(bool)
    p = rows["probability"].to_numpy(float)
    called = (rows["pred_label"].astype(str) == "malignant").to_numpy() if "pred_label" in rows else p >= threshold
    return rows["uncertainty"].to_numpy(float), called != y, p


def risk_coverage_figure(curves: dict[str, RiskCoverage], path: Path) -> Path:
    from training.figures import PRED_COLOUR, TRUTH_COLOUR, _save, plt

    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    colours = iter([PRED_COLOUR, TRUTH_COLOUR, "#009E73"])
    for name, rc in curves.items():
        ax.plot(rc.coverage, rc.risk, color=next(colours), label=f"{name} (AURC {rc.aurc:.3f})")
    first = next(iter(curves.values()))
    ax.axhline(first.random_aurc, ls="--", color="grey", label=f"random order ({first.random_aurc:.3f})")
    k = np.arange(1, first.n + 1)
    oracle = np.maximum(0, k - (first.n - first.errors)) / k
    ax.plot(first.coverage, oracle, ls=":", color="black", label=f"oracle ({first.oracle_aurc:.3f})")
    ax.set(xlabel="coverage (most certain fraction of cases kept)", ylabel="error rate of kept cases",
           xlim=(0, 1), ylim=(0, max(0.05, float(max(rc.risk.max() for rc in curves.values())) * 1.1)),
           title="Risk-coverage")
    ax.legend(loc="upper left", fontsize=7)
    return _save(fig, path)


def uncertainty(art: Artifacts, figures_dir: Path) -> Section:
    s = Section("uncertainty", "Results: does the uncertainty mean something?")
    threshold = float(art.threshold if art.threshold is not None else 0.5)
    source, df = ("out-of-fold predictions of the cross-validation", art.oof) if art.oof is not None \
        else ("held-out predictions of the evaluation", art.predictions)
    data = prediction_errors(df, threshold)
    if data is None:
        return s.add(not_available("Predictions with an uncertainty column", UNCERTAINTY_COMMAND))
    u, errors, p = data
    model = risk_coverage(u, errors)
    reference = risk_coverage(-np.abs(p - threshold), errors)
    rows = [(name, num(rc.aurc), num(rc.error_auc), pct(rc.risk_at(0.5)), pct(rc.risk_at(0.8)), pct(rc.risk_at(1.0)))
            for name, rc in (("reported uncertainty", model), ("reference: |P - threshold|", reference))]
    oracle = risk_coverage(errors.astype(float), errors)  # every wrong call less certain than every right one
    rows += [("random order", num(model.random_aurc), "0.500", pct(model.random_aurc), pct(model.random_aurc),
              pct(model.random_aurc)),
             ("oracle (errors last)", num(oracle.aurc), num(oracle.error_auc), pct(oracle.risk_at(0.5)),
              pct(oracle.risk_at(0.8)), pct(oracle.risk_at(1.0)))]
    informative = np.isfinite(model.error_auc) and model.error_auc >= 0.55 and model.aurc < model.random_aurc
    verdict = (f"Higher uncertainty goes with more errors: the 50% most certain cases are wrong "
               f"{pct(model.risk_at(0.5))} of the time against {pct(model.risk_at(1.0))} overall (error AUC "
               f"{num(model.error_auc)}; AURC {num(model.aurc)} vs {num(model.random_aurc)} for a random order)."
               if informative else
               f"The uncertainty hardly separates errors from correct answers (error AUC {num(model.error_auc)}, AURC "
               f"{num(model.aurc)} vs {num(model.random_aurc)} random): do not read it as a confidence.")
    better = ("It ranks errors better than the distance of P(malignant) from the threshold"
              if model.aurc < reference.aurc else
              "It ranks errors no better than the distance of P(malignant) from the threshold, which every "
              "calibrated classifier offers for free")
    figures_dir.mkdir(parents=True, exist_ok=True)
    figure = risk_coverage_figure({"reported uncertainty": model, "|P - threshold|": reference},
                                  figures_dir / "risk_coverage.png")
    s.add(Paragraph(f"Source: {source} ({model.n} labelled images, {model.errors} wrong calls). Cases are sorted "
                    "from most to least certain; the curve is the error rate of the cases kept at each coverage. "
                    "Images the out-of-distribution guard flags are never shown with a 'low' uncertainty."),
          Bullets((verdict, better + ".")),
          table(("ordering", "AURC", "error AUC", "risk @50%", "risk @80%", "risk @100%"), rows,
                "Area under the risk-coverage curve (lower is better); error AUC = P(a wrong call is more "
                "uncertain than a right one)."),
          Figure(figure, "Risk-coverage: error rate among the most certain cases as coverage grows.", 0.6))
    return s


def ood(art: Artifacts) -> Section:
    s = Section("ood", "Results: out-of-distribution guard")
    has = bool(art.card.ood)
    path = find_file("ood_summary.json", [art.out, art.model_dir], max_depth=2)
    if path is None:
        s.add(Paragraph(f"The bundle {'carries' if has else 'does not carry'} a fingerprint of its training images."))
        return s.add(not_available("Flag rates of the out-of-distribution guard (ood_summary.json)",
                                   OOD_COMMAND.format(model=art.model_dir, out=art.out)))
    data = json.loads(path.read_text())
    rows = [(name, group, num(v.get("n")), num(v.get("flagged")), pct(v.get("rate")))
            for name, part in (data.get("sets") or {}).items() for group, v in (part.get("groups") or {}).items()]
    s.add(Paragraph(f"Source: {path}. The fingerprint describes {data.get('n_fingerprint', '?')} training images "
                    f"({data.get('trained_on', '?')}): DICOM modality, colour, image size and spacing, intensity and "
                    "speckle statistics, and a Gaussian density of the segmentation encoder's features. An image is "
                    f"flagged when a fact differs or a distance exceeds the training images' "
                    f"{100 * float(data.get('quantile', 0.99)):.0f}th percentile (measured out of sample)."),
          table(("set", "group", "images", "flagged", "flag rate"), rows,
                "Share of images the guard flags per set: held-out patients of the training source should mostly "
                "pass, other modalities and colour images should be flagged."))
    return s
