#!/usr/bin/env bash
# One prepared session on a lent CUDA machine (no network; its own python3 with torch + CUDA):
#   train   — install without the extension, fine-tune the L2 photo model adversarially on the GPU (bf16, three
#             mixes of the critic's share) in the background, build the extension with CUDA meanwhile and run
#             `pytest -m cuda`, then the CUDA rows of the benchmarks; package runs and logs under $OUT
#   continue — fine-tune the shipped adversarial entry further ($INIT default $INPAINTZOO_DATA/init-gan), two
#             shares of the critic side by side, the GPU to themselves; package the runs under $OUT
#   bench   — the CUDA rows of bench_kernels.py and bench_training.py, the GPU otherwise idle
# Usage: OUT=/some/dir bash benchmarks/cuda_session.sh train MINUTES | continue MINUTES | bench
# The L2 photo model to start from: $INIT (default $INPAINTZOO_DATA/init, a run directory with checkpoints/best.pt).
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

finetune() {  # NAME ALPHA FEATURE_MATCHING MINUTES: the ffc.photos architecture, adversarially fine-tuned at 256 px
    local name=$1 alpha=$2 fm=$3 minutes=$4
    # 4 threads each: three trainings and the extension's build share 16 cores (at 16 threads each, three runs
    # building 48 crops a photo beside the build printed nothing before the timeout); 12 crops a photo start in ~15 s
    OMP_NUM_THREADS=${THREADS:-4} timeout $((minutes * 60 + 150)) "$PY" -m inpaintzoo train data=photos data.image_size=256 \
        data.crops_per_photo=12 \
        mask=lama mask.fill=telea encoder=ffc encoder.width=32 encoder.blocks=6 decoder=conv decoder.layers=0 \
        model.residual=true model.overlap=4 model.overlap_weight=1 train.init_from="$INIT" \
        disc=patch disc.width=64 disc.layers=3 loss=gan loss.alpha="$alpha" loss.balance=true loss.hole_patches=true \
        loss.feature_matching="$fm" train.batch_size=16 train.lr=0.0002 train.disc_lr=0.0002 train.lr_decay=1.0 \
        train.epochs=1000 train.ema=0.999 train.precision=bf16 train.channels_last=true train.val_fraction=0.03 \
        train.grid_every=0 train.max_minutes="$minutes" train.out=runs-gpu train.name="$name" > "$LOGS/$name.log" 2>&1
}

cuda_benches() {  # KERNEL_SECONDS TRAINING_SECONDS JSON_DIR: the CUDA rows of bench_kernels and bench_training
    timeout "$1" "$PY" benchmarks/bench_kernels.py --runs 1 --quick --out "$3/kernels_cuda.json" \
        > "$LOGS/bench_kernels.log" 2>&1
    echo "bench_kernels exit $?" >> "$LOGS/bench_kernels.log"
    timeout "$2" "$PY" benchmarks/bench_training.py --device cuda --quick --only pixelcnn,l2 \
        --out "$3/training_cuda.json" > "$LOGS/bench_training.log" 2>&1
    echo "bench_training exit $?" >> "$LOGS/bench_training.log"
}

package_runs() {  # [LOG...]: the last lines of the fine-tunes' logs (and these), every log and JSON, and the runs
    # (last.pt, no best.pt) in 15 MB parts
    tail -n 4 "$LOGS"/gan-*.log "$@" | tee "$OUT/summary.txt"
    cp "$LOGS"/*.log "$LOGS"/*.json "$LOGS/card.txt" "$OUT/" 2>/dev/null
    tar -C runs-gpu -cf /tmp/session.tar --exclude=best.pt .
    split -b 15M -d /tmp/session.tar "$OUT/session.tar.part"
}

case "${1:-}" in
train)
    MINUTES=${2:-5}
    INIT="${INIT:-$INPAINTZOO_DATA/init}"  # a run directory holding checkpoints/best.pt of the L2 photo model
    INPAINTZOO_NO_EXTENSION=1 "${PIP[@]}" -e . > "$LOGS/install.log" 2>&1 || { cat "$LOGS/install.log"; exit 1; }
    finetune gan-a50 0.5 10 "$MINUTES" &
    a=$!
    finetune gan-a30 0.3 10 "$MINUTES" &
    b=$!
    finetune gan-a20 0.2 10 "$MINUTES" &
    c=$!
    # the extension with its CUDA kernels, built on the CPU cores while the GPU trains
    (time MAX_JOBS=6 TORCH_CUDA_ARCH_LIST=9.0 "${PIP[@]}" -e .) > "$LOGS/build.log" 2>&1
    "$PY" -c "import inpaintzoo._C; from inpaintzoo.ops import backend; print(backend.backend_info())" \
        >> "$LOGS/build.log" 2>&1
    timeout 150 "$PY" -m pytest -q -m cuda -p no:cacheprovider tests/test_kernels.py tests/test_bad_input.py \
        > "$LOGS/pytest_cuda.log" 2>&1
    echo "pytest -m cuda exit $?" >> "$LOGS/pytest_cuda.log"
    sleep 20; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$LOGS/card.txt"
    wait $a $b $c
    cuda_benches 150 60 "$LOGS"  # the GPU now idle
    package_runs "$LOGS/pytest_cuda.log" "$LOGS/build.log"
    ;;
continue)
    MINUTES=${2:-8}
    INIT="${INIT:-$INPAINTZOO_DATA/init-gan}"  # checkpoints/best.pt holding the ffc.photos-gan weights
    INPAINTZOO_NO_EXTENSION=1 "${PIP[@]}" -e . > "$LOGS/install.log" 2>&1 || { cat "$LOGS/install.log"; exit 1; }
    THREADS=7 finetune gan-a30c 0.3 10 "$MINUTES" &
    a=$!
    THREADS=7 finetune gan-a15c 0.15 10 "$MINUTES" &
    b=$!
    sleep 90; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$LOGS/card.txt"
    wait $a $b
    package_runs
    ;;
bench)
    [ -f inpaintzoo/_C*.so ] 2>/dev/null || "${PIP[@]}" -e . > "$LOGS/build.log" 2>&1
    cuda_benches 200 200 "$OUT"
    tail -n 25 "$LOGS/bench_kernels.log" "$LOGS/bench_training.log"
    cp "$LOGS"/*.log "$LOGS/card.txt" "$OUT/"
    ;;
*)
    echo "usage: OUT=DIR bash benchmarks/cuda_session.sh train [MINUTES] | bench" >&2
    exit 2
    ;;
esac
