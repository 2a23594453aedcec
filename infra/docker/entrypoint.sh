#!/bin/sh
# The images' entry point: `worker`, `dashboard` or `cnsn` (the CLI, e.g. the demo driver), then
# that app's own flags. REDIS_URL, CNSN_HEALTH_FILE and CNSN_DASHBOARD_TOKEN come from the env.
set -e
role=${1:-worker}
[ $# -gt 0 ] && shift
case "$role" in
  worker | dashboard | cnsn) exec node "/srv/cnsn/app/$role.mjs" "$@" ;;
  *)
    echo "entrypoint: unknown role '$role' (worker, dashboard or cnsn)" >&2
    exit 2
    ;;
esac
