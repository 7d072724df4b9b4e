"""Clinical-evidence report and slide deck, built from saved artifacts only.

Why a package: the report (`python -m training report`) and the slides
(`python -m training slides`) must say the same thing, so both read the
artifacts through one loader (`artifacts`), describe their content in one
small document model (`doc`), and only the last step differs: an HTML
renderer (`render_html`) and a reportlab PDF renderer (`render_pdf`).
Nothing here trains or runs a model: every number comes from a JSON/CSV file
that `train`, `cv`, `evaluate`, `fuse`, `radiologists` or `external` wrote.
"""
