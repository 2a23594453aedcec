// Health of a worker container (Docker HEALTHCHECK, Kubernetes probes): healthy while its last
// heartbeat reached Redis within MAX_AGE seconds (the worker touches CNSN_HEALTH_FILE at each).
import { statSync } from 'node:fs';

const file = process.env.CNSN_HEALTH_FILE ?? '/tmp/cnsn-health';
const maxAgeMs = Number(process.env.CNSN_HEALTH_MAX_AGE ?? 15) * 1000;
try {
  const age = Date.now() - statSync(file).mtimeMs;
  if (age > maxAgeMs) {
    console.error(`unhealthy: last heartbeat ${Math.round(age / 1000)} s ago (${file})`);
    process.exit(1);
  }
} catch {
  console.error(`unhealthy: no heartbeat yet (${file})`);
  process.exit(1);
}
