#!/usr/bin/env bash
# Installs the Vulkan loader, glvnd's EGL and Mesa's Vulkan drivers (lavapipe, a CPU Vulkan driver) from Debian's
# bookworm-backports suite: Dawn (the `webgpu` package) refuses bookworm's Mesa 22.3. The suite is
# added by copying this machine's own Debian sources entry with its Suites line changed (no host is
# written here), and only these packages are taken from it. Run as root. Idempotent.
set -euo pipefail

src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/cnsn-bookworm-backports.sources
if ! grep -qs 'bookworm-backports' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null; then
  if [ ! -f "$src" ]; then
    echo "install-vulkan: $src not found; add bookworm-backports to your apt sources by hand" >&2
    exit 1
  fi
  # The first stanza (the main archive), its Suites line replaced.
  awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1 { sub(/Suites:[^\n]*/, "Suites: bookworm-backports"); print; exit }' "$src" >"$dst"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  -t bookworm-backports libvulkan1 mesa-vulkan-drivers >/dev/null
# glvnd's EGL, from the machine's own suite: NVIDIA's Vulkan ICD loads it, and the GPU check's
# bundle (tools/gpu-check-pack.sh) carries it to GPU nodes.
apt-get install -y -qq --no-install-recommends libegl1 libglx0 >/dev/null
echo "install-vulkan: $(dpkg-query -W -f '${Package} ${Version}\n' mesa-vulkan-drivers libvulkan1 libegl1 | tr '\n' ';')"
