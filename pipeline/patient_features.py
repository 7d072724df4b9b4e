"""Patient metadata -> numeric fusion-model inputs, and the denylist that guards them.

Only what a clinic knows *before* the scan is read may enter the fusion
model: age, sex, symptoms and history, clinical signs, tissue composition.
The radiologist's read of the image (BI-RADS category, lexicon descriptors
stored as `radiologist_*`) and the outcome (histology, verification,
label) must never be inputs: a model fed BI-RADS would look excellent and
be useless, because it would be repeating the reader it is meant to help.
So the encoder reads an explicit allow-list of keys, and `assert_allowed`
rejects any feature name that is, or starts like, a denied key; training
and `FusionModel.from_json` both call it.

Missing values stay NaN here; the fusion model imputes them and every
group has its own `*_missing` indicator, so "not recorded" is never
silently read as "no". Free text (BrEaST's `Symptoms`/`Signs`, the
dashboard's symptoms box) is matched by keyword.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# Metadata keys the encoder reads: nothing else reaches the model.
ALLOWED_KEYS = ("age", "sex", "history", "symptoms", "signs", "tissue_composition")
# The radiologist's read and the outcome: never model inputs.
DENIED_KEYS = frozenset({"birads", "birads_major", "histology", "verification", "diagnosis", "classification",
                         "label", "true_label", "malignant", "pathology", "interpretation"})
DENIED_PREFIXES = ("radiologist_", "birads")

METADATA_FEATURES = (
    "age", "age_missing",
    "sex_male", "sex_missing",
    "family_history", "personal_history", "hormonal_therapy", "nipple_discharge", "symptoms_missing",
    "palpable", "retraction", "inflammatory_signs", "breast_scar", "signs_missing",
    "tissue_fibroglandular", "tissue_heterogeneous", "lactating", "tissue_missing",
)
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "none", "null", "not available", "unknown", "?"})
NONE_TOKENS = frozenset({"no", "none reported", "no symptoms", "no signs"})

SYMPTOM_KEYWORDS = {
    "family_history": ("family history",),
    "personal_history": ("personal history",),
    "hormonal_therapy": ("hrt", "hormon", "contracept"),
    "nipple_discharge": ("discharge",),
}
SIGN_KEYWORDS = {
    "palpable": ("palpable", "lump"),
    "retraction": ("retraction",),
    "inflammatory_signs": ("redness", "warmth", "peau d"),
    "breast_scar": ("scar",),
}


def is_denied(name: str) -> bool:
    lowered = str(name).strip().lower()
    return lowered in DENIED_KEYS or lowered.startswith(DENIED_PREFIXES)


def assert_allowed(names: Iterable[str]) -> None:
    """Raise ValueError naming every denied input (the radiologist's read or the outcome)."""
    denied = sorted({str(n) for n in names if is_denied(n)})
    if denied:
        raise ValueError(f"fusion inputs must not include the radiologist's read or the outcome: {', '.join(denied)}")


assert_allowed(ALLOWED_KEYS)
assert_allowed(METADATA_FEATURES)


def _text(value: Any) -> str | None:
    """Lower-case text, or None when the value is absent or a missing token."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().lower()
    return None if text in MISSING_TOKENS else text


def _age(value: Any) -> float:
    try:
        age = float(value)
    except (TypeError, ValueError):
        return math.nan
    return age if math.isfinite(age) and 0 <= age <= 120 else math.nan


def _history(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    text = _text(value)
    if text is None:
        return math.nan
    if text in ("yes", "true", "1", "y"):
        return 1.0
    if text in ("no", "false", "0", "n"):
        return 0.0
    return math.nan


def _flags(text: str | None, keywords: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    if text is None:
        return {name: math.nan for name in keywords}
    return {name: float(any(word in text for word in words)) for name, words in keywords.items()}


def metadata_features(metadata: Mapping[str, Any] | None) -> dict[str, float]:
    """The `METADATA_FEATURES` of one patient (NaN = unknown); reads only `ALLOWED_KEYS`."""
    md = {key: (metadata or {}).get(key) for key in ALLOWED_KEYS}
    out: dict[str, float] = {}
    age = _age(md["age"])
    out["age"], out["age_missing"] = age, float(math.isnan(age))
    sex = _text(md["sex"])
    out["sex_male"] = math.nan if sex is None else float(sex.startswith("m"))
    out["sex_missing"] = float(sex is None)

    symptoms = _text(md["symptoms"])
    out.update(_flags(symptoms, SYMPTOM_KEYWORDS))
    history = _history(md["history"])
    if not math.isnan(history):  # an explicit yes/no (dashboard checkbox, dataset column) wins
        out["family_history"] = history
    # history known but no symptom text: the other symptom flags stay NaN (imputed)
    out["symptoms_missing"] = float(symptoms is None and math.isnan(history))

    signs = _text(md["signs"])
    if signs is None and "signs" not in (metadata or {}) and symptoms is not None:
        signs = symptoms  # one free-text box (the upload form) describes symptoms and signs together
    out.update(_flags(signs, SIGN_KEYWORDS))
    out["signs_missing"] = float(signs is None)

    tissue = _text(md["tissue_composition"])
    if tissue is None:
        out.update(tissue_fibroglandular=math.nan, tissue_heterogeneous=math.nan, lactating=math.nan)
    else:
        fibro = "fibroglandular" in tissue
        out["tissue_fibroglandular"] = 1.0 if fibro else (0.0 if "fat" in tissue else math.nan)
        out["tissue_heterogeneous"] = 1.0 if "heterogeneous" in tissue else (0.0 if "homogeneous" in tissue else math.nan)
        out["lactating"] = float("lactating" in tissue)
    out["tissue_missing"] = float(tissue is None)
    return {name: out[name] for name in METADATA_FEATURES}


# Metadata keys -> the features they feed. A group whose keys the caller never supplied (the
# form has no such field) is "not asked", which is not the same as "asked and not recorded".
FEATURE_GROUPS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("age",): ("age", "age_missing"),
    ("sex",): ("sex_male", "sex_missing"),
    ("history", "symptoms"): ("family_history", "personal_history", "hormonal_therapy", "nipple_discharge",
                              "symptoms_missing"),
    ("signs", "symptoms"): ("palpable", "retraction", "inflammatory_signs", "breast_scar", "signs_missing"),
    ("tissue_composition",): ("tissue_fibroglandular", "tissue_heterogeneous", "lactating", "tissue_missing"),
}


def unasked_features(metadata: Mapping[str, Any] | None) -> frozenset[str]:
    """Features of the groups none of whose keys appear in `metadata` at all.

    Why: in BrEaST "signs not recorded" carries weight (a property of how
    that dataset was collected). The dashboard form has no signs or tissue
    field, so every upload would otherwise be pushed by an indicator that
    describes our form, not the patient. Such groups are held at the
    training mean, i.e. contribute nothing.
    """
    present = set(metadata or {})
    return frozenset(f for keys, feats in FEATURE_GROUPS.items() if not present.intersection(keys) for f in feats)


def has_patient_data(metadata: Mapping[str, Any] | None) -> bool:
    """True when at least one allowed field is recorded (otherwise fusion would be pure imputation)."""
    if not metadata:
        return False
    for key in ALLOWED_KEYS:
        value = metadata.get(key)
        if isinstance(value, bool) or (key == "age" and not math.isnan(_age(value))):
            return True
        if key != "age" and _text(value) is not None:
            return True
    return False


# Feature -> the factor a clinician reads (the dashboard sums contributions per factor).
FACTORS = {
    "image_logit": "image model",
    "age": "age", "age_missing": "age",
    "sex_male": "sex", "sex_missing": "sex",
    "family_history": "family history",
    "personal_history": "personal history of breast cancer",
    "hormonal_therapy": "HRT / hormonal contraception",
    "nipple_discharge": "nipple discharge",
    "symptoms_missing": "symptoms recorded or not",
    "palpable": "palpable lump",
    "retraction": "skin / nipple retraction",
    "inflammatory_signs": "redness / warmth",
    "breast_scar": "breast scar",
    "signs_missing": "signs recorded or not",
    "tissue_fibroglandular": "tissue composition", "tissue_heterogeneous": "tissue composition",
    "lactating": "tissue composition", "tissue_missing": "tissue composition",
    "lesion_missing": "lesion shape", "log_area_fraction": "lesion size",
    "aspect_ratio": "taller than wide", "solidity": "lesion irregularity",
    "normalized_perimeter": "lesion irregularity",
}


def factor_of(feature: str) -> str:
    return FACTORS.get(feature, feature.replace("_", " "))
