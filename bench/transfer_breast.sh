#!/usr/bin/env bash
# Transfer-learning experiment: does pretraining on BUS-BRA (1,592 images) help on
# BrEaST-Lesions-USG (256 images)?  Documents the exact commands; run by hand (hours on 2 cores).
#
#   bench/transfer_breast.sh            # run every step (each is resumable: finished folds are skipped)
#   DRY_RUN=1 bench/transfer_breast.sh  # print the commands only
#
# Design:
# - source model: the BUS-BRA CV ensemble; `--init-from` uses its member 0 = the fold-1 model,
#   trained on BUS-BRA folds 2-5. BrEaST images are never seen in pretraining.
# - target: 5-fold patient-level CV on BrEaST, once from random weights with the default recipe,
#   once from the BUS-BRA weights with training/configs/finetune.yaml (same architecture, lower
#   learning rates, fewer epochs). Same --folds and --seed => the same patients in each fold, so
#   `compare` can report paired per-fold differences.
# - also reported: the BUS-BRA ensemble applied to BrEaST as it is (zero-shot external validation),
#   and ensemble vs its single fold models on BrEaST.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
DATA=${LESIONLENS_DATA:-../shared/data}
BUSBRA="busbra:$DATA/bus-bra"
BREAST="breast-lesions-usg:$DATA/breast-lesions-usg"
SOURCE=${SOURCE:-models/busbra-cv5}
SEED=${SEED:-0}

run() { echo "+ $*"; [ -n "${DRY_RUN:-}" ] || "$@"; }

# 1. pretrain: BUS-BRA official 5-fold CV -> fold bundles + ensemble (the README's main CV run).
#    Finished folds are skipped; do not start this while another process is running the same CV.
run "$PY" -m training cv --dataset "$BUSBRA" --official-folds --out reports/cv-busbra --ensemble-out "$SOURCE"

# 2. zero-shot: the BUS-BRA ensemble on all of BrEaST
run "$PY" -m training evaluate --model "$SOURCE" --dataset "$BREAST" --out reports/busbra-on-breast

# 3. from scratch: BrEaST 5-fold CV, default recipe
run "$PY" -m training cv --dataset "$BREAST" --folds 5 --seed "$SEED" --config training/configs/small-data.yaml --out reports/cv-breast-scratch

# 4. fine-tuned: the same folds, every fold starts from the BUS-BRA weights
run "$PY" -m training cv --dataset "$BREAST" --folds 5 --seed "$SEED" --config training/configs/finetune.yaml \
    --init-from "$SOURCE" --out reports/cv-breast-finetuned

# 5. tables for the README
run "$PY" -m training compare --out reports/transfer-breast.md \
    --title "Transfer learning: BUS-BRA -> BrEaST-Lesions-USG" \
    --run "BUS-BRA ensemble, zero-shot=reports/busbra-on-breast/metrics.json" \
    --run "from scratch (5-fold CV)=reports/cv-breast-scratch/cv_summary.json" \
    --run "fine-tuned from BUS-BRA (5-fold CV)=reports/cv-breast-finetuned/cv_summary.json"
run "$PY" -m training compare --out reports/ensemble-on-breast.md \
    --title "BUS-BRA ensemble vs its fold models, external test on BrEaST-Lesions-USG" \
    --cv reports/cv-busbra --ensemble "$SOURCE" --dataset "$BREAST"
