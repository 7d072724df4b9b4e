"""Clinical-evidence sections: radiologists, metadata fusion, external
validation, limitations, implications (CLAIM 32, 38, 39, 41).

Why generic rendering: these JSON files come from other commands (`fuse`,
`radiologists`, `external`) whose keys may grow; every scalar is shown with
its `_ci95` sibling, known keys get readable labels, and a missing or
unreadable file becomes a visible note naming the command that makes it.
"""

from __future__ import annotations

from collections.abc import Callable

from training.report.artifacts import Artifact, Artifacts
from training.report.doc import Bullets, Figure, Note, Paragraph, Section, not_available, table
from training.report.facts import Facts
from training.report.fmt import first_records, get, is_number, num, records_table, scalar_rows, side_by_side
from training.report.sections_results import subgroup_blocks


def _missing(section: Section, art: Artifact, what: str) -> Section:
    section.claim = {}
    if art.problem:
        section.add(Note(f"{what}: {art.problem}."))
    return section.add(not_available(what, art.command))


def _from_json(section: Section, artifact: Artifact, what: str, fill: Callable[[dict], object]) -> Section:
    """`section` filled by `fill(data)` from the artifact's JSON object, or, when the file is missing or
    holds no object, a note naming the command that makes it (and no CLAIM items answered)."""
    if not isinstance(artifact.data, dict):
        return _missing(section, artifact, what)
    fill(artifact.data)
    return section


def radiologists(art: Artifacts, facts: Facts) -> Section:
    s = Section("radiologists", "Comparison with radiologists", claim={36: "yes", 28: "yes"})
    return _from_json(s, art.radiologists, "Radiologist comparison (radiologists.json)",
                      lambda data: _radiologists(s, data, art, facts))


def _radiologists(s: Section, data: dict, art: Artifacts, facts: Facts) -> None:
    s.add(Paragraph(f"Source: {art.radiologists.path}; predictions {data.get('predictions', '?')}; "
                    f"{num(data.get('n'))} images; radiologists call malignant at BI-RADS ≥ {num(data.get('threshold'))}. "
                    "The radiologists' BI-RADS came from reading the whole examination, the model saw one image."))
    header, rows = side_by_side({"radiologists (BI-RADS)": data.get("radiologists") or {}, "model": data.get("model") or {}})
    s.add(table(header, rows, "Same images; 95% CIs in brackets."))
    extra = scalar_rows(data, skip=("predictions", "n", "threshold"))
    if extra:
        s.add(table(("measure", "value"), extra))
    if "roc_radiologists" in art.radiologists.figures:
        s.add(Figure(art.radiologists.figures["roc_radiologists"], "Model ROC with the radiologists' operating points.", 0.55))
    if facts.radiologists:
        s.add(Paragraph(facts.radiologists))


def fusion(art: Artifacts, facts: Facts) -> Section:
    s = Section("fusion", "Case study: adding patient metadata (fusion)", claim={30: "partly: metadata ablation"})
    return _from_json(s, art.fusion, "Metadata fusion case study (fusion_metrics.json)",
                      lambda data: _fusion(s, data, art))


def _fusion(s: Section, data: dict, art: Artifacts) -> None:
    feats = data.get("features") or {}
    s.add(Paragraph(f"Source: {art.fusion.path}; dataset {data.get('dataset', '?')}; image model "
                    f"{data.get('image_model', '?')}; {num(data.get('n'))} images ({num(data.get('n_malignant'))} "
                    f"malignant); folds {num(data.get('folds')) if not isinstance(data.get('folds'), list) else data['folds']}. "
                    + "; ".join(f"{k} features: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in feats.items())
                    + "."))
    rows = data.get("rows") if isinstance(data.get("rows"), list) else first_records(data)
    if rows:
        header, body = records_table(rows)
        s.add(table(header, body, "Models with and without metadata (out-of-fold, 95% CIs in brackets)."))
    tests = data.get("paired_tests")
    if isinstance(tests, list) and tests:
        header, body = records_table(tests)
        s.add(table(header, body, "Paired comparisons of AUC (same cases)."))
    if data.get("deployed") is not None:
        s.add(Paragraph(f"Deployed variant: {data['deployed']}."))
    shown = {"dataset", "image_model", "n", "n_malignant", "folds", "features", "rows", "paired_tests", "deployed"}
    extra = [(k, v) for k, v in scalar_rows(data, skip=shown)]
    if extra:
        s.add(table(("recorded value", ""), extra, "Other values recorded in fusion_metrics.json."))
    if "roc_fusion" in art.fusion.figures:
        s.add(Figure(art.fusion.figures["roc_fusion"], "ROC curves of the fusion variants.", 0.55))


def external(art: Artifacts, facts: Facts) -> Section:
    s = Section("external", "External validation", claim={32: "yes", 35: "yes"})
    return _from_json(s, art.external, "External validation (external.json)",
                      lambda data: _external(s, data, art, facts))


def _external(s: Section, data: dict, art: Artifacts, facts: Facts) -> None:
    ext = data.get("external") or {}
    s.add(Paragraph(f"Source: {art.external.path}; model {data.get('model', '?')}; external dataset "
                    f"{ext.get('dataset', '?')}; in-domain reference {get(data, 'in_domain', 'source', default='?')}. "
                    "The model was not retrained or recalibrated on the external data."))
    header, rows = side_by_side({"in-domain": data.get("in_domain") or {}, "external": ext}, skip=("source", "dataset"))
    s.add(table(header, rows, "In-domain vs external performance (95% CIs in brackets)."))
    if "calibration_external" in art.external.figures:
        s.add(Figure(art.external.figures["calibration_external"], "Calibration on the external data.", 0.5))
    if art.external_subgroups.found:
        s.add(*subgroup_blocks(art.external_subgroups, "Subgroups of the external data"))
    if facts.external:
        s.add(Paragraph(facts.external))


def limitations(art: Artifacts, facts: Facts) -> Section:
    s = Section("limitations", "Limitations", claim={38: "yes"})
    items = ["Retrospective, public single-country datasets; images were selected by the dataset authors, so "
             "prevalence and case mix differ from a screening or diagnostic clinic."]
    n = get(art.evaluation.data, "classification", "n")
    ci = get(art.evaluation.data, "classification", "auc_ci95")
    if is_number(n) and isinstance(ci, list) and all(is_number(v) for v in ci):
        items.append(f"Statistical uncertainty: {num(n)} labelled held-out images; the AUC 95% CI spans "
                     f"{ci[1] - ci[0]:.3f}.")
    if is_number(facts.auc) and is_number(facts.external_auc):
        items.append(f"Generalisability: AUC {facts.auc:.3f} in-domain vs {facts.external_auc:.3f} on the external "
                     f"data ({facts.external_auc - facts.auc:+.3f}); performance depends on scanner and site.")
    elif not art.external.found:
        items.append("Generalisability: no external validation was available for this report.")
    if not art.radiologists.found:
        items.append("No reader comparison was available for this report.")
    items += ["One image per prediction: the model does not see the whole examination, prior images or clinical history "
              "(except in the fusion variant).",
              "Probabilities are calibrated on validation patients of the training site; calibration may drift at "
              "other sites (see external calibration where reported).",
              "No prospective evaluation, no reader study with the model as an aid, no saliency-based explanation."]
    return s.add(Bullets(tuple(items)))


def implications(art: Artifacts, facts: Facts) -> Section:
    s = Section("implications", "Clinical implications and intended use", claim={39: "yes"})
    use = art.card.intended_use
    s.add(Note(f"Intended use: {use}. Not for diagnosis or treatment decisions without a qualified reader."))
    s.add(Bullets((
        "Role: a second reader's view of the lesion border and a calibrated probability, shown beside the image; "
        "the radiologist's BI-RADS assessment remains the decision.",
        "Before any clinical study: local validation on the site's own scanners, recalibration if the calibration "
        "slope departs from 1, and a prospective reader study.",
        "Use the threshold as an operating point to be chosen for the clinical question (e.g. high sensitivity for "
        "triage), not as a diagnosis.",
        "Review the error cases: misses concentrate where the border is unclear; such cases need full workup "
        "regardless of the model's output.")))
    return s


def other(art: Artifacts) -> Section:
    s = Section("other", "Other information", claim={41: "partly: code and config, no formal protocol"})
    return s.add(Paragraph(
        f"Protocol: the code at commit {art.card.provenance.git_commit or 'not recorded'} and the configuration in this "
        "report (bundle.json) define the procedure; there is no separately published protocol. Not a registered "
        "study. Funding: not recorded."))
