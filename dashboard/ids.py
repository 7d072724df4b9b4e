"""Every component id in one place, so pages, callbacks and browser tests agree.

Plain strings grouped by page; pattern-matching ids are built by the helper
functions at the bottom.
"""

# shell
URL = "ll-url"
NAVBAR = "ll-navbar"
ACTIVE_MODEL_BADGE = "ll-active-model"
REVIEWER_NAME = "ll-reviewer-name"  # localStorage: who is reviewing on this browser

# new case
UPLOAD = "new-upload"
PATIENT_AGE = "new-age"
PATIENT_SEX = "new-sex"
PATIENT_HISTORY = "new-history"
PATIENT_SYMPTOMS = "new-symptoms"
UPLOAD_BATCH = "new-batch"  # dcc.Store: {"case_ids": [...], "errors": [...], "names": {...}}
UPLOAD_TICK = "new-tick"  # dcc.Interval: drives predictions one file at a time
UPLOAD_PROGRESS = "new-progress"
UPLOAD_RESULTS = "new-results"
UPLOAD_LOADING = "new-loading"
UPLOAD_STATUS = "new-status"

# case viewer
CASE_ID = "case-id"  # dcc.Store: the case id of the page
CASE_IMAGE = "case-image"
CASE_HEATMAP = "case-heatmap"
CASE_OVERLAY_STYLE = "case-overlay-style"
CASE_OPACITY = "case-opacity"
CASE_LAYERS = "case-layers"
CASE_WINDOW_LEVEL = "case-level"
CASE_WINDOW_WIDTH = "case-width"
CASE_WINDOW_RESET = "case-window-reset"
CASE_METADATA = "case-metadata"
CASE_PREDICTION = "case-prediction"
REVIEW_AGREE = "review-agree"
REVIEW_LABEL = "review-label"
REVIEW_NOTE = "review-note"
REVIEW_USER = "review-user"
REVIEW_SAVE = "review-save"
REVIEW_STATUS = "review-status"
REVIEW_HISTORY = "review-history"
CASE_RERUN = "case-rerun"
CASE_EXPORTS = "case-exports"  # row of download buttons (dashboard/exports/links.py)
CASE_EXPORT_PDF = "case-export-pdf"
CASE_EXPORT_PNG = "case-export-png"
CASE_EXPORT_JSON = "case-export-json"
CASE_EXPORT_SEG = "case-export-seg"
CASE_EXPORT_SEG_ZIP = "case-export-seg-zip"  # the SEG + the de-identified image it references

# cohort explorer
COHORT_AGE = "cohort-age"
COHORT_AGE_MIN = "cohort-age-min"  # number boxes beside the age slider (apply while typing, no blur needed)
COHORT_AGE_MAX = "cohort-age-max"
COHORT_SEX = "cohort-sex"
COHORT_TRUTH = "cohort-truth"
COHORT_PREDICTED = "cohort-predicted"
COHORT_DEVICE = "cohort-device"
COHORT_BIRADS = "cohort-birads"
COHORT_HISTORY = "cohort-history"
COHORT_DATASET = "cohort-dataset"
COHORT_REVIEW = "cohort-review"
COHORT_DATES = "cohort-dates"
COHORT_RESET = "cohort-reset"
COHORT_COUNT = "cohort-count"
COHORT_CHIPS = "cohort-chips"
COHORT_TABLE = "cohort-table"
COHORT_METRICS_LINK = "cohort-metrics-link"
COHORT_LOCATION = "cohort-location"
COHORT_EXPORT_CSV = "cohort-export-csv"

# metrics
METRICS_THRESHOLD = "metrics-threshold"
METRICS_SUMMARY = "metrics-summary"
METRICS_RATES = "metrics-rates"
METRICS_CONFUSION = "metrics-confusion"
METRICS_ROC = "metrics-roc"
METRICS_PR = "metrics-pr"
METRICS_CALIBRATION = "metrics-calibration"
METRICS_OVERLAP = "metrics-overlap"
METRICS_RISK_COVERAGE = "metrics-risk-coverage"
METRICS_SUBGROUPS = "metrics-subgroups"
METRICS_FILTER_TEXT = "metrics-filter-text"
METRICS_COHORT_LINK = "metrics-cohort-link"
METRICS_EXPORTS = "metrics-exports"
METRICS_EXPORT_CSV = "metrics-export-csv"
METRICS_EXPORT_ZIP = "metrics-export-zip"

# models
MODELS_TABLE = "models-table"
MODELS_CARD = "models-card"
MODELS_SELECT = "models-select"
MODELS_ACTIVATE = "models-activate"
MODELS_STATUS = "models-status"
MODELS_PREVIEW = "models-preview"  # the selected bundle's validation figures and warnings (admins)
MODELS_CONFIRM = "models-confirm"  # modal: activate a bundle that has validation warnings?
MODELS_CONFIRM_TEXT = "models-confirm-text"
MODELS_CONFIRM_YES = "models-confirm-yes"
MODELS_CONFIRM_NO = "models-confirm-no"


def metrics_export_link(figure: str, fmt: str) -> str:
    """Id of the Metrics page's download link of one figure in one format ("metrics-export-roc-svg")."""
    return f"metrics-export-{figure}-{fmt}"
