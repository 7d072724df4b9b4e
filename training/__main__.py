"""`python -m training <command> ...`: every training stage as one CLI.

Each command lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; modules are imported lazily so `datasets describe` does
not pay TensorFlow's import time.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pipeline.errors import run_command

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("training.cmd_datasets", "describe a dataset spec"),
    "synth": ("training.cmd_synth", "write a synthetic ultrasound cohort"),
    "train": ("training.cmd_train", "train segmentation + classification, write a bundle"),
    "cv": ("training.cmd_cv", "k-fold cross-validation with out-of-fold predictions"),
    "tune": ("training.cmd_tune", "hyperparameter search by cross-validation"),
    "cv-status": ("training.cmd_cv_status", "state and epoch of every fold of a CV folder (either backend)"),
    "worker": ("training.cmd_worker", "Celery worker training the folds of `cv/tune --backend celery`"),
    "ensemble": ("training.cmd_ensemble", "bundle finished CV fold models into an ensemble"),
    "evaluate": ("training.cmd_evaluate", "evaluate a bundle on a dataset, write a report"),
    "predict": ("training.cmd_predict", "predict images, one JSON line each"),
    "compare": ("training.cmd_compare", "markdown table comparing finished runs (reports, CV, ensemble)"),
    "fuse": ("training.cmd_fuse", "fuse image model + lesion shape + patient data (cross-validated)"),
    "descriptors": ("training.cmd_descriptors", "BI-RADS lexicon descriptors of expert masks: AUC, agreement with readers, CV"),
    "stack": ("training.cmd_stack", "CNN + BI-RADS-descriptor model and shape fidelity over a CV's folds (no retraining)"),
    "refine-gain": ("training.cmd_refine_gain", "Dice/HD95 gained by the refinement stage: each fold's held-out set, stage on vs off"),
    "radiologists": ("training.cmd_radiologists", "model vs the radiologists' BI-RADS on the same images"),
    "external": ("training.cmd_external", "evaluate a bundle on a dataset it never saw, beside its in-domain figures"),
    "ood": ("training.cmd_ood", "fit a bundle's out-of-distribution fingerprint and measure the guard's flag rates"),
    "report": ("training.cmd_report", "clinical-evidence report (HTML + PDF) from saved artifacts"),
    "slides": ("training.cmd_slides", "16:9 slide deck (PDF + HTML) from saved artifacts"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    if argv and argv[0] in COMMANDS:  # import only the command asked for
        names = [argv[0]]
    else:
        names = list(COMMANDS)
    modules = {}
    for name in COMMANDS:
        module_name, help_text = COMMANDS[name]
        p = sub.add_parser(name, help=help_text)
        if name in names:
            try:
                modules[name] = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise
                continue
            modules[name].add_arguments(p)
    args = parser.parse_args(argv)
    from pipeline.bundle import set_command

    set_command(["python", "-m", "training", *argv])  # recorded in the provenance of any bundle this run writes
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module = modules.get(args.command)
    if module is None:
        parser.error(f"command {args.command!r} is not available in this build")
    return run_command(module.run, args)


if __name__ == "__main__":
    from pipeline.allocator import reexec_on_jemalloc

    reexec_on_jemalloc("training", sys.argv[1:])  # before TensorFlow loads: see pipeline/allocator.py
    sys.exit(main())
