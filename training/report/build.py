"""Assemble the report and the slide deck from one set of loaded artifacts.

Why both here: the deck is a condensed view of the report — the same
`Artifacts`, the same `Facts` sentences and, where possible, the same section
builders — so a number can only change in both or in neither.
"""

from __future__ import annotations

from pathlib import Path

from training.report import sections_data as data_sections
from training.report import sections_evidence as evidence
from training.report import sections_reliability as reliability
from training.report import sections_results as result_sections
from training.report.artifacts import Artifacts
from training.report.claim import claim_section
from training.report.doc import Block, Bullets, Document, Figure, Note, Paragraph, Section, Table, not_available
from training.report.facts import Facts, collect
from training.report.fmt import num
from training.report.history import plot_history
from training.report.sections_results import CAPTIONS


def _meta(art: Artifacts, facts: Facts) -> list[tuple[str, str]]:
    return [("model", f"{facts.model} (version {art.card.version}, {len(art.card.members)} member(s))"),
            ("bundle", str(art.model_dir)), ("trained on", str(art.card.training.dataset or "?")),
            ("evaluated on", facts.dataset), ("code commit", str(art.card.provenance.git_commit or "not recorded")),
            ("intended use", art.card.intended_use)]


def summary(art: Artifacts, facts: Facts) -> Section:
    s = Section("summary", "Structured summary", claim={1: "yes", 2: "yes"})
    s.add(Paragraph("Deep-learning (U-Net segmentation + convolutional classifier) study of breast-ultrasound lesion "
                    "segmentation and benign/malignant classification; retrospective, public data; patient-level "
                    "held-out evaluation. All numbers below are read from saved artifacts when this report was built."))
    lines = [facts.segmentation, facts.classification, facts.cross_validation, facts.radiologists, facts.external,
             facts.fusion]
    s.add(Bullets(tuple(line for line in lines if line) or ("No evaluation artifacts were found.",)))
    return s


def methods(art: Artifacts) -> Section:
    return Section("evaluation-methods", "Evaluation methods", claim={28: "yes", 29: "yes"}).add(Paragraph(
        "Segmentation: Dice and IoU per image at the original resolution, averaged over images whose expert mask has a "
        "lesion; HD95 in pixels; images without a lesion count as false detections when the model reports one. "
        "Classification: AUC, sensitivity, specificity, PPV, NPV, F1 at the bundle's threshold (Youden's J on validation "
        "patients), Brier score and expected calibration error (10 equal-width bins). 95% confidence intervals are "
        "percentile bootstraps over patients (1,000 resamples unless stated), since several images of one patient are "
        "not independent. Cross-validation reports mean ± sd over folds and pooled out-of-fold estimates."))


def build_report(art: Artifacts, figures_dir: Path) -> Document:
    facts = collect(art)
    figs = result_sections.eval_figures(art, figures_dir)
    sections = [summary(art, facts), data_sections.intro(art), data_sections.data(art), data_sections.partitions(art),
                data_sections.model(art), data_sections.training(art, figures_dir), methods(art),
                *result_sections.results(art, figs), result_sections.cross_validation(art),
                result_sections.subgroups(art), reliability.uncertainty(art, figures_dir), reliability.ood(art),
                evidence.radiologists(art, facts), evidence.fusion(art, facts),
                evidence.external(art, facts), result_sections.errors(art, figs), evidence.limitations(art, facts),
                evidence.implications(art, facts), evidence.other(art)]
    sections.append(claim_section(sections + [data_sections.config_appendix(art)]))
    sections.append(data_sections.config_appendix(art))
    return Document(f"Lesion Lens — clinical evidence report: {facts.model}",
                    "Breast-ultrasound lesion segmentation and benign/malignant classification. "
                    "Research use only — not a medical device.", _meta(art, facts), sections)


def _first(section: Section, kinds: tuple[type, ...]) -> Block | None:
    return next((b for b in section.blocks if isinstance(b, kinds)), None)


def _slide(key: str, title: str, lines: list[str | None], *blocks: Block | None) -> Section:
    s = Section(key, title)
    kept = tuple(line for line in lines if line)
    if kept:
        s.add(Bullets(kept))
    return s.add(*blocks)


def build_slides(art: Artifacts, figures_dir: Path) -> Document:
    facts = collect(art)
    figs = result_sections.eval_figures(art, figures_dir)
    tr = art.card.training
    pre = art.card.preprocessing
    models = art.card.models
    data_sec = data_sections.data(art)
    characteristics = next((b for b in data_sec.blocks if isinstance(b, Table) and b.caption.startswith("Case")), None)
    curves = plot_history(art.history, figures_dir / "training_curves.png") if art.history.found else None
    slides = [
        _slide("data", "Data", [
            f"Training data: {tr.dataset or '?'}; evaluated on {facts.dataset}.",
            f"Split: {tr.split.kind or '?'} (by patient); {num(tr.n_train)} training / {num(tr.n_val)} "
            "validation images.",
            f"Preprocessing: long side {num(pre.work_max_side)} px, per-image standardisation "
            f"({pre.normalisation}); segmenter {num(pre.seg_input_size)} px, classifier {num(pre.cls_input_size)} px crop."],
            characteristics),
        _slide("method", "Method", [
            "Segmentation: " + ", ".join(f"{k} {v}" for k, v in (models.get("segmentation") or {}).items()
                                         if k in ("input_size", "base_filters", "depth", "block")),
            "Classification: " + ", ".join(f"{k} {v}" for k, v in (models.get("classifier") or {}).items()
                                           if k in ("input_size", "backbone", "stages", "base_filters")),
            f"Epochs {num(tr.epochs.get('segmentation'))} + {num(tr.epochs.get('classifier'))}; "
            f"minutes {num(art.history.minutes.get('segmentation'), 1)} + {num(art.history.minutes.get('classifier'), 1)}.",
            "Platt calibration and Youden threshold on validation patients; patient-bootstrap 95% CIs."],
            Figure(curves, "Training curves (train solid, validation dashed)") if curves else None),
        _slide("segmentation", "Results: segmentation", [facts.segmentation, facts.cross_validation],
               Figure(figs["overlays"], "Best / median / worst cases", 0.95) if "overlays" in figs else
               Figure(figs["dice_hist"], CAPTIONS["dice_hist"]) if "dice_hist" in figs else None,
               None if facts.segmentation else not_available("Segmentation results", art.evaluation.command)),
        _slide("classification", "Results: classification", [facts.classification],
               *[Figure(figs[k], CAPTIONS[k]) for k in ("roc", "calibration") if k in figs],
               None if facts.classification else not_available("Classification results", art.evaluation.command)),
    ]
    rad = evidence.radiologists(art, facts)
    slides.append(_slide("radiologists", "Model vs radiologists", [facts.radiologists],
                         _first(rad, (Table,)) if art.radiologists.found else _first(rad, (Note,))))
    ext = evidence.external(art, facts)
    slides.append(_slide("external", "External validation", [facts.external], _first(ext, (Table, Note))))
    fus = evidence.fusion(art, facts)
    fusion_tables = [b for b in fus.blocks if isinstance(b, Table)][:2] or [_first(fus, (Note,))]
    slides.append(_slide("fusion", "Metadata fusion", [facts.fusion], *fusion_tables))
    slides.append(Section("limitations", "Limitations").add(_first(evidence.limitations(art, facts), (Bullets,))))
    imp = evidence.implications(art, facts)
    slides.append(Section("recommendations", "Recommendations for clinical use").add(
        _first(imp, (Note,)), _first(imp, (Bullets,))))
    return Document(f"Lesion Lens: {facts.model}", "Breast-ultrasound lesion segmentation and classification — "
                    "research use only, not a medical device", _meta(art, facts)[:4], slides, kind="slides")
