// Public API of @cnsn/infra: the local Redis launcher used by `npm start`, `cnsn run` and the tests.
export { freePort, LocalRedis, RedisServerMissingError } from './local-redis.js';
export type { LocalRedisOptions } from './local-redis.js';
export { resolveRedis } from './resolve-redis.js';
export type { ResolvedRedis } from './resolve-redis.js';
export { LocalRedisCluster, parseClusterNodes } from './local-redis-cluster.js';
export type { ClusterNodeInfo, LocalRedisClusterOptions } from './local-redis-cluster.js';
export { NetCluster, sweepStale } from './net-cluster/net-cluster.js';
export type { LinkShape, NetHost, NetHostSpec } from './net-cluster/net-cluster.js';
export { NetCommandError, netnsUnavailable } from './net-cluster/ip-command.js';
