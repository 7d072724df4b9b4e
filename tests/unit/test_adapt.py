"""The default recipe adapts to the dataset size and leaves BUS-BRA's unchanged (issue 19.1)."""

from training.adapt import adapt_to_dataset, bn_momentum_for, epochs_for
from training.config import load_config


def test_busbra_sized_runs_keep_the_recipe():
    cfg = load_config(None)
    for n in (1093, 1356):
        adapted, info = adapt_to_dataset(cfg, n)
        assert adapted == cfg and info["changes"] == {}


def test_small_datasets_get_faster_statistics_and_more_epochs():
    cfg = load_config(None)
    adapted, info = adapt_to_dataset(cfg, 170)
    assert adapted.seg.model.bn_momentum < 0.98 and adapted.cls.model.bn_momentum < 0.98
    assert adapted.seg.epochs > cfg.seg.epochs and adapted.seg.epochs <= 4 * cfg.seg.epochs
    assert "seg.model.bn_momentum" in info["changes"] and info["n_train"] == 170


def test_rules_are_monotone_and_bounded():
    assert bn_momentum_for(1000, 0.99) == 0.99
    assert bn_momentum_for(1, 0.99) == 0.8
    assert bn_momentum_for(10, 0.9) == 0.9  # never raised above the configured value
    assert epochs_for(10, 10) == 40 and epochs_for(5000, 10) == 10


def test_pinned_configs_opt_out():
    cfg = load_config("training/configs/small-data.yaml")
    assert adapt_to_dataset(cfg, 100) == (cfg, {"adapted": False})
