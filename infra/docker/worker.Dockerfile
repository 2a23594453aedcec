# syntax=docker/dockerfile:1
# The CPU worker (`npm run worker` as an image): the fused backend, WebAssembly SIMD.
#   docker build -f infra/docker/worker.Dockerfile -t cnsn-worker .
#   docker run -e REDIS_URL=redis://queue-host:6379 cnsn-worker
# Build: the full install (AssemblyScript builds fused.wasm), the apps bundled into single modules.
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

# Run: production dependencies only, the bundles, a non-root user.
FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production \
    CNSN_HEALTH_FILE=/tmp/cnsn-health
WORKDIR /srv/cnsn
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /out/ ./
COPY infra/docker/entrypoint.sh infra/docker/healthcheck.mjs ./
USER node
# SIGTERM: the worker finishes the batches in hand (well inside BullMQ's 8 s lock) and exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "/srv/cnsn/healthcheck.mjs"]
ENTRYPOINT ["/srv/cnsn/entrypoint.sh"]
CMD ["worker", "--backend", "fused"]
