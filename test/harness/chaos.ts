/** A three-broker chaos cluster for the chaos suites, with quick failover, and a client once every broker is live. */
import { ChaosCluster, type ChaosClusterOptions } from '../../src/chaos/cluster.js';
import { Millrace } from '../../src/client/index.js';
import { waitFor } from './cluster.js';

/** Quick failover and group settings on a small machine (the scenarios' defaults too). */
export const QUICK_FAILOVER = {
  sessionTimeoutMs: 2_000,
  heartbeatIntervalMs: 200,
  controllerLeaseMs: 2_000,
  groupInitialRebalanceDelayMs: 300,
  groupMinSessionTimeoutMs: 1_000,
};

export async function startChaosCluster(
  options: Pick<ChaosClusterOptions, 'dir' | 'cluster' | 'seed' | 'brokerConfig'>,
): Promise<{ chaos: ChaosCluster; client: Millrace }> {
  const chaos = await ChaosCluster.start({ brokers: 3, natsNodes: 1, ...options });
  const client = new Millrace({ servers: chaos.natsUrls, cluster: options.cluster, requestTimeoutMs: 5_000 });
  await waitFor(
    'three live brokers',
    async () => (await client.admin().describeCluster()).brokers.filter((b) => !b.fenced).length === 3,
  );
  return { chaos, client };
}
