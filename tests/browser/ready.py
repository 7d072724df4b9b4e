"""When a page "shows its content" in a real browser: one definition for the browser tests and the bench.

/metrics is ready when every figure is drawn by plotly.js (its title and its data: traces, or the
heatmap of the confusion matrix), the six rates and the summary sentence show. Not a spinner, not a
placeholder. bench/bench_dashboard.py times first loads up to this point; the browser tests wait for it.
"""

from __future__ import annotations

METRICS_FIGURES = ("metrics-confusion", "metrics-roc", "metrics-pr", "metrics-calibration", "metrics-overlap",
                   "metrics-risk-coverage")  # fmt: skip
METRICS_READY = """(figures) => figures.every((id) => {
        const graph = document.getElementById(id);
        return graph && graph.querySelector('.gtitle') && graph.querySelector('.trace, .hm');
    }) && document.querySelectorAll('#metrics-rates .ll-big-number').length === 6
    && /cases in this cohort/.test((document.getElementById('metrics-summary') || {}).textContent || '')"""
