/** Runs a request's work partition by partition at each leader replica. */
import { errorFields } from '../../protocol/errors.js';
import type { MetadataImage } from '../cluster/image.js';
import type { HostedPartition } from './hosted-partition.js';
import type { ReplicaManager } from './replica-manager.js';

/** Runs `fn` for each requested partition at its leader replica, once the caller is authorized; any error becomes that partition's error fields. */
export function perPartition<P extends { partition?: number | null }, R>(
  replicas: ReplicaManager,
  image: MetadataImage,
  topics: Array<{ name?: string | null; partitions?: P[] | null }>,
  fn: (hp: HostedPartition, p: P, partition: number) => R,
  failed: (partition: number, error: { errorCode: number; errorMessage: string }) => R,
  /** Throws when the caller may not do this to the topic: checked before the topic is looked up. */
  authorize: (topic: string) => void = () => undefined,
): Array<{ name: string | null | undefined; partitions: R[] }> {
  return topics.map((t) => ({
    name: t.name,
    partitions: (t.partitions ?? []).map((p) => {
      const partition = p.partition ?? 0;
      try {
        authorize(t.name ?? '');
        return fn(replicas.leaderFor(image, t.name ?? '', partition), p, partition);
      } catch (err) {
        return failed(partition, errorFields(err));
      }
    }),
  }));
}
