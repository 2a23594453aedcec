import { BlobConnection, type BlobStore } from './blob-connection.js';
import { ClusterBlobs } from './cluster-blobs.js';
import { isCluster, type RedisClient, targetOf } from './redis-connection.js';

/**
 * The blob connections for a client's Redis: one connection to a single server, or one per primary
 * of a cluster (blobs spread over the shards by their per-batch hash tag).
 */
export function openBlobStore(
  client: RedisClient,
  options: { connectTimeoutMs?: number } = {},
): Promise<BlobStore> {
  const target = targetOf(client);
  return isCluster(client) ? ClusterBlobs.open(target, options) : BlobConnection.open(target, options);
}
