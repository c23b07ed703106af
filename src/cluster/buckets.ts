/** The two KV buckets of a cluster: the controller lease and the metadata log. */
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../protocol/subjects.js';

/** How long a broker waits for JetStream to take its buckets while a NATS cluster forms. */
const JETSTREAM_WAIT_MS = 120_000;

/**
 * What JetStream answers while its cluster is still forming (no meta leader yet, peers not yet
 * known): worth another try. Anything else (a bucket of another configuration, JetStream off) is not.
 */
export function jetStreamStarting(err: unknown): boolean {
  return /timeout|no responders|temporarily unavailable|insufficient resources|no suitable peers|not currently available/i.test(
    String((err as Error)?.message ?? err),
  );
}

async function openBucket(
  nc: NatsConnection,
  name: string,
  options: Partial<KvOptions>,
  onRetry: (err: unknown) => void,
): Promise<KV> {
  const deadline = Date.now() + JETSTREAM_WAIT_MS;
  for (let delay = 250; ; delay = Math.min(2 * delay, 4_000)) {
    try {
      return await new Kvm(nc).create(name, options);
    } catch (err) {
      if (!jetStreamStarting(err) || Date.now() + delay > deadline) throw err;
      onRetry(err);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

export function openMetadataBucket(
  nc: NatsConnection,
  cluster: string,
  replicas: number,
  onRetry: (err: unknown) => void = () => undefined,
): Promise<KV> {
  return openBucket(nc, subjects.metaBucket(cluster), { history: 1, replicas }, onRetry);
}

/** The lease bucket's TTL is the lease: an unrenewed `controller` key disappears after it. */
export function openLeaseBucket(
  nc: NatsConnection,
  cluster: string,
  leaseMs: number,
  replicas: number,
  onRetry: (err: unknown) => void = () => undefined,
): Promise<KV> {
  return openBucket(nc, subjects.leaseBucket(cluster), { history: 1, ttl: leaseMs, replicas }, onRetry);
}
