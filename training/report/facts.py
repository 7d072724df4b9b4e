"""Headline sentences computed from the artifacts, shared by report and slides.

Why a separate module: the summary, the limitations and the slides all quote
the same few numbers; formatting them once guarantees the deck never shows a
figure the report does not, and every sentence is a template filled at build
time (no number is typed in).
"""

from __future__ import annotations

from dataclasses import dataclass

from training.report.artifacts import Artifacts
from training.report.fmt import get, is_number, mean_sd, num, with_ci


@dataclass(frozen=True)
class Facts:
    """One sentence per result, or None when its artifact is missing."""

    model: str
    dataset: str
    segmentation: str | None
    classification: str | None
    cross_validation: str | None
    radiologists: str | None
    external: str | None
    fusion: str | None
    auc: float | None
    external_auc: float | None


def _seg(seg: dict) -> str | None:
    if not is_number(seg.get("dice")):
        return None
    return (f"Segmentation Dice {with_ci(seg['dice'], seg.get('dice_ci95'))} (median {num(seg.get('dice_median'))}), "
            f"IoU {num(seg.get('iou'))}, HD95 {num(seg.get('hd95_px'), 1)} px over {num(seg.get('n_with_lesion'))} "
            "images with a lesion.")


def _cls(cls: dict) -> str | None:
    if not is_number(cls.get("auc")):
        return None
    return (f"Benign/malignant AUC {with_ci(cls['auc'], cls.get('auc_ci95'))}; at threshold {num(cls.get('threshold'))} "
            f"sensitivity {num(cls.get('sensitivity'))}, specificity {num(cls.get('specificity'))}; "
            f"ECE {num(cls.get('ece'))}, Brier {num(cls.get('brier'))} ({num(cls.get('n'))} images, "
            f"{num(cls.get('n_positive'))} malignant).")


def _cv(data: dict) -> str | None:
    table = data.get("table") or {}
    if not table:
        return None
    folds = data.get("folds_done") or [m.get("fold") for m in data.get("per_fold") or []]
    text = (f"Cross-validation over {len(folds) if folds else 'the finished'} fold(s): Dice "
            f"{mean_sd(table.get('segmentation.dice'))}, AUC {mean_sd(table.get('classification.auc'))} (mean ± sd)")
    pooled_auc = get(data, "pooled", "classification", "auc")
    if is_number(pooled_auc):
        text += f"; pooled out-of-fold AUC {with_ci(pooled_auc, get(data, 'pooled', 'classification', 'auc_ci95'))}"
    return text + "."


def _radiologists(data: dict) -> str | None:
    rad, model = data.get("radiologists") or {}, data.get("model") or {}
    parts = []
    if is_number(rad.get("birads_auc")):
        parts.append(f"radiologists' BI-RADS AUC {with_ci(rad['birads_auc'], rad.get('birads_auc_ci95'))}")
    if is_number(model.get("auc")):
        parts.append(f"model AUC {with_ci(model['auc'], model.get('auc_ci95'))}")
    if is_number(rad.get("sensitivity")):
        parts.append(f"radiologists' sensitivity {with_ci(rad['sensitivity'], rad.get('sensitivity_ci95'))} "
                     f"(BI-RADS ≥ {num(data.get('threshold'))})")
    key = "specificity_at_radiologist_sensitivity"
    if is_number(model.get(key)):
        parts.append(f"model specificity at that sensitivity {with_ci(model[key], model.get(key + '_ci95'))}")
    return ("On the same images: " + "; ".join(parts) + ".") if parts else None


def _external(data: dict) -> str | None:
    ext, ind = data.get("external") or {}, data.get("in_domain") or {}
    if not is_number(ext.get("auc")) and not is_number(ext.get("dice")):
        return None
    text = f"External ({ext.get('dataset', 'other site')}): AUC {with_ci(ext.get('auc'), ext.get('auc_ci95'))}, Dice {num(ext.get('dice'))}"
    if is_number(ind.get("auc")):
        text += f" vs in-domain AUC {with_ci(ind['auc'], ind.get('auc_ci95'))}, Dice {num(ind.get('dice'))}"
    if is_number(ext.get("calibration_slope")):
        text += f"; calibration slope {num(ext['calibration_slope'], 2)}"
    return text + "."


def _fusion(data: dict) -> str | None:
    rows = [r for r in data.get("rows") or [] if isinstance(r, dict) and is_number(r.get("auc"))]
    if not rows:
        return None
    best = max(rows, key=lambda r: r["auc"])
    text = "Metadata fusion: " + "; ".join(f"{r.get('model', '?')} AUC {with_ci(r['auc'], r.get('auc_ci95'))}" for r in rows)
    text += f". Best: {best.get('model', '?')}"
    if data.get("deployed") is not None:
        text += f"; deployed: {data['deployed']}"
    return text + "."


def collect(art: Artifacts) -> Facts:
    metrics = art.evaluation.data if isinstance(art.evaluation.data, dict) else {}
    rad = art.radiologists.data if isinstance(art.radiologists.data, dict) else None
    ext = art.external.data if isinstance(art.external.data, dict) else None
    fus = art.fusion.data if isinstance(art.fusion.data, dict) else None
    cv = art.cv.data if isinstance(art.cv.data, dict) else None
    return Facts(
        model=art.card.name,
        dataset=str(metrics.get("dataset") or art.card.training.dataset or "unknown dataset"),
        segmentation=_seg(metrics.get("segmentation") or {}),
        classification=_cls(metrics.get("classification") or {}),
        cross_validation=_cv(cv) if cv else None,
        radiologists=_radiologists(rad) if rad else None,
        external=_external(ext) if ext else None,
        fusion=_fusion(fus) if fus else None,
        auc=get(metrics, "classification", "auc"),
        external_auc=get(ext, "external", "auc") if ext else None,
    )
