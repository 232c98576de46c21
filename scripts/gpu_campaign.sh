#!/usr/bin/env bash
# The reference campaign on a lent GPU machine, in one command that fits its limits (10 minutes a command,
# a 64 MiB working tree, 8 files of 16 MiB back). Prepare here, with the data:
#
#   hmnet campaign pack --data-dir DIR             # .gpu/: MiniLM in bf16 (45 MB) + the data files (xz, 17 MB)
#   echo /.gpu/ >> .git/info/exclude               # carried by name, never committed
#
# then run this script there with carry [".gpu"] (the device's python3 has torch and transformers):
#
#   BUDGET=8m bash scripts/gpu_campaign.sh
#
# and here: hmnet campaign collect <fetched>/results-*.tar.xz --store reference/local-gpu
#
# The GPU store is a second reference profile: the local profile at a larger scale (PARAMS), in its own store,
# never mixed with reference/local. TINY=1 runs the same path on CPU with a tiny plan (the test does).
set -euo pipefail
cd "$(dirname "$0")/.."
PACK=$(cd "${PACK:-.gpu}" && pwd)
STORE=${STORE:-reference/local-gpu}
BUDGET=${BUDGET:-8m}
OUT=${OUT:-_build/gpu-results}  # on the device machine its $OUT, whose files come back
PY=${PYTHON:-python3}
DATA=$(mktemp -d)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HMNET_MINILM_DIR="$PACK/minilm" PYTHONUNBUFFERED=1
"$PY" -c "from hmnet.campaign.device_pack import unpack_data; unpack_data('$PACK/nlu.tar.xz', '$DATA')"
if [ "${TINY:-0}" = 1 ]; then
  PARAMS=(-p tasks '["RTE"]' -p seeds '[0]' -p skillnet_seeds '[0]' -p max_train_examples 16 -p max_eval_examples 16)
  RUN=(--sections table1 --workers 2 --threads 1)
else
  PARAMS=(-p max_train_examples 4000)
  RUN=(--workers "${WORKERS:-4}" --threads "${THREADS:-4}")
fi
"$PY" -m hmnet.cli campaign run --profile local --data-dir "$DATA" --store "$STORE" --budget "$BUDGET" \
  "${PARAMS[@]}" "${RUN[@]}"
"$PY" -m hmnet.cli campaign pack-results --store "$STORE" --out "$OUT"
