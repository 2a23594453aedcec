#!/usr/bin/env bash
# Makes the GPU check's bundle for a GPU node with no network and no Node (README, "GPU workers"):
#   tools/gpu-check-pack.sh [OUT_DIR]        (default dist/gpu-check; also writes OUT_DIR.tar.gz)
# Run it in a checkout after `npm ci` on linux-x64 with redis-server installed. The bundle holds:
#   bin/node           this machine's Node binary
#   bin/redis-server   and lib/ with the libraries it and Node need beyond glibc
#   lib/libvulkan.so.1 the Vulkan loader, and glvnd's libEGL and libGLdispatch that NVIDIA's ICD loads
#                      (the node's driver brings the ICD itself)
#   app/cnsn.mjs, app/worker.mjs, app/lua/   the CLI and the worker as single files (tools/bundle-apps.mjs)
#   node_modules/webgpu/                     Dawn's binding with dawn.node for linux-x64
#   wasm/fused.wasm, golden/, gpu-check.sh
# On the node: tar xzf gpu-check.tar.gz && gpu-check/gpu-check.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$repo/dist/gpu-check}")
golden=${GOLDEN_DIR:-$repo/testdata/golden}
cd "$repo"
[[ -f node_modules/webgpu/dist/linux-x64/dawn.node ]] || { echo "run npm ci first (node_modules/webgpu)" >&2; exit 2; }
[[ -f $golden/manifest.json ]] || { echo "no golden cases at $golden (set GOLDEN_DIR)" >&2; exit 2; }
redis=$(command -v redis-server) || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 2; }
vulkan=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ && !found {print $NF; found = 1}')
[[ -n $vulkan ]] || { echo "libvulkan1 is not installed (apt-get install libvulkan1)" >&2; exit 2; }
# NVIDIA's Vulkan ICD (libGLX_nvidia.so.0) loads glvnd's EGL and dispatcher at run time: without
# them the loader reports "Could not get 'vkCreateInstance'" and Dawn finds no adapter (seen on an
# H200 node with driver 580: libEGL.so.1 was the one missing).
glvnd=()
for so in libEGL.so.1 libGLdispatch.so.0 libGLX.so.0; do
  path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ && !found {print $NF; found = 1}')
  [[ -n $path ]] || { echo "$so is not installed (apt-get install libegl1 libglvnd0 libglx0)" >&2; exit 2; }
  glvnd+=("$path")
done

rm -rf "$out" "$out.tar.gz"
mkdir -p "$out"/{bin,lib,golden,node_modules/webgpu/dist/linux-x64}
node tools/bundle-apps.mjs "$out" --self-contained
cp node_modules/webgpu/{index.js,package.json,LICENSE*} "$out/node_modules/webgpu/" 2>/dev/null || true
cp node_modules/webgpu/dist/linux-x64/dawn.node "$out/node_modules/webgpu/dist/linux-x64/"
cp "$golden"/* "$out/golden/"
cp tools/gpu-check.sh "$out/"

cp "$(command -v node)" "$redis" "$out/bin/"
cp -L "$vulkan" "$out/lib/libvulkan.so.1"
cp -L "${glvnd[@]}" "$out/lib/"
# What Node, redis-server and dawn.node link beyond glibc itself (glibc must be the node's own).
for bin in "$out/bin/node" "$out/bin/redis-server" "$out/node_modules/webgpu/dist/linux-x64/dawn.node"; do
  ldd "$bin" | awk '$3 ~ /^\// {print $3}' | while read -r so; do
    case $(basename "$so") in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) ;;
      *) cp -Ln "$so" "$out/lib/" ;;
    esac
  done
done
tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
echo "bundle: $out ($(du -sh "$out" | cut -f1)), $out.tar.gz ($(du -sh "$out.tar.gz" | cut -f1))" >&2
