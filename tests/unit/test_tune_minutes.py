"""`python -m training tune` ranks trials with their training minutes, read from cv_summary.json's
`train_minutes` (the ranking showed 0.0 while it read a `minutes` key the CV summary does not write)."""

from __future__ import annotations

import pandas as pd

from training.tune import TrialResult, _result, train_minutes, write_ranking


def summary(minutes_key: str = "train_minutes", minutes=(1.25, 2.5)) -> dict:
    return {"folds_done": [1, 2], minutes_key: list(minutes),
            "table": {"segmentation.dice": {"mean": 0.7, "sd": 0.01}, "classification.auc": {"mean": 0.8, "sd": 0.02}}}


def test_trial_minutes_come_from_train_minutes():
    assert train_minutes(summary()) == 3.8
    assert train_minutes(summary(minutes=(1.0, None))) == 1.0  # a fold without the figure counts 0
    assert train_minutes(summary("minutes")) == 3.8  # older summaries
    assert train_minutes({}) == 0.0
    assert _result("trial_000", {"seg.bce_weight": 0.5}, summary()).minutes == 3.8


def test_ranking_table_shows_the_minutes(tmp_path):
    results = [_result("trial_000", {"a": 1}, summary()), TrialResult("trial_001", {"a": 2}, 0.7, 0.0, 0.8, 0.0, 9.0, 2)]
    write_ranking(tmp_path, results, {"dataset": "synthetic:8", "folds": 2, "seed": 0, "base_config": None})
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert ranking.set_index("trial")["minutes"].to_dict() == {"trial_000": 3.8, "trial_001": 9.0}
    table = (tmp_path / "ranking.md").read_text()
    assert "| 3.8 |" in table and "| 9.0 |" in table and "| 0.0 |" not in table
