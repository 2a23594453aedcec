# syntax=docker/dockerfile:1
# The GPU worker: webgpu (WGSL on Dawn) on the NVIDIA driver's Vulkan ICD (README, "GPU workers").
#   docker build -f infra/docker/worker-gpu.Dockerfile -t cnsn-worker-gpu .
#   docker run --gpus all -e REDIS_URL=redis://queue-host:6379 cnsn-worker-gpu
# The NVIDIA container runtime mounts the driver and its Vulkan ICD only for the capabilities asked:
# `graphics` must be among them, or Dawn finds no GPU and the worker falls back to fused (it says so).
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY tools/build-wasm.mjs tools/
COPY libs/kernels/assembly libs/kernels/assembly
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY apps apps
COPY libs libs
COPY infra/src infra/src
COPY tools/bundle-apps.mjs tools/gpu-check-no-canvas.mjs tools/
RUN node tools/bundle-apps.mjs /out

FROM node:20.20.2-bookworm-slim
# The Vulkan loader, and glvnd's EGL, which NVIDIA's Vulkan ICD loads (without it: "Could not get
# 'vkCreateInstance'"). The driver itself comes from the host.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1=1.3.239.0-1 libegl1=1.6.0-1 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    CNSN_HEALTH_FILE=/tmp/cnsn-health \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
WORKDIR /srv/cnsn
COPY package.json package-lock.json ./
# webgpu (Dawn, with dawn.node for linux-x64) is an optional dependency: kept here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /out/ ./
COPY infra/docker/entrypoint.sh infra/docker/healthcheck.mjs ./
USER node
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/srv/cnsn/healthcheck.mjs"]
ENTRYPOINT ["/srv/cnsn/entrypoint.sh"]
# auto takes webgpu on a hardware GPU and logs the adapter, or says why it fell back to fused.
CMD ["worker", "--backend", "auto"]
