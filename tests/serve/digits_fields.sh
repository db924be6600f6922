#!/bin/sh
# DIGITS' model fields over REST with curl: a dataset, at once a model on it (it waits), a second model
# fine-tuned from the first one's snapshot (method=previous), a 2 x 2 sweep, and a model
# with use_mean=pixel, crop_size=24 and batch_accumulation=2. Prints one line per job:
#   <label> <job id>
#   SERVER   e.g. http://localhost:5000 (siamese-caffe serve --data-root "$MNIST")
#   MNIST    the folder holding train.txt / val.txt, a data root
# Optional: EPOCHS, PAIRS, VAL_PAIRS (small values make a quick run).
set -eu
SERVER=${SERVER:-http://localhost:5000}
NETWORK=${NETWORK:-prototxt/mnist_siamese_train_test.prototxt}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
model() {   # model NAME FIELD... : POST a new model, print its answer
    NAME=$1
    shift
    # the fields given go first: of a field sent twice, the first value counts
    curl -sf "$SERVER/models/images/generic.json" -XPOST "$@" -F username=digits \
        -F model_name="$NAME" -F dataset="$DATASET" -F train_epochs="${EPOCHS:-2}" \
        -F batch_size=32 -F learning_rate=0.01 -F lr_policy=fixed -F random_seed=1 \
        -F select_gpu=cpu
}
wait_done() {
    while :; do
        STATUS=$(curl -sf "$SERVER/$1.json" | json '["status"]')
        case $STATUS in Done) return ;; Error|Aborted) echo "$1: $STATUS" >&2; exit 1 ;; esac
        sleep 1
    done
}

DATASET=$(curl -sf "$SERVER/datasets/images/generic.json" -XPOST -F username=digits \
    -F dataset_name=mnist-siamese -F method=list -F list_file=train.txt \
    -F val_list_file=val.txt -F image_count="${PAIRS:-1000}" \
    -F val_image_count="${VAL_PAIRS:-200}" -F positive_fraction=0.5 -F seed=0 | json '["id"]')
echo "dataset $DATASET"
# at once, without waiting for the dataset: the model shows Waiting until it is Done
PARENT=$(model parent -F method=custom -F custom_network="<$NETWORK" | json '["id"]')
echo "parent $PARENT"
wait_done "models/$PARENT"
EPOCH=$(curl -sf "$SERVER/models/$PARENT.json" | json '["snapshots"][-1]')

TUNED=$(model tuned -F method=previous -F previous_networks="$PARENT" \
    -F "$PARENT-snapshot=$EPOCH" | json '["id"]')
echo "tuned $TUNED"

model sweep -F method=custom -F custom_network="<$NETWORK" -F learning_rate=0.01,0.001 \
    -F batch_size=32,64 | python3 -c '
import json, sys
answer = json.load(sys.stdin)
for job in answer.get("jobs") or sys.exit(f"not a sweep: {answer}"):
    print("sweep", job["id"])'

SHAPED=$(model shaped -F method=custom -F custom_network="<$NETWORK" -F use_mean=pixel \
    -F crop_size=24 -F batch_accumulation=2 | json '["id"]')
echo "shaped $SHAPED"
wait_done "models/$TUNED"
wait_done "models/$SHAPED"
