# syntax=docker/dockerfile:1
# The dashboard: runs, workers, failures, bull-board and /metrics (README, "Dashboard").
#   docker build -f infra/docker/dashboard.Dockerfile -t cnsn-dashboard .
#   docker run -p 8080:8080 -e REDIS_URL=redis://queue-host:6379 -e CNSN_DASHBOARD_TOKEN=... cnsn-dashboard
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
ENV NODE_ENV=production
WORKDIR /srv/cnsn
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /out/ ./
COPY infra/docker/entrypoint.sh ./
USER node
EXPOSE 8080
STOPSIGNAL SIGTERM
# /api/health answers without a token: the page and the API want one off loopback.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/api/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/srv/cnsn/entrypoint.sh"]
# Off loopback the dashboard refuses to start without CNSN_DASHBOARD_TOKEN.
CMD ["dashboard", "--host", "0.0.0.0", "--port", "8080"]
