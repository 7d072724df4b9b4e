"""The model card as the Models page shows it: identity, validation warnings, evaluations, subgroups.

Pure functions of a `BundleCard` (no callbacks, no services), so the page module keeps only its layout
and the callbacks that switch the active bundle, and the tests read a card's presentation directly.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from pipeline.bundle import BrokenBundle
from pipeline.card import BundleCard


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def validation(card: BundleCard | None) -> dict[str, Any] | None:
    """The card's `metrics.validation` (written by `train`), or None."""
    return None if card is None or card.metrics.validation is None else dict(card.metrics.validation)


def card_warnings(card: BundleCard | None) -> list[str]:
    """The plain-language warnings to show for a bundle (from its validation report); [] when none."""
    warnings = (validation(card) or {}).get("warnings")
    if not isinstance(warnings, list):
        return []
    return [w.strip() for w in warnings if isinstance(w, str) and w.strip()]


def _ci_text(ci: Any, digits: int = 2) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_num(c) is not None for c in ci):
        return f" [{ci[0]:.{digits}f}–{ci[1]:.{digits}f}]"
    return ""


def validation_lines(card: BundleCard | None) -> list[str]:
    """The validation figures as short texts ('AUC 0.892 [0.85–0.94]'); [] when the card has none."""
    val = validation(card)
    if val is None:
        return []
    lines = []
    if _num(val.get("n_images")) is not None:
        lines.append(f"{int(val['n_images']):,} images" + (f" of {int(val['n_patients']):,} patients"
                                                          if _num(val.get("n_patients")) is not None else ""))
    for key, name, digits in (("dice", "Dice", 3), ("iou", "IoU", 3), ("auc", "AUC", 3), ("sensitivity", "sensitivity", 2),
                              ("specificity", "specificity", 2)):
        if _num(val.get(key)) is not None:
            lines.append(f"{name} {val[key]:.{digits}f}{_ci_text(val.get(key + '_ci95'))}")
    if _num(val.get("training_dice")) is not None:
        lines.append(f"training Dice {val['training_dice']:.3f}")
    return lines


def warnings_alert(card: BundleCard | None, compact: bool = False) -> Any:
    """A warning box listing the bundle's warnings, or "" when it has none."""
    warnings = card_warnings(card)
    if not warnings:
        return ""
    title = f"{len(warnings)} validation warning{'s' if len(warnings) > 1 else ''}"
    return dbc.Alert([html.B(("⚠ " + title) if compact else f"⚠ This model has {title}"),
                      html.Ul([html.Li(w) for w in warnings], className="mb-0 mt-1")],
                     color="warning", className="py-2 mb-2 ll-model-warnings")


def bundle_preview(card: BundleCard | None) -> Any:
    """Under the switch: the selected bundle's validation figures and warnings, before anyone activates it."""
    if card is None:
        return ""
    lines = validation_lines(card)
    figures = (html.Small("Validation: " + " · ".join(lines), className="d-block text-muted mb-1") if lines else
               html.Small("No validation report in this bundle (trained before issue 19, or a CV ensemble).",
                          className="d-block text-muted mb-1"))
    return html.Div([figures, warnings_alert(card, compact=True)])


def confirm_body(card: BundleCard, warnings: list[str]) -> list[Any]:
    """The confirmation dialog's text: which bundle, which warnings, what activating does."""
    return [html.P(["Validation of ", html.B(f"{card.name} v{card.version}"), " found ",
                    html.B(f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}"), ":"]),
            html.Ul([html.Li(w) for w in warnings]),
            html.P("Activating it changes the model behind every user's next prediction. Activate it anyway?",
                   className="mb-0")]


def evaluations(card: BundleCard) -> list[dict[str, Any]]:
    """Each evaluation a card records, as one row: where it comes from, images, AUC (+CI), Dice, sens/spec, ECE.

    Cards write them in several shapes: `metrics.holdout` (train --test-fraction / --holdout-fold),
    `metrics.pooled_oof` and `metrics.cross_validation` (CV ensembles: pooled out-of-fold predictions,
    mean of the folds), or flat `metrics.auc` / `metrics.dice` (older cards).
    """
    metrics = card.metrics.to_json()
    rows = []
    for key, title in (("holdout", "held-out test patients"), ("pooled_oof", "cross-validation, pooled out-of-fold")):
        section = metrics.get(key)
        if isinstance(section, dict):
            cls, seg = section.get("classification") or {}, section.get("segmentation") or {}
            rows.append({"evaluation": title, "images": section.get("n_images"), "auc": _num(cls.get("auc")),
                         "auc_ci": cls.get("auc_ci95"), "dice": _num(seg.get("dice")),
                         "sensitivity": _num(cls.get("sensitivity")), "specificity": _num(cls.get("specificity")),
                         "ece": _num(cls.get("ece")), "subgroups": section.get("subgroups") or []})
    table = metrics.get("cross_validation")
    if isinstance(table, dict):
        folds = len(_dig(table, "classification.auc", "folds") or [])
        rows.append({"evaluation": f"cross-validation, mean of {folds} folds" if folds else "cross-validation, mean",
                     "images": None, "auc": _num(_dig(table, "classification.auc", "mean")), "auc_ci": None,
                     "dice": _num(_dig(table, "segmentation.dice", "mean")),
                     "sensitivity": _num(_dig(table, "classification.sensitivity", "mean")),
                     "specificity": _num(_dig(table, "classification.specificity", "mean")),
                     "ece": _num(_dig(table, "classification.ece", "mean")), "subgroups": []})
    val = validation(card)
    if val is not None:
        rows.append({"evaluation": "validation patients (mildly optimistic)", "images": val.get("n_images"),
                     "auc": _num(val.get("auc")), "auc_ci": val.get("auc_ci95"), "dice": _num(val.get("dice")),
                     "sensitivity": _num(val.get("sensitivity")), "specificity": _num(val.get("specificity")),
                     "ece": _num(_dig(val, "full", "classification", "ece")), "subgroups": []})
    if not rows and (_num(metrics.get("auc")) is not None or _num(metrics.get("dice")) is not None):
        rows.append({"evaluation": "recorded", "images": None, "auc": _num(metrics.get("auc")), "auc_ci": None,
                     "dice": _num(metrics.get("dice")), "sensitivity": None, "specificity": None, "ece": None,
                     "subgroups": []})
    return rows


def headline(card: BundleCard) -> tuple[float | None, float | None]:
    """(AUC, Dice) for the bundle table: the first evaluation that has them."""
    rows = evaluations(card)
    auc = next((r["auc"] for r in rows if r["auc"] is not None), None)
    dice = next((r["dice"] for r in rows if r["dice"] is not None), None)
    return auc, dice


def _f(value: Any, digits: int = 3) -> str:
    return "—" if _num(value) is None else f"{value:.{digits}f}"


def _kv(items: list[tuple[str, Any]]) -> html.Dl:
    return html.Dl([part for k, v in items if v not in (None, "", [], {})
                    for part in (html.Dt(k, className="col-sm-5"), html.Dd(str(v), className="col-sm-7"))],
                   className="ll-kv row mb-0")


def training_items(card: BundleCard) -> list[tuple[str, Any]]:
    training = card.training
    images = None
    if training.n_train is not None:
        images = f"{training.n_train:,} training, {training.n_val or 0:,} validation"
        if training.split.n_test:
            images += f", {training.split.n_test:,} held-out test"
    return [
        ("Dataset", training.dataset),
        ("Data sources", "; ".join(f"{s.name} ({s.licence})" for s in card.data_sources)),
        ("Images", images),
        ("Split", training.split.kind),
        ("Epochs", ", ".join(f"{k} {v}" for k, v in training.epochs.items())),
        ("Training time", f"{training.minutes['this_run']} min" if training.minutes.get("this_run") else None),
        ("Seed", training.seed),
    ]


def evaluation_table(rows: list[dict]) -> Any:
    if not rows:
        return html.P("No evaluation recorded in this bundle (train with --test-fraction, or build a CV ensemble).",
                      className="text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Evaluation", "Images", "AUC [95% CI]", "Dice", "Sens.",
                                                    "Spec.", "ECE")]))
    body = []
    for r in rows:
        ci = r["auc_ci"]
        auc = _f(r["auc"]) + (f" [{ci[0]:.2f}–{ci[1]:.2f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2
                              and all(_num(c) is not None for c in ci) else "")
        images = "—" if _num(r["images"]) is None else f"{int(r['images']):,}"
        body.append(html.Tr([html.Td(r["evaluation"]), html.Td(images),
                             html.Td(auc), html.Td(_f(r["dice"])), html.Td(_f(r["sensitivity"], 2)),
                             html.Td(_f(r["specificity"], 2)), html.Td(_f(r["ece"], 2))]))
    return dbc.Table([head, html.Tbody(body)], size="sm", bordered=False, className="mb-2")


SUBGROUP_NAMES = {"all": "All", "age": "Age", "age_band": "Age band", "sex": "Sex", "device": "Device",
                  "size": "Lesion size", "birads": "BI-RADS"}


def subgroup_table(subgroups: list[dict]) -> Any:
    """A subgroup list as a small table (collapsed): never a Python list on the page."""
    rows = [g for g in subgroups if isinstance(g, dict)]
    if not rows:
        return ""
    head = html.Thead(html.Tr([html.Th(h) for h in ("Group", "Subgroup", "Images", "Malignant", "AUC", "Dice")]))
    body = [html.Tr([html.Td(SUBGROUP_NAMES.get(str(g.get("column")), str(g.get("column", "")))),
                     html.Td(str(g.get("subgroup", ""))), html.Td(g.get("n", "")), html.Td(g.get("n_positive", "")),
                     html.Td(_f(g.get("auc"), 2)), html.Td(_f(g.get("dice_mean"), 2))]) for g in rows]
    return html.Details([html.Summary(f"Subgroups ({len(rows)})"),
                         html.Div(dbc.Table([head, html.Tbody(body)], size="sm", bordered=False),
                                  className="ll-subgroups")], className="mb-2")


def card_view(card: BundleCard | None, loaded: dict | None = None) -> html.Div:
    """The active bundle in one screen: identity, intended use, training, evaluations, thresholds.

    The raw bundle.json (config, architecture, calibration) stays in the bundle folder; subgroups
    are a collapsed table."""
    if card is None:
        return dbc.Alert("No valid model bundle found. Train one with `python -m training train …` "
                         "or point LESIONLENS_MODELS at a folder of bundles.", color="warning")
    state = (f"loaded in this worker ({loaded['load_seconds']:.1f} s)" if loaded and loaded.get("load_seconds")
             else "loads in each worker when it starts")
    rows = evaluations(card)
    subgroups = next((r["subgroups"] for r in rows if r["subgroups"]), [])
    return html.Div(
        [
            html.H3([card.name, html.Small(f"  v{card.version}", className="text-muted")]),
            html.P([f"Created {(card.created or '?')[:19]}", " · ", state], className="text-muted mb-2"),
            warnings_alert(card),
            dbc.Alert(["Intended use: ", html.B(card.intended_use)], color="info", className="py-2"),
            html.H5("Training", className="mt-2"),
            _kv(training_items(card)),
            html.H5("Evaluation", className="mt-3"),
            evaluation_table(rows),
            _validation_note(card),
            subgroup_table(subgroups),
            html.H5("Decision", className="mt-3"),
            _kv([("Malignant if calibrated P(malignant) ≥", _f(card.thresholds.malignant, 3)),
                 ("Segmentation threshold", _f(card.thresholds.segmentation, 2)),
                 ("Calibration", "platt" if card.calibration is not None else None)]),
            html.Small(f"Full card: {card.path or ''}/bundle.json", className="text-muted d-block mt-2"),
        ]
    )


def _validation_note(card: BundleCard) -> Any:
    val = validation(card)
    if val is None:
        return ""
    parts = []
    if _num(val.get("n_patients")) is not None:
        parts.append(f"validation: {int(val['n_patients']):,} patients")
    if _num(val.get("training_dice")) is not None and _num(val.get("dice")) is not None:
        parts.append(f"Dice {val['training_dice']:.3f} on training images vs {val['dice']:.3f} on validation")
    if isinstance(val.get("note"), str) and val["note"]:
        parts.append(val["note"])
    return html.Small("; ".join(parts), className="text-muted d-block mb-2") if parts else ""


def other_warnings(cards: list[BundleCard | BrokenBundle], active: str | None) -> Any:
    """Collapsed warning lists of the bundles that are not active (the active one's are on its card)."""
    items = [html.Details([html.Summary(f"⚠ {c.name} v{c.version}: {len(card_warnings(c))} "
                                        f"warning{'s' if len(card_warnings(c)) > 1 else ''}"),
                           html.Ul([html.Li(w) for w in card_warnings(c)], className="small mb-1")], className="mt-2")
             for c in cards if isinstance(c, BundleCard) and c.name != active and card_warnings(c)]
    return html.Div(items) if items else ""


def bundle_rows(cards: list[BundleCard | BrokenBundle], active: str | None) -> list[dict]:
    rows = []
    for c in cards:
        if isinstance(c, BrokenBundle):
            rows.append({"name": c.name, "version": "", "created": "", "auc": None, "dice": None, "warnings": None,
                         "status": "error: " + c.error})
            continue
        auc, dice = headline(c)
        rows.append(
            {
                "name": c.name,
                "version": c.version,
                "created": (c.created or "")[:10],
                "auc": None if auc is None else round(auc, 3),
                "dice": None if dice is None else round(dice, 3),
                "warnings": len(card_warnings(c)),
                "status": "active" if c.name == active else "ok",
            }
        )
    return rows
