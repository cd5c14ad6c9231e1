#!/bin/sh
# Train anywhere, deploy anywhere: a generated ResNet-20 trained by real BVLC Caffe and the
# generator's MXNet-example CIFAR ResNet (resnet-gen mxnet --train) trained by MXNet, both on
# scikit-learn's digits (upscaled to 32x32x3, seeded split 1,437 / 360), each then classified
# by every framework, including the standalone PyTorch code of caffe2torch -o model.py.
#                                                                   (run as root: chroot)
# Usage: tools/train-digits.sh [--quick] [--epochs E] [--steps A,B] [OUT]
#   default: 8 epochs, lr /10 after epochs 5 and 7 (docs/training.md); OUT /tmp/train-digits
#   --quick: 3 epochs, lr /10 after epoch 2 (the CI test, tests/test_train_digits.py)
# Writes OUT/results.json (accuracies, cross-framework top-1 differences, probability
# differences, float32 floors, wall times, commands) and OUT/learning-curve.png.
# Host Python: $PYTHON or python3, with the project, scikit-learn, lmdb, torch, mxnet
# (matplotlib for the picture).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=${PYTHON:-python3}
EPOCHS=8 STEPS=5,7 OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) EPOCHS=3 STEPS=2; shift ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        -*) echo "usage: $0 [--quick] [--epochs E] [--steps A,B] [OUT]" >&2; exit 2 ;;
        *) OUT=$1; shift ;;
    esac
done
OUT=${OUT:-/tmp/train-digits}
BATCH=64 TEST_BATCH=120 N=3
mkdir -p "$OUT/data" "$OUT/caffe" "$OUT/mxnet"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/commands.txt"
: > "$LOG"
run() { echo "$*" >> "$LOG"; "$@"; }
caffe_run() {   # real Caffe in the chroot; OUT is bind-mounted at its own path
    echo "tools/caffe-run.sh $*" >> "$LOG"
    CAFFE_RUN_BIND="$OUT" sh "$HERE/caffe-run.sh" "$@"
}

# 1. The data: LMDBs for Caffe's Data layers, digits.npz for everything else.
run "$PY" "$HERE/digits_data.py" "$OUT/data" > "$OUT/data/facts.txt"
. "$OUT/data/digits.env"      # MEAN, SCALE, TRAIN_N, TEST_N
EPOCH_ITERS=$(( (TRAIN_N + BATCH - 1) / BATCH ))
ITER_STEPS=$(echo "$STEPS" | tr ',' '\n' | while read -r e; do echo $((e * EPOCH_ITERS)); done \
             | paste -sd, -)

# 2. Caffe: generated train_val + the paper's solver, shortened; trained by real Caffe
#    (OpenBLAS for speed), classified by Caffe (reference BLAS), torch and MXNet.
C="$OUT/caffe"
run resnet-gen prototxt --n $N --train --batch $BATCH \
    --source "$OUT/data/train_lmdb" --test-source "$OUT/data/test_lmdb" \
    --test-batch $TEST_BATCH --mean-values "$MEAN" --scale "$SCALE" --no-mirror --crop 0 \
    --bn-momentum 0.9 \
    -o "$C/train_val.prototxt"
run resnet-gen solver --n $N --net "$C/train_val.prototxt" \
    --max-iter $((EPOCHS * EPOCH_ITERS)) --steps "$ITER_STEPS" \
    --test-iter $((TEST_N / TEST_BATCH)) --test-interval $((EPOCHS * EPOCH_ITERS)) \
    --display 0 --snapshot 0 --snapshot-prefix "$C/snapshot" --mode CPU --seed 1 \
    -o "$C/solver.prototxt"
run resnet-gen prototxt --n $N -o "$C/deploy.prototxt"
CAFFE_RUN_BLAS=openblas caffe_run "$HERE/digits_caffe.py" train "$C/solver.prototxt" \
    --epochs "$EPOCHS" --epoch-iters $EPOCH_ITERS --test-iter $((TEST_N / TEST_BATCH)) \
    --out "$C"
# The deploy twin as --prototxt, so every framework's model ends in the same Softmax
# (a train_val net would end in the logits); inputs are preprocessed as the Data layers did.
run resnet-convert caffe2torch "$C/caffe.caffemodel" --prototxt "$C/deploy.prototxt" \
    -o "$C/torch.safetensors"
run resnet-convert caffe2torch "$C/caffe.caffemodel" --prototxt "$C/deploy.prototxt" \
    -o "$C/model.py"
run resnet-convert caffe2mxnet "$C/caffe.caffemodel" --prototxt "$C/deploy.prototxt" \
    -o "$C/mxnet"
caffe_run "$HERE/digits_caffe.py" classify "$C/deploy.prototxt" "$C/caffe.caffemodel" \
    "$OUT/data/digits.npz" "$C/prob_caffe.npy"

# 3. MXNet: the generator's trainable symbol of the example's CIFAR ResNet, trained by
#    MXNet, exported with mxnet2caffe, classified by real Caffe and (the exported caffemodel
#    converted back) by torch and by the generated model.py.
M="$OUT/mxnet"
run resnet-gen mxnet --variant mxnet --n $N --train -o "$M/train-symbol.json"
run "$PY" "$HERE/digits_mxnet.py" "$OUT/data/digits.npz" --symbol "$M/train-symbol.json" \
    --epochs "$EPOCHS" --steps "$STEPS" --batch $BATCH --out "$M"
run resnet-convert mxnet2caffe "$M/mxnet" --epoch "$EPOCHS" --input-shape 1,3,32,32 \
    -o "$M/exported"
caffe_run "$HERE/digits_caffe.py" classify "$M/exported.prototxt" \
    "$M/exported.caffemodel" "$OUT/data/digits.npz" "$M/prob_caffe.npy"
run resnet-convert caffe2torch "$M/exported.caffemodel" --prototxt "$M/exported.prototxt" \
    -o "$M/torch.safetensors"
run resnet-convert caffe2torch "$M/exported.caffemodel" --prototxt "$M/exported.prototxt" \
    -o "$M/model.py"

# 4. Every framework's predictions compared; the learning curves drawn.
run "$PY" "$HERE/digits_report.py" "$OUT"
