#!/usr/bin/env bash
# The GPU check (README, "GPU workers"): the adapters Dawn sees, the golden cases on webgpu,
# webgpu beside fused per batch, and a short end-to-end run with a GPU worker; the last line of
# stdout is one JSON summary, the exit status 0 when every check passed. Extra arguments go to
# `cnsn gpu-check` (e.g. --require-gpu, --iters 50, --shape 128,512,14,14).
#
# Runs in a checkout after `npm ci` (needs node and redis-server on PATH), or in a bundle made by
# tools/gpu-check-pack.sh, which carries Node, Dawn's dawn.node, the Vulkan loader and redis-server,
# for a GPU node with no network and no Node. The node needs only its NVIDIA driver with the Vulkan
# ICD (in containers: NVIDIA_DRIVER_CAPABILITIES including graphics).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "gpu-check: $*" >&2; exit 2; }

if [[ -f $here/app/cnsn.mjs ]]; then
  # An unpacked bundle: everything it needs is beside this script.
  root=$here
  export PATH="$root/bin:$PATH"
  export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cli=("$root/bin/node" "$root/app/cnsn.mjs" gpu-check --golden "$root/golden")
else
  root=$(cd "$here/.." && pwd)
  node=${NODE:-$(command -v node || true)}
  [[ -n $node ]] || die "no node on PATH: run npm ci on a machine with Node 20, or make a bundle with tools/gpu-check-pack.sh"
  [[ -d $root/node_modules/webgpu ]] || die "node_modules/webgpu is missing: run npm ci in $root"
  command -v redis-server >/dev/null || die "redis-server is not on PATH (apt-get install redis-server), or use a bundle"
  cli=("$node" --import tsx "$root/apps/cli/src/main.ts" gpu-check)
fi
cd "$root"

# The NVIDIA container toolkit may mount the driver's Vulkan ICD where the loader does not look.
if [[ -z ${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-} ]]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [[ -f $icd ]] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
      export VK_DRIVER_FILES=$icd
      echo "gpu-check: using the NVIDIA Vulkan ICD at $icd" >&2
      break
    fi
  done
fi
command -v nvidia-smi >/dev/null && nvidia-smi -L >&2 || true

# Well inside five minutes on a GPU node; the CPU-adapter run here takes about 15 s.
exec timeout "${GPU_CHECK_TIMEOUT:-290}" "${cli[@]}" "$@"
