/** The two KV buckets of a cluster: the controller lease and the metadata log. */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../protocol/subjects.js';

export async function openMetadataBucket(nc: NatsConnection, cluster: string, replicas: number): Promise<KV> {
  return new Kvm(nc).create(subjects.metaBucket(cluster), { history: 1, replicas });
}

/** The lease bucket's TTL is the lease: an unrenewed `controller` key disappears after it. */
export async function openLeaseBucket(
  nc: NatsConnection,
  cluster: string,
  leaseMs: number,
  replicas: number,
): Promise<KV> {
  return new Kvm(nc).create(subjects.leaseBucket(cluster), { history: 1, ttl: leaseMs, replicas });
}
