#!/usr/bin/env bash
# `make images`: build both images from Dockerfile.cuda, then check each one the way
# a user runs it, against a folder mounted at /work. Every command is printed as it
# is run ("$ ..."), with its output; each image's transcript goes to docs/images_<name>.txt.
#
#   bash docker/images.sh [cpu] [cuda]          # default: both
#
# Environment (all optional):
#   CUDA_ARCH, CUDA_PTX   the GPU architectures of the cuda image (default: the
#                         Dockerfile's, "75 80 86 89 90" + PTX 90; "90" builds faster)
#   DOCKER_NETWORK        network for builds and runs (default: host; this project's
#                         machines have no bridge network)
#   DEBIAN_MIRROR         Debian mirror for apt in the images (default: this machine's)
#   WORK                  the folder mounted at /work (default: a new one under /tmp)
#   CHECK_UID             owner of that folder, the "calling user" (default: 1000)
#   NICE                  niceness of builds and runs (default: 19)
#   PORT                  the port serve is checked on (default: 5055)
#   SKIP_BUILD=1          check the images as they are
#   DOCKER                the docker command (default: docker). The builds need BuildKit:
#                         the buildx plugin, or a docker CLI of 20.10 or older, whose
#                         BuildKit is built in (DOCKER=/usr/bin/docker of Debian's docker.io)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cd "$root"

flavors=("$@")
[ ${#flavors[@]} -gt 0 ] || flavors=(cpu cuda)
network=${DOCKER_NETWORK:-host}
nice_level=${NICE:-19}
check_uid=${CHECK_UID:-1000}
port=${PORT:-5055}
dsc=caffe-src/caffe_1.0.0+git20180821.99bd997-8.dsc

die() { echo "images.sh: error: $*" >&2; exit 1; }

tag_of() { [ "$1" = cpu ] && echo siamese-caffe || echo siamese-caffe:cuda; }

docker_cli=${DOCKER:-docker}
docker() { command "$docker_cli" "$@"; }

# ---- what the build needs -----------------------------------------------------------
check_buildkit() {
  # DOCKER_BUILDKIT=1 needs buildx from CLI 23 on; older CLIs carry BuildKit themselves.
  local major
  docker buildx version >/dev/null 2>&1 && return 0
  major=$(docker version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
  [ -n "$major" ] && [ "$major" -le 20 ] && return 0
  die "$docker_cli has no buildx: install the docker-buildx plugin, or set DOCKER to a docker CLI of 20.10 (e.g. DOCKER=/usr/bin/docker)"
}

prepare_context() {
  command -v "$docker_cli" >/dev/null || die "$docker_cli is not installed"
  check_buildkit
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"
  if [ ! -f "$dsc" ]; then
    bash scripts/install_caffe.sh --download-only caffe-src >/dev/null
  fi
  # a TLS-intercepting proxy's CA on the way to PyPI (docker/ca-certificates/README)
  cp /usr/local/share/ca-certificates/*.crt docker/ca-certificates/ 2>/dev/null || true
  if [ -z "${DEBIAN_MIRROR:-}" ]; then
    DEBIAN_MIRROR=$(source scripts/apt_mirrors.sh; system_debian_mirror)
  fi
  if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
    docker pull debian:bookworm-slim ||
      die "no debian:bookworm-slim and no registry: run 'bash scripts/make_base_image.sh' first"
  fi
}

build() {
  # The full log goes to /tmp; docs/ keeps its steps, their seconds and the build's own lines.
  local flavor=$1 log=/tmp/siamese-caffe-build-$1.log summary=docs/images_build_$1.txt began ended args=()
  args=(--network "$network" -f Dockerfile.cuda --target "$flavor" -t "$(tag_of "$flavor")"
        --build-arg "DEBIAN_MIRROR=$DEBIAN_MIRROR")
  if [ "$flavor" = cuda ]; then
    [ -z "${CUDA_ARCH:-}" ] || args+=(--build-arg "CUDA_ARCH=$CUDA_ARCH")
    [ -z "${CUDA_PTX:-}" ] || args+=(--build-arg "CUDA_PTX=$CUDA_PTX")
  fi
  echo "images.sh: building $(tag_of "$flavor") (log: $log, steps: $summary)"
  began=$(date +%s)
  {
    echo "$ DOCKER_BUILDKIT=1 nice -n $nice_level docker build --progress=plain ${args[*]} ."
    DOCKER_BUILDKIT=1 nice -n "$nice_level" "$docker_cli" build --progress=plain "${args[@]}" . 2>&1
  } > "$log" || { tail -n 30 "$log" >&2; die "docker build of $flavor failed (log: $log)"; }
  ended=$(date +%s)
  echo "build seconds: $((ended - began)) (wall; steps taken from the layer cache cost ~0)" >> "$log"
  grep -E '^\$ |^#[0-9]+ (\[|DONE|CACHED|ERROR)|install_caffe\.sh:|^build seconds' "$log" |
    grep -v '^#[0-9]* \[internal\]' > "$summary"
  echo "images.sh: built $(tag_of "$flavor") in $((ended - began)) s"
}

# ---- the checks -----------------------------------------------------------------------
show() { printf '\n$ %s\n' "$*"; }

failures=0

run_logged() {
  # Print the command as a user types it, then run it; a failure is counted and said.
  show "$@"
  "$@" 2>&1 || fail "exit $? from: $*"
}

fail() {
  echo "CHECK FAILED: $*"
  failures=$((failures + 1))
}

check() {
  local flavor=$1 image work job_id began ended owner_bad
  image=$(tag_of "$flavor")
  failures=0
  work=${WORK:-$(mktemp -d "/tmp/siamese-caffe-$flavor.XXXXXX")/work}
  rm -rf "$work" && mkdir -p "$work" && chown "$check_uid:$check_uid" "$work"
  cd "$(dirname "$work")"
  local run=(nice -n "$nice_level" "$docker_cli" run --rm --network "$network" -v "$PWD/work:/work")

  echo "# $image, checked $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, no GPU"
  echo "# the mounted folder is owned by uid $check_uid, the calling user here"
  show docker image ls "$image"
  docker image ls "$image" --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}'
  echo "size in bytes: $(docker image inspect "$image" --format '{{.Size}}')"

  run_logged "${run[@]}" "$image" doctor

  show "${run[@]}" "$image" demo
  began=$(date +%s%N)
  "${run[@]}" "$image" demo 2>&1 || fail "exit $? from the demo"
  ended=$(date +%s%N)
  echo "demo wall seconds (docker run included): $(( (ended - began) / 1000000000 ))"
  [ -f "$work/demo-output/demo.json" ] || fail "the demo wrote no demo.json"
  python3 - "$work/demo-output" <<'EOF' || true
import json, os, sys
d = json.load(open(os.path.join(sys.argv[1], "demo.json")))
job = json.load(open(os.path.join(sys.argv[1], "jobs", os.path.basename(d["job"]), "job.json")))
device = job["settings"]["device"]
print(f"demo.json: {d['seconds']} s; device {device}; k-NN accuracy {100 * d['knn_accuracy']:.1f} %;"
      f" pair accuracy {100 * d['pair_accuracy']:.1f} % (best threshold"
      f" {100 * d['best_pair_accuracy']:.1f} %); ROC AUC {d['roc_auc']:.3f}")
EOF

  echo
  echo "# the steps of docs/gpu-docker.md, one container each, against the same folder"
  run_logged "${run[@]}" "$image" prepare-mnist mnist
  run_logged "${run[@]}" "$image" create-db siamesedb mnist/train.txt -c 6000 --val-list mnist/val.txt --seed 1
  run_logged "${run[@]}" "$image" train siamesedb --epochs 1 --seed 1
  job_id=$(basename "$(ls -d "$work"/jobs/2* 2>/dev/null | tail -n 1)")
  [ -n "$job_id" ] || fail "train made no job"
  run_logged "${run[@]}" "$image" infer --job "jobs/$job_id" \
      siamesedb/val_test_same_class_0.png siamesedb/val_test_different_class_0.png
  run_logged "${run[@]}" "$image" infer-many --job "jobs/$job_id" mnist/val.txt -o predictions.csv
  run_logged "${run[@]}" "$image" plot-clusters predictions.csv -o clusters.png
  run_logged "${run[@]}" "$image" evaluate --job "jobs/$job_id" --force
  run_logged "${run[@]}" "$image" draw-net /opt/siamese-caffe/src/prototxt/mnist_siamese_train_test.prototxt -o network.png
  # the same steps with -u instead of the entry point's switch to the folder's owner
  run_logged "${run[@]}" -u "$check_uid:$check_uid" "$image" infer --job "jobs/$job_id" siamesedb/val_test_same_class_1.png

  echo
  echo "# serve in the container, asked from the host (the container shares the host's network)"
  show "${run[@]}" -d --name "siamese-serve-$flavor" "$image" serve --jobs-dir demo-output/jobs --data-root demo-output/mnist --port $port
  docker rm -f "siamese-serve-$flavor" >/dev/null 2>&1 || true
  "${run[@]}" -d --name "siamese-serve-$flavor" "$image" serve --jobs-dir demo-output/jobs \
      --data-root demo-output/mnist --port $port >/dev/null
  show "until curl -s localhost:$port/healthz; do sleep 1; done"
  for _ in $(seq 60); do curl -s "localhost:$port/healthz" && break; sleep 1; done
  curl -s "localhost:$port/healthz" >/dev/null || fail "serve did not answer"
  echo
  job_id=$(basename "$(ls -d "$work"/demo-output/jobs/2* 2>/dev/null | tail -n 1)")
  show curl -s "localhost:$port/models/images/generic/infer_one.json" -XPOST -F "job_id=$job_id" \
      -F image_file=@work/demo-output/siamesedb/val_test_same_class_0.png
  curl -s "localhost:$port/models/images/generic/infer_one.json" -XPOST -F "job_id=$job_id" \
      -F image_file=@work/demo-output/siamesedb/val_test_same_class_0.png | tee infer_one.json
  grep -q '"distance"' infer_one.json || fail "serve's infer_one gave no distance"
  echo
  show curl -s "localhost:$port/models/$job_id.json" "| head -c 300"
  curl -s "localhost:$port/models/$job_id.json" | head -c 300
  echo
  run_logged docker stop "siamese-serve-$flavor"

  echo
  echo "# who owns what the containers wrote (uid:gid, count)"
  show "find work -printf '%U:%G\n' | sort | uniq -c"
  find work -printf '%U:%G\n' | sort | uniq -c
  owner_bad=$(find work ! -uid "$check_uid" | wc -l)
  echo "files not owned by uid $check_uid: $owner_bad"
  [ "$owner_bad" = 0 ] || fail "files owned by someone else"

  echo
  echo "# --gpus all on a host without the NVIDIA Container Toolkit: Docker refuses, before the image runs"
  show "${run[@]}" --gpus all "$image" doctor
  "${run[@]}" --gpus all "$image" doctor 2>&1 || true
  cd "$root"
  echo
  echo "checks failed: $failures"
  [ "$failures" = 0 ]
}

[ "${SKIP_BUILD:-0}" = 1 ] || prepare_context
for flavor in "${flavors[@]}"; do
  case "$flavor" in cpu|cuda) ;; *) die "unknown image '$flavor' (cpu or cuda)" ;; esac
  [ "${SKIP_BUILD:-0}" = 1 ] || build "$flavor"
done
for flavor in "${flavors[@]}"; do
  echo "images.sh: checking $(tag_of "$flavor") (transcript: docs/images_$flavor.txt)"
  check "$flavor" > "docs/images_$flavor.txt" 2>&1 || die "checks of $flavor failed (docs/images_$flavor.txt)"
  grep -E '^demo\.json:|^files not owned|^checks failed' "docs/images_$flavor.txt" || true
done
