/**
 * Replica assignment as Kafka's AdminUtils does it: partitions' first replicas walk the broker
 * list from a random start, followers follow at a shift that changes every full round, so
 * leaders and followers spread evenly. With racks on every broker the list alternates racks and
 * each partition's replicas land on as many racks as possible.
 */
import { MillraceError } from '../../protocol/errors.js';

export interface AssignableBroker {
  id: number;
  rack: string | null;
}

export type Random = (bound: number) => number;
const defaultRandom: Random = (bound) => Math.floor(Math.random() * bound);

function replicaIndex(first: number, shift: number, j: number, n: number): number {
  return (first + 1 + ((shift + j) % (n - 1))) % n;
}

/** Brokers ordered so that consecutive ones sit on different racks (Kafka's rack-alternated list). */
export function rackAlternatedBrokers(brokers: readonly AssignableBroker[]): number[] {
  const byRack = new Map<string, number[]>();
  for (const b of [...brokers].sort((a, c) => a.id - c.id)) {
    const list = byRack.get(b.rack!) ?? [];
    list.push(b.id);
    byRack.set(b.rack!, list);
  }
  const racks = [...byRack.keys()].sort();
  const out: number[] = [];
  for (let round = 0; out.length < brokers.length; round++) {
    for (const rack of racks) {
      const id = byRack.get(rack)![round];
      if (id !== undefined) out.push(id);
    }
  }
  return out;
}

/**
 * Replica lists for partitions [startPartition, startPartition + count). The first replica of
 * each is its preferred leader.
 */
export function assignReplicas(
  brokers: readonly AssignableBroker[],
  count: number,
  replicationFactor: number,
  startPartition = 0,
  random: Random = defaultRandom,
): number[][] {
  if (count <= 0)
    throw new MillraceError('INVALID_PARTITIONS', `number of partitions must be at least 1, got ${count}`);
  if (replicationFactor <= 0)
    throw new MillraceError(
      'INVALID_REPLICATION_FACTOR',
      `replication factor must be at least 1, got ${replicationFactor}`,
    );
  if (replicationFactor > brokers.length) {
    throw new MillraceError(
      'INVALID_REPLICATION_FACTOR',
      `replication factor ${replicationFactor} is larger than the ${brokers.length} available brokers`,
    );
  }
  const rackAware = brokers.length > 0 && brokers.every((b) => b.rack !== null);
  const list = rackAware ? rackAlternatedBrokers(brokers) : [...brokers].map((b) => b.id).sort((a, b) => a - b);
  const rackOf = new Map(brokers.map((b) => [b.id, b.rack]));
  const numRacks = new Set(brokers.map((b) => b.rack)).size;
  const n = list.length;
  const startIndex = random(n);
  let shift = random(n);
  const out: number[][] = [];
  for (let p = startPartition; p < startPartition + count; p++) {
    if (p > 0 && p % n === 0) shift++;
    const first = (p + startIndex) % n;
    const replicas = [list[first]!];
    if (!rackAware) {
      for (let j = 0; j < replicationFactor - 1; j++) replicas.push(list[replicaIndex(first, shift, j, n)]!);
    } else {
      const racks = new Set([rackOf.get(list[first]!)]);
      const used = new Set(replicas);
      for (let k = 0; replicas.length < replicationFactor; k++) {
        const broker = list[replicaIndex(first, shift * numRacks, k, n)]!;
        const rack = rackOf.get(broker);
        if ((!racks.has(rack) || racks.size === numRacks) && (!used.has(broker) || used.size === n)) {
          replicas.push(broker);
          racks.add(rack);
          used.add(broker);
        }
      }
    }
    out.push(replicas);
  }
  return out;
}
