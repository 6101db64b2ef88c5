#!/usr/bin/env bash
# One prepared session on a lent CUDA machine (no network; its own python3 with torch + CUDA):
#   train   — install without the extension, train the photo models on the GPU (bf16) in the background,
#             build the extension with CUDA meanwhile and run `pytest -m cuda`; package the runs under $OUT
#   bench   — the CUDA rows of bench_kernels.py and bench_training.py, the GPU otherwise idle
# Usage: OUT=/some/dir bash benchmarks/cuda_session.sh train MINUTES | bench
# Photos are read from $INPAINTZOO_DATA/photos (default .gpu_data/photos, carried beside the checkout).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 INPAINTZOO_DATA="${INPAINTZOO_DATA:-$PWD/.gpu_data}"
OUT="${OUT:?set OUT}"
LOGS=/tmp/session-logs  # packed with the runs into at most a few parts (the tool returns at most 8 files)
mkdir -p "$LOGS"
PY=python3
PIP=("$PY" -m pip install -q --no-deps --no-build-isolation --disable-pip-version-check)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/card.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$LOGS/card.txt"

photo_run() {  # NAME, then overrides
    local name=$1; shift
    "$PY" -m inpaintzoo train data=photos data.image_size=256 data.crops_per_photo=48 mask=lama \
        encoder=ffc encoder.width=32 encoder.blocks=8 decoder=conv decoder.layers=0 \
        model.overlap=4 model.overlap_weight=1 train.batch_size=32 train.lr=0.001 train.lr_decay=0.97 \
        train.epochs=1000 train.ema=0.999 train.precision=bf16 train.val_fraction=0.03 train.grid_every=0 \
        train.out=runs-gpu train.name="$name" "$@" > "$LOGS/$name.log" 2>&1
}

case "${1:-}" in
train)
    MINUTES=${2:-6}
    INPAINTZOO_NO_EXTENSION=1 "${PIP[@]}" -e . > "$LOGS/install.log" 2>&1 || { cat "$LOGS/install.log"; exit 1; }
    photo_run photo-l2 loss=l2 train.max_minutes="$MINUTES" &
    l2=$!
    photo_run photo-gan loss=gan loss.alpha=0.7 loss.balance=true loss.warmup=400 disc=patch disc.width=48 \
        train.max_minutes="$MINUTES" &
    gan=$!
    # the extension with its CUDA kernels, built on the CPU cores while the GPU trains
    (time "${PIP[@]}" -e .) > "$LOGS/build.log" 2>&1
    "$PY" -c "import inpaintzoo._C; from inpaintzoo.ops import backend; print(backend.backend_info())" \
        >> "$LOGS/build.log" 2>&1
    timeout 240 "$PY" -m pytest -q -m cuda -p no:cacheprovider tests/test_kernels.py > "$LOGS/pytest_cuda.log" 2>&1
    echo "pytest -m cuda exit $?" >> "$LOGS/pytest_cuda.log"
    wait $l2 $gan
    tail -n 3 "$LOGS"/photo-*.log "$LOGS/pytest_cuda.log" | tee "$OUT/summary.txt"
    cp -r "$LOGS" runs-gpu/logs
    tar -C runs-gpu -cf /tmp/session.tar --exclude=best.pt .
    split -b 15M -d /tmp/session.tar "$OUT/session.tar.part"
    ;;
bench)
    [ -f inpaintzoo/_C*.so ] 2>/dev/null || "${PIP[@]}" -e . > "$LOGS/build.log" 2>&1
    timeout 200 "$PY" benchmarks/bench_kernels.py --runs 1 --quick --out "$OUT/kernels_cuda.json" \
        > "$LOGS/bench_kernels.log" 2>&1
    echo "bench_kernels exit $?" >> "$LOGS/bench_kernels.log"
    timeout 200 "$PY" benchmarks/bench_training.py --device cuda --quick --only pixelcnn,l2 \
        --out "$OUT/training_cuda.json" > "$LOGS/bench_training.log" 2>&1
    echo "bench_training exit $?" >> "$LOGS/bench_training.log"
    tail -n 25 "$LOGS/bench_kernels.log" "$LOGS/bench_training.log"
    cp "$LOGS"/*.log "$LOGS/card.txt" "$OUT/"
    ;;
*)
    echo "usage: OUT=DIR bash benchmarks/cuda_session.sh train [MINUTES] | bench" >&2
    exit 2
    ;;
esac
