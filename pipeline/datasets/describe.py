"""One-screen summary of a dataset, and the problems that would spoil a training run.

Image sizes and colour modes come from file headers only (Pillow reads the
header without decoding pixels); duplicates from the sha256 of each image
file's bytes; empty masks from decoding the (small, binary) mask files. The
problems (`find_problems`) are plain-language lines: too few malignant (or
benign) images for a usable AUC confidence interval, lesion images without a
mask or with an empty one, mixed colour modes or very different image sizes,
the same image file under several patients (leaks across a patient-level
split), unreadable files. Used by `python -m training datasets describe`.
"""

from __future__ import annotations

import hashlib
import io
import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline.datasets.common import _read_mask_file
from pipeline.types import LABELS, Case

MIN_CLASS_IMAGES = 20  # fewer malignant (or benign) images: the AUC's 95% CI is too wide to compare models
MIN_MALIGNANT_SHARE = 0.10  # of all images
SIZE_RATIO = 3.0  # long sides differing by more than this factor are flagged as widely mixed
MIN_SIDE = 128  # the segmenter's input size: smaller images carry less detail than the model expects
EXAMPLES = 5  # file names quoted per problem

# Pillow mode -> the words used in the report
MODE_KINDS = {"1": "grey 1-bit", "L": "grey 8-bit", "LA": "grey + alpha", "P": "palette", "RGB": "RGB",
              "RGBA": "RGBA", "I;16": "16-bit grey", "I;16L": "16-bit grey", "I;16B": "16-bit grey",
              "I;16N": "16-bit grey", "I": "32-bit integer", "F": "32-bit float", "CMYK": "CMYK", "YCbCr": "YCbCr"}


@dataclass(frozen=True)
class SizeStats:
    min: int
    median: float
    max: int

    @classmethod
    def of(cls, values: list[int]) -> SizeStats:
        return cls(min(values), float(statistics.median(values)), max(values))


@dataclass
class DatasetSummary:
    spec: str
    cases: int
    patients: int
    patients_with_several_images: int
    labels: dict[str, int]
    datasets: dict[str, int]
    cases_with_mask: int
    official_folds: dict[int, dict[str, int]]  # fold -> label counts; empty when none
    height: SizeStats | None
    width: SizeStats | None
    metadata_coverage: dict[str, int] = field(default_factory=dict)  # key -> cases with a value
    unreadable_images: int = 0
    colour_modes: dict[str, int] = field(default_factory=dict)  # "grey 8-bit" / "RGB" / "16-bit grey"... -> images
    distinct_sizes: int = 0
    problems: list[Problem] = field(default_factory=list)  # each one would spoil training or its figures
    notes: list[str] = field(default_factory=list)  # worth knowing, not a problem (e.g. copies within a patient)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["official_folds"] = {str(k): v for k, v in self.official_folds.items()}
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class Problem:
    code: str  # stable key for scripts: few_malignant, missing_masks, duplicates_across_patients, ...
    message: str  # one plain-language line
    cases: tuple[str, ...] = ()  # case ids concerned (all of them)


@dataclass(frozen=True)
class FileInfo:
    """What the header and the bytes of one image file say (no pixel decoding)."""

    sha256: str | None
    size: tuple[int, int] | None  # (height, width)
    mode: str | None
    error: str | None = None


def inspect_file(path: Path) -> FileInfo:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return FileInfo(None, None, None, f"cannot read: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header only
            w, h = im.size
            return FileInfo(digest, (h, w), im.mode)
    except Exception as exc:  # noqa: BLE001 - any decoder complaint means "not a readable image"
        return FileInfo(digest, None, None, f"not a readable image ({type(exc).__name__})")


def _has_value(value: Any) -> bool:
    return value is not None and value != ""


def auc_ci_halfwidth(n_malignant: int, n_benign: int, auc: float = 0.85) -> float:
    """Half-width of the 95% CI of an AUC of `auc` measured on these counts (Hanley & McNeil 1982)."""
    if n_malignant < 1 or n_benign < 1:
        return math.inf
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_malignant - 1) * (q1 - auc * auc) + (n_benign - 1) * (q2 - auc * auc)) / (
        n_malignant * n_benign)
    return 1.96 * math.sqrt(var)


def _count(k: int, noun: str) -> str:
    """'1 lesion image', '3 lesion images'."""
    return f"{k} {noun}" + ("" if k == 1 else "s")


def _names(cases: list[Case], limit: int = EXAMPLES) -> str:
    shown = ", ".join(Path(c.image_path).name for c in cases[:limit])
    return shown + (f" and {len(cases) - limit} more" if len(cases) > limit else "")


def _class_problems(cases: list[Case]) -> list[Problem]:
    """Too few malignant (or benign) images: what that does to the AUC's confidence interval."""
    n = len(cases)
    labels = Counter(c.label for c in cases)
    n_mal, n_ben = labels.get("malignant", 0), labels.get("benign", 0)
    problems = []
    if n_mal == 0 or n_ben == 0:
        missing = " and no ".join(k for k, v in (("malignant", n_mal), ("benign", n_ben)) if v == 0)
        problems.append(Problem("no_" + missing.replace(" and no ", "_"), f"No {missing} images: the classifier cannot learn benign versus "
                                f"malignant, and no AUC, sensitivity or specificity can be measured."))
        return problems
    half = auc_ci_halfwidth(n_mal, n_ben)
    fold = auc_ci_halfwidth(max(1, round(n_mal / 5)), max(1, round(n_ben / 5)))
    ci = (f"An AUC of 0.85 measured on all {n_mal} malignant and {n_ben} benign images would carry a 95% CI of "
          f"about ±{half:.2f} (Hanley-McNeil), and on one held-out fold of a 5-fold split about ±{fold:.2f}")
    verdict = (": too wide to tell a useful model from a poor one." if fold >= 0.1
               else "; and the classifier sees few examples of the rare class per epoch.")
    share = n_mal / n
    if n_mal < MIN_CLASS_IMAGES or share < MIN_MALIGNANT_SHARE:
        problems.append(Problem(
            "few_malignant",
            f"Too few positives: {_count(n_mal, 'malignant image')}, {share:.1%} of {n} (aim for at least {MIN_CLASS_IMAGES} "
            f"and {MIN_MALIGNANT_SHARE:.0%}). " + ci + verdict))
    if n_ben < MIN_CLASS_IMAGES:
        problems.append(Problem(
            "few_benign", f"Too few benign images: {n_ben} (aim for at least {MIN_CLASS_IMAGES}). " + ci + verdict))
    return problems


def _mask_info(path: Path) -> tuple[tuple[int, int], bool]:
    """((height, width), any lesion pixel) of one mask file, by the same rule as `load_mask` (nonzero)."""
    with Image.open(path) as im:
        if im.mode in ("1", "L"):  # the usual binary masks: Pillow's C bounding box, no numpy copy
            return (im.size[1], im.size[0]), im.getbbox() is not None
    mask = _read_mask_file(path)
    return mask.shape, bool(mask.any())


def _mask_problems(cases: list[Case], infos: dict[str, FileInfo]) -> list[Problem]:
    """Lesion images without a mask, with an empty or unreadable one, or with a mask of another size."""
    missing, empty, unreadable, wrong_size, normal_with_lesion = [], [], [], [], []
    for case in cases:
        lesion = case.label in ("benign", "malignant")
        if not case.mask_paths:
            if lesion:
                missing.append(case)
            continue
        any_lesion, size = False, None
        try:
            for path in case.mask_paths:
                mask_size, mask_lesion = _mask_info(Path(path))
                size = size or mask_size
                any_lesion = any_lesion or mask_lesion
        except (ValueError, OSError):  # ImageLoadError, truncated file
            unreadable.append(case)
            continue
        image = infos.get(case.case_id)
        if image is not None and image.size is not None and size is not None and tuple(size) != image.size:
            wrong_size.append(case)
        if lesion and not any_lesion:
            empty.append(case)
        elif case.label == "normal" and any_lesion:
            normal_with_lesion.append(case)
    checks = (
        ("missing_masks", missing, "lesion image", "{n} without a mask file: {names}. "
         "Training would stop at the first of them; add the masks or drop these rows."),
        ("empty_masks", empty, "lesion image", "{n} with an empty mask (no lesion pixel): {names}. "
         "The segmenter would learn that these lesions are background."),
        ("unreadable_masks", unreadable, "image", "{n} whose mask file cannot be read: {names}."),
        ("mask_size_mismatch", wrong_size, "mask", "{n} of another size than its image: {names}. "
         "The outline would not sit on the lesion."),
        ("normal_with_lesion", normal_with_lesion, "image", "{n} labelled normal but with lesion pixels in the mask: "
         "{names}. Label or mask is wrong."),
    )
    return [Problem(code, text.format(n=_count(len(found), noun), names=_names(found)), tuple(c.case_id for c in found))
            for code, found, noun, text in checks if found]


def _image_problems(cases: list[Case], infos: dict[str, FileInfo]) -> list[Problem]:
    """Unreadable files, mixed colour modes, widely different or tiny image sizes."""
    out = []
    bad = [c for c in cases if infos[c.case_id].size is None]
    if bad:
        out.append(Problem("unreadable_images", f"{_count(len(bad), 'image file')} cannot be read: {_names(bad)}.",
                           tuple(c.case_id for c in bad)))
    kinds = Counter(MODE_KINDS.get(infos[c.case_id].mode or "", infos[c.case_id].mode) for c in cases
                    if infos[c.case_id].mode)
    if len(kinds) > 1:
        main_kind = kinds.most_common(1)[0][0]
        odd = [c for c in cases if infos[c.case_id].mode
               and MODE_KINDS.get(infos[c.case_id].mode, infos[c.case_id].mode) != main_kind]
        out.append(Problem(
            "mixed_colour_modes",
            "Colour modes are mixed: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()) +
            f" (e.g. {_names(odd, 3)}). Everything is converted to 8-bit grey, but colour images are often "
            "screenshots with coloured calipers or Doppler, or come from another device, and 16-bit images are "
            "stretched to their own range: check they belong in this set.", tuple(c.case_id for c in odd)))
    sized = [(c, infos[c.case_id].size) for c in cases if infos[c.case_id].size]
    if sized:
        longs = [max(s) for _, s in sized]
        heights, widths = [s[0] for _, s in sized], [s[1] for _, s in sized]
        spread = (f"heights {min(heights)}-{max(heights)} px, widths {min(widths)}-{max(widths)} px, "
                  f"{len({s for _, s in sized})} distinct sizes")
        if max(longs) > SIZE_RATIO * min(longs):
            out.append(Problem(
                "mixed_sizes",
                f"Image sizes differ widely: long side {min(longs)}-{max(longs)} px ({spread}). Every image is "
                "rescaled to the same size, so pixel scale (and lesion size in pixels) differs between them: "
                "check they come from comparable devices and settings."))
        tiny = [c for c, s in sized if min(s) < MIN_SIDE]
        if tiny:
            out.append(Problem(
                "small_images",
                f"{_count(len(tiny), 'image')} smaller than {MIN_SIDE} px on a side ({_names(tiny)}; {spread}): "
                "too little detail for the segmenter, which works at 128 px.", tuple(c.case_id for c in tiny)))
    return out


def _duplicates(cases: list[Case], infos: dict[str, FileInfo]) -> tuple[list[Problem], list[str]]:
    """Identical image files (sha256 of the bytes): across patients a problem, within one patient a note."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        digest = infos[case.case_id].sha256
        if digest:
            groups.setdefault(digest, []).append(case)
    across = [g for g in groups.values() if len({c.patient_id for c in g}) > 1]
    within = [g for g in groups.values() if len(g) > 1 and len({c.patient_id for c in g}) == 1]

    def show(group_list: list[list[Case]], with_patient: bool) -> str:
        parts = [" = ".join(f"{Path(c.image_path).name}" + (f" (patient {c.patient_id})" if with_patient else "")
                            for c in g[:3]) for g in group_list[:3]]
        return "; ".join(parts) + (f"; and {len(group_list) - 3} more" if len(group_list) > 3 else "")

    problems, notes = [], []
    if across:
        problems.append(Problem(
            "duplicates_across_patients",
            f"{_count(len(across), 'image file')} under more than one patient (identical bytes): {show(across, True)}. "
            "A patient-level split can put copies of one image in both training and test, inflating the test "
            "figures: remove the copies or give them one patient_id.",
            tuple(c.case_id for g in across for c in g)))
    if within:
        notes.append(f"{_count(len(within), 'image file')} more than once for the same patient (identical bytes): "
                     f"{show(within, False)}. They stay on one side of any split, but count twice in the metrics.")
    return problems, notes


def find_problems(cases: list[Case], infos: dict[str, FileInfo] | None = None) -> tuple[list[Problem], list[str]]:
    """(problems, notes) of a dataset: what would spoil training or its figures, and what is merely worth knowing."""
    if infos is None:
        infos = {c.case_id: inspect_file(c.image_path) for c in cases}
    duplicates, notes = _duplicates(cases, infos)
    problems = _class_problems(cases) + _mask_problems(cases, infos) + _image_problems(cases, infos) + duplicates
    return problems, notes


def describe(cases: list[Case], spec: str = "", checks: bool = True) -> DatasetSummary:
    """Summary of `cases`; with `checks`, also its problems (hashes every image file and decodes the masks)."""
    per_patient = Counter(c.patient_id for c in cases)
    labels = Counter(c.label for c in cases)
    folds: dict[int, Counter[str]] = {}
    for case in cases:
        if case.fold is not None:
            folds.setdefault(case.fold, Counter())[case.label] += 1
    infos = {c.case_id: inspect_file(c.image_path) for c in cases}
    sizes = [i.size for i in infos.values() if i.size is not None]
    heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
    unreadable = len(infos) - len(sizes)
    modes = Counter(MODE_KINDS.get(i.mode, i.mode) for i in infos.values() if i.mode)
    problems, notes = find_problems(cases, infos) if checks else ([], [])
    keys: list[str] = []
    for case in cases:
        keys.extend(k for k in case.metadata if k not in keys)
    coverage = {k: sum(_has_value(c.metadata.get(k)) for c in cases) for k in keys}
    return DatasetSummary(
        spec=spec,
        cases=len(cases),
        patients=len(per_patient),
        patients_with_several_images=sum(1 for n in per_patient.values() if n > 1),
        labels={label: labels.get(label, 0) for label in LABELS},
        datasets=dict(Counter(c.dataset for c in cases)),
        cases_with_mask=sum(1 for c in cases if c.mask_paths),
        official_folds={k: {label: v.get(label, 0) for label in LABELS} for k, v in sorted(folds.items())},
        height=SizeStats.of(heights) if heights else None,
        width=SizeStats.of(widths) if widths else None,
        metadata_coverage=coverage,
        unreadable_images=unreadable,
        colour_modes=dict(modes.most_common()),
        distinct_sizes=len(set(sizes)),
        problems=problems,
        notes=notes,
    )


def format_summary(s: DatasetSummary) -> str:
    """Plain-text report, one fact per line."""

    def size(stats: SizeStats | None) -> str:
        return "n/a" if stats is None else f"min {stats.min}, median {stats.median:g}, max {stats.max}"

    lines = [
        f"dataset:  {s.spec}",
        f"cases:    {s.cases} images of {s.patients} patients "
        f"({s.patients_with_several_images} patients with more than one image)",
        "labels:   " + ", ".join(f"{k} {v}" for k, v in s.labels.items()),
        f"masks:    {s.cases_with_mask} cases have a lesion mask",
    ]
    if len(s.datasets) > 1:
        lines.append("sources:  " + ", ".join(f"{k} {v}" for k, v in s.datasets.items()))
    if s.official_folds:
        lines.append(f"official folds: {len(s.official_folds)}")
        for fold, counts in s.official_folds.items():
            lines.append(f"  fold {fold}: {sum(counts.values())} cases (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    else:
        lines.append("official folds: none")
    lines.append(f"height px: {size(s.height)}")
    lines.append(f"width px:  {size(s.width)}")
    if s.distinct_sizes:
        lines.append(f"sizes:    {s.distinct_sizes} distinct")
    if s.colour_modes:
        lines.append("colour:   " + ", ".join(f"{k} {v}" for k, v in s.colour_modes.items()))
    if s.unreadable_images:
        lines.append(f"unreadable images: {s.unreadable_images}")
    lines.append(f"metadata coverage (cases with a value, of {s.cases}):")
    width = max((len(k) for k in s.metadata_coverage), default=0)
    for key, count in s.metadata_coverage.items():
        lines.append(f"  {key:<{width}}  {count}")
    for note in s.notes:
        lines.append(f"note: {note}")
    lines.append("")
    if s.problems:
        lines.append(f"Problems ({len(s.problems)}):")
        lines.extend(f"- {p.message}" for p in s.problems)
    else:
        lines.append("Problems: none found.")
    return "\n".join(lines)
