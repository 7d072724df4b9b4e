"""`python -m training tune`: the search plan (fast) and a 2-trial x 2-fold search (slow, tiny config)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.errors import LesionLensError
from training.__main__ import main
from training.tune import Dimension, SearchSpace, check_config, trial_config

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "training" / "configs" / "tiny.yaml")
TINY_SPACE = str(ROOT / "training" / "spaces" / "tiny.yaml")


def _space(tmp_path: Path, text: str) -> SearchSpace:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return SearchSpace.from_yaml(path)


def test_grid_is_seeded_complete_and_prefix_stable(tmp_path):
    space = _space(tmp_path, "seg.bce_weight: [0.5, 1.0, 2.0]\nseg.model.base_filters: [16, 24]\n")
    assert space.is_grid and space.grid_size() == 6
    full = space.plan(None, seed=3)
    assert len(full) == 6 and len({json.dumps(p, sort_keys=True) for p in full}) == 6
    assert space.plan(4, seed=3) == full[:4]  # more trials later extend, never reshuffle
    assert space.plan(None, seed=3) == full and space.plan(None, seed=4) != full


def test_random_ranges_respect_bounds_types_and_yaml_quirks(tmp_path):
    # `1e-3` without a dot is a string to YAML 1.1; the space file means a number
    space = _space(tmp_path, "seg.learning_rate: {low: 1e-4, high: 1e-2, log: true}\n"
                             "seg.model.depth: {low: 2, high: 4}\nseg.model.block: [plain, separable]\n")
    assert not space.is_grid
    plan = space.plan(25, seed=0)
    assert len(plan) == 25 and plan[:10] == space.plan(10, seed=0)
    for params in plan:
        assert 1e-4 <= params["seg.learning_rate"] <= 1e-2
        assert isinstance(params["seg.model.depth"], int) and 2 <= params["seg.model.depth"] <= 4
        assert params["seg.model.block"] in ("plain", "separable")
    lrs = sorted(p["seg.learning_rate"] for p in plan)
    assert lrs[0] < 1e-3 < lrs[-1]  # log-uniform: both decades visited


def test_bad_spaces_and_untrainable_configs_fail_before_training(tmp_path):
    with pytest.raises(LesionLensError, match="low and high"):
        Dimension.parse("seg.learning_rate", {"low": 1e-3})
    with pytest.raises(LesionLensError, match="log range"):
        Dimension.parse("seg.learning_rate", {"low": 0, "high": 1, "log": True})
    with pytest.raises(LesionLensError, match="unknown config keys"):
        trial_config(None, {"seg.learnin_rate": 1e-3}, 0)
    assert "divisible" in check_config(trial_config(None, {"seg.model.input_size": 100}, 0))
    space = _space(tmp_path, "seg.model.input_size: [96, 100]\nseg.model.depth: [3]\n")
    assert space.plan(None, 0, lambda p: check_config(trial_config(None, p, 0)) is None) == [
        {"seg.model.input_size": 96, "seg.model.depth": 3}]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished 2-trial x 2-fold search (tiny config without the refinement stage: the search machinery is
    under test here, the stages in test_training_cli): its output feeds the tune and compare tests."""
    work = tmp_path_factory.mktemp("tune")
    config = yaml.safe_load(Path(TINY).read_text())
    config["refine"]["enabled"] = False
    (work / "tiny-norefine.yaml").write_text(yaml.safe_dump(config))
    out = work / "tune"
    args = ["tune", "--dataset", "synthetic:30:4", "--space", TINY_SPACE, "--out", str(out), "--folds", "2",
            "--trials", "2", "--config", str(work / "tiny-norefine.yaml"), "--n-boot", "20"]
    assert main(args) == 0
    return out, args


@pytest.mark.slow
def test_tune_two_trials_two_folds_ranks_and_resumes(tuned):
    out, args = tuned
    for trial in ("trial_001", "trial_002"):
        for fold in (1, 2):
            assert (out / trial / f"fold_{fold}" / "fold_metrics.json").is_file()
        assert json.loads((out / trial / "cv_summary.json").read_text())["folds_done"] == [1, 2]
    folds = [json.loads((out / t / "folds.json").read_text()) for t in ("trial_001", "trial_002")]
    assert folds[0] == folds[1]  # paired comparison: the same patients in every trial's folds
    ranking = pd.read_csv(out / "ranking.csv")
    assert list(ranking["rank"]) == [1, 2] and set(ranking["trial"]) == {"trial_001", "trial_002"}
    assert ranking["objective"].dropna().is_monotonic_decreasing
    expected = (ranking["dice_mean"] + ranking["auc_mean"]) / 2
    assert ((ranking["objective"] - expected).abs().dropna() < 1e-3).all()
    assert {"param:seg.bce_weight", "param:cls.learning_rate", "dice_sd", "auc_sd", "minutes"} <= set(ranking.columns)
    params = [json.loads((out / t / "params.json").read_text()) for t in ("trial_001", "trial_002")]
    assert params[0] != params[1]
    config = json.loads((out / "trial_001" / "config.json").read_text())
    assert config["seg"]["bce_weight"] == params[0]["seg.bce_weight"]
    assert config["cls"]["learning_rate"] == params[0]["cls.learning_rate"]
    md = (out / "ranking.md").read_text()
    assert "| 1 | trial_00" in md and "±" in md and "Objective" in md

    stamp = (out / "trial_001" / "fold_1" / "fold_metrics.json").stat().st_mtime
    assert main(args) == 0  # resumed: nothing retrained
    assert (out / "trial_001" / "fold_1" / "fold_metrics.json").stat().st_mtime == stamp
    assert main(args[:-2] + ["--seed", "9", "--n-boot", "20"]) == 2  # another search in the same folder is refused


@pytest.mark.slow
def test_compare_tables_from_cv_runs_and_ensemble(tuned, tmp_path, capsys):
    out, _ = tuned
    table = tmp_path / "cv.md"
    assert main(["compare", "--out", str(table), f"first={out / 'trial_001' / 'cv_summary.json'}",
                 "--run", f"second={out / 'trial_002'}"]) == 0
    md = table.read_text()
    assert "| run | data | n | Dice | IoU | AUC (95% CI) | Sensitivity | Specificity | ECE |" in md
    assert "| first | synthetic:30:4 | 30 |" in md and "| second |" in md and "±" in md
    assert "| second − first | 2 |" in md  # same dataset and folds: paired differences
    assert md in capsys.readouterr().out

    ens_table = tmp_path / "ens.md"
    args = ["compare", "--out", str(ens_table), "--cv", str(out / "trial_001"), "--dataset", "synthetic:12:9",
            "--n-boot", "20"]
    assert main(args) == 0
    md = ens_table.read_text()
    for label in ("| fold_1 |", "| fold_2 |", "| single models (mean ± sd of 2) |", "| ensemble (2 members) |"):
        assert label in md
    reports = tmp_path / "ens-reports"
    cached = reports / "ensemble" / "metrics.json"
    assert cached.is_file() and (reports / "fold_1" / "predictions.csv").is_file()
    stamp = cached.stat().st_mtime
    assert main(args) == 0 and cached.stat().st_mtime == stamp  # reports are reused, not recomputed
    assert main(["compare", "--out", str(tmp_path / "one.md"), f"ens={cached}"]) == 0
    assert "Caution" not in md  # synthetic:12:9 is not the CV's own data
    assert main(["compare", "--out", str(tmp_path / "bad.md"), str(tmp_path / "missing.json")]) == 2
