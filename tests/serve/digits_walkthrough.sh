#!/bin/sh
# The walkthrough with nothing but DIGITS 6.1.1's REST routes and curl.
#   SERVER   e.g. http://localhost:5000 (siamese-caffe serve --data-root "$MNIST")
#   MNIST    the folder holding train.txt / val.txt (prepare-mnist's layout), a data root
#   NETWORK  the network prototxt (default: the shipped one)
# Optional: EPOCHS, PAIRS, VAL_PAIRS, BATCH (small values make a quick run).
set -eu
SERVER=${SERVER:-http://localhost:5000}
NETWORK=${NETWORK:-prototxt/mnist_siamese_train_test.prototxt}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# New Dataset > Images > Other, from the image list (paths relative to a --data-root)
DATASET=$(curl -sf "$SERVER/datasets/images/generic.json" -XPOST -F username=digits \
    -F dataset_name=mnist-siamese -F method=list -F list_file=train.txt \
    -F val_list_file=val.txt -F image_count="${PAIRS:-1000}" \
    -F val_image_count="${VAL_PAIRS:-200}" -F positive_fraction=0.5 -F seed=0 | json '["id"]')
until [ "$(curl -sf "$SERVER/datasets/$DATASET.json" | json '["status"]')" = Done ]; do sleep 1; done
echo "dataset $DATASET: Done"

# New Model > Images > Other with the custom network
MODEL=$(curl -sf "$SERVER/models/images/generic.json" -XPOST -F username=digits \
    -F model_name=siamese -F dataset="$DATASET" -F method=custom \
    -F custom_network="<$NETWORK" -F train_epochs="${EPOCHS:-2}" -F batch_size="${BATCH:-64}" \
    -F learning_rate=0.01 -F solver_type=SGD -F lr_policy=step -F lr_step_size=33 \
    -F lr_step_gamma=0.1 -F random_seed=1 | json '["id"]')
while :; do
    STATUS=$(curl -sf "$SERVER/models/$MODEL.json" | json '["status"]')
    case $STATUS in Done) break ;; Error|Aborted) echo "model $MODEL: $STATUS" >&2; exit 1 ;; esac
    sleep 2
done
echo "model $MODEL: Done"

# the walkthrough's last command, run from the folder of train.txt
cd "$MNIST"
curl -sf "$SERVER/models/images/generic/infer_many.json" -XPOST -F job_id="$MODEL" \
    -F image_list=@train.txt > predictions.txt
echo "predictions.txt: $(json '["outputs"].__len__()' < predictions.txt) images"
