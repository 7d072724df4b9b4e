"""The CLAIM checklist (Mongan, Moy, Kahn; Radiology: AI 2020; 42 items) as data.

Why compiled, not hand-written: each report section declares which items it
covers (`Section.claim`), so the coverage table describes the document that
was actually built — a section whose artifact was missing does not claim its
items. Items no section can cover from saved artifacts keep an honest reason.
Item wording is abridged; the 2024 update (Tejani et al.) reorganises and
extends these items, which is noted in the table caption, not mapped item by item.
"""

from __future__ import annotations

from training.report.doc import Paragraph, Section, table

ITEMS: dict[int, str] = {
    1: "Title/abstract: identify as AI study, name the technique",
    2: "Structured summary of design, methods, results, conclusions",
    3: "Scientific and clinical background, intended use and clinical role",
    4: "Study objectives and hypotheses",
    5: "Prospective or retrospective study",
    6: "Study goal (model creation, exploratory, feasibility, non-inferiority)",
    7: "Data sources",
    8: "Eligibility criteria: how, where and when cases were identified",
    9: "Data pre-processing steps",
    10: "Selection of data subsets",
    11: "Definitions of data elements (common data elements)",
    12: "De-identification methods",
    13: "Handling of missing data",
    14: "Definition of the ground truth (reference standard)",
    15: "Rationale for the reference standard",
    16: "Source of annotations; annotators' qualifications",
    17: "Annotation tools",
    18: "Inter-/intra-rater variability and its mitigation",
    19: "Intended sample size and how it was determined",
    20: "How data were assigned to partitions; proportions",
    21: "Level at which partitions are disjoint",
    22: "Detailed model description (inputs, outputs, layers)",
    23: "Software libraries, frameworks, packages",
    24: "Initialisation of model parameters",
    25: "Training details: augmentation, hyperparameters, number of models",
    26: "Method of selecting the final model",
    27: "Ensembling techniques",
    28: "Metrics of model performance",
    29: "Statistical measures of significance and uncertainty",
    30: "Robustness or sensitivity analysis",
    31: "Explainability / interpretability methods and their validation",
    32: "Validation or testing on external data",
    33: "Flow of participants or cases (inclusion/exclusion)",
    34: "Demographic and clinical characteristics per partition",
    35: "Performance on all data partitions",
    36: "Diagnostic accuracy estimates with precision (95% CI)",
    37: "Failure analysis of incorrectly classified cases",
    38: "Limitations: bias, statistical uncertainty, generalisability",
    39: "Implications for practice, intended use, clinical role",
    40: "Registration number and registry",
    41: "Where the full study protocol can be accessed",
    42: "Sources of funding and role of funders",
}

# Why an item cannot be covered by a report built from this project's artifacts.
NOT_COVERED = {
    8: "eligibility and recruitment belong to the public datasets' own papers (BUS-BRA, BrEaST); not in the artifacts",
    11: "no mapping to common data elements is kept",
    15: "no rationale recorded in the artifacts beyond using the datasets' labels",
    16: "annotators are described by the dataset authors, not recorded here",
    17: "annotation tools are described by the dataset authors, not recorded here",
    18: "no inter-/intra-rater data in the artifacts",
    19: "no sample-size calculation: all available images were used",
    40: "not a registered study",
    42: "no funding information recorded",
}


def claim_section(sections: list[Section]) -> Section:
    """The coverage table: for each item, the sections that cover it (or why none does)."""
    where: dict[int, list[tuple[str, str]]] = {i: [] for i in ITEMS}
    for section in sections:
        for item, how in section.claim.items():
            where.setdefault(item, []).append((section.title, how))
    rows = []
    for item, text in ITEMS.items():
        covers = where.get(item, [])
        if any(how == "yes" for _, how in covers):
            status = "covered"
        elif covers:
            status = "partly"
        else:
            status = "not covered"
        detail = "; ".join(t if how == "yes" else f"{t} ({how})" for t, how in covers) or NOT_COVERED.get(
            item, "the artifact this needs was not available when the report was built")
        rows.append((str(item), text, status, detail))
    counts = {s: sum(r[2] == s for r in rows) for s in ("covered", "partly", "not covered")}
    intro = Paragraph(
        f"Of the {len(ITEMS)} CLAIM 2020 items this report covers {counts['covered']}, partly covers "
        f"{counts['partly']} and does not cover {counts['not covered']}. Coverage is computed from the sections "
        "actually built: an item whose artifact was missing is listed as not covered.")
    return Section("claim", "CLAIM checklist coverage").add(intro, table(
        ("no.", "CLAIM item (abridged)", "status", "where / why not"), rows,
        "CLAIM: Mongan J, Moy L, Kahn CE Jr. Radiol Artif Intell 2020;2(2):e200029. The CLAIM 2024 update "
        "(Tejani et al.) revises these items; this table follows the 2020 numbering."))
