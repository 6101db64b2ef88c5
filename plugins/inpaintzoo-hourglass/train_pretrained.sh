#!/usr/bin/env bash
# How the plugin's pretrained entry `hourglass.samples` was made: a small hourglass context encoder trained
# briefly on inpaintzoo's sample photographs with random rectangles (so it fills any rectangle), exported in
# half precision into the package and scored on the samples' held-out photo. About a minute on 2 CPU cores.
# Needs inpaintzoo and this plugin installed (pip install --no-build-isolation ./plugins/inpaintzoo-hourglass).
set -euo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-/tmp/hourglass-pretrained}
TRAIN=(data=samples encoder=hourglass encoder.width=8 decoder=pixelshuffle decoder.width=16 mask=rectangles
       mask.min_size=4 mask.max_size=12 model.overlap=0 train.max_steps=300 train.batch_size=32 train.lr=2e-3
       train.grid_every=0 train.seed=0 "train.out=$OUT" train.name=hourglass-samples)
inpaintzoo train "${TRAIN[@]}" --overwrite --no-progress
inpaintzoo export "$OUT/hourglass-samples" hourglass.samples --out src/inpaintzoo_hourglass/pretrained \
    --score --overwrite --command "inpaintzoo train ${TRAIN[*]}"
