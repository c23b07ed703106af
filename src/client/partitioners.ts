/**
 * Partitioners. The default puts a key on the same partition as Java Kafka's
 * (toPositive(murmur2(key)) % partitions), so Node and Java producers agree on where a key
 * lives; records without a key stick to one partition until its batch is sent (KIP-480).
 */

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

export const toPositive = (n: number): number => n & 0x7fffffff;

export interface PartitionerArgs {
  topic: string;
  key: Buffer | null;
  partitionCount: number;
}

/** Picks a partition for a record; `null` lets the producer stick to a partition for keyless records. */
export type Partitioner = (args: PartitionerArgs) => number | null;

export const defaultPartitioner: Partitioner = ({ key, partitionCount }) =>
  key === null ? null : toPositive(murmur2(key)) % partitionCount;

/** Round-robin over partitions for every record, keyed or not. */
export function roundRobinPartitioner(): Partitioner {
  let next = 0;
  return ({ partitionCount }) => next++ % partitionCount;
}
