/**
 * Every rule of a partition's leadership and ISR in one place, as Kafka's PartitionChangeBuilder:
 * who may lead, and how the epochs move. Pure: no I/O, no clock.
 */
import type { ElectionReason } from '../metrics/catalogue.js';
import type { MetadataImage } from './image.js';
import type { PartitionRecord } from './records.js';

export type { ElectionReason };

/** Brokers that may lead or join an ISR: registered, unfenced, not shutting down. */
export function liveBrokers(image: MetadataImage, except = -1): Set<number> {
  const live = new Set<number>();
  for (const b of image.brokers.values()) if (!b.fenced && !b.shuttingDown && b.id !== except) live.add(b.id);
  return live;
}

/** The first replica, in assignment order, that is in `isr` and live; -1 when none is. */
export function electLeader(replicas: readonly number[], isr: readonly number[], live: ReadonlySet<number>): number {
  return replicas.find((r) => isr.includes(r) && live.has(r)) ?? -1;
}

export interface PartitionChange {
  leader?: number;
  isr?: readonly number[];
  replicas?: readonly number[];
  /** null ends a reassignment. */
  targetReplicas?: readonly number[] | null;
  /** With a new target: which of its replicas are new to the partition. */
  addingReplicas?: readonly number[];
}

const same = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The partition after `change`, or null when nothing changes. The one epoch rule: any change
 * bumps the partition epoch; a change of leader also bumps the leader epoch.
 */
export function changePartition(p: PartitionRecord, change: PartitionChange): PartitionRecord | null {
  const leader = change.leader ?? p.leader;
  const isr = change.isr ?? p.isr;
  const replicas = change.replicas ?? p.replicas;
  const target = change.targetReplicas === undefined ? p.targetReplicas : (change.targetReplicas ?? undefined);
  const targetSame = target === p.targetReplicas || (!!target && !!p.targetReplicas && same(target, p.targetReplicas));
  if (leader === p.leader && same(isr, p.isr) && same(replicas, p.replicas) && targetSame) return null;
  const next: PartitionRecord = {
    topicId: p.topicId,
    partition: p.partition,
    replicas: [...replicas],
    isr: [...isr],
    leader,
    leaderEpoch: leader !== p.leader ? p.leaderEpoch + 1 : p.leaderEpoch,
    partitionEpoch: p.partitionEpoch + 1,
  };
  if (target) {
    next.targetReplicas = [...target];
    const adding = change.addingReplicas ?? p.addingReplicas;
    if (adding?.length) next.addingReplicas = [...adding];
  }
  return next;
}

export interface Election {
  topic: string;
  partition: number;
  leader: number;
  reason: ElectionReason;
}

/**
 * A broker leaves service (fenced, or shutting down): it leaves every ISR that has another member
 * and its leaderships move to the first live ISR replica. With no such replica the partition goes
 * offline (leader -1), or, where the topic allows unclean election, an out-of-sync live replica
 * leads and the ISR restarts with it.
 */
export function brokerLeaves(
  p: PartitionRecord,
  brokerId: number,
  live: ReadonlySet<number>,
  uncleanAllowed: boolean,
  reason: 'fenced' | 'controlled_shutdown',
): { next: PartitionRecord | null; reason?: ElectionReason } {
  if (!p.replicas.includes(brokerId)) return { next: null };
  const isr = p.isr.includes(brokerId) && p.isr.length > 1 ? p.isr.filter((r) => r !== brokerId) : p.isr;
  if (p.leader !== brokerId) return { next: changePartition(p, { isr }) };
  const leader = electLeader(p.replicas, isr, live);
  if (leader !== -1) return { next: changePartition(p, { isr, leader }), reason };
  const unclean = uncleanAllowed ? (p.replicas.find((r) => live.has(r)) ?? -1) : -1;
  if (unclean !== -1) return { next: changePartition(p, { isr: [unclean], leader: unclean }), reason: 'unclean' };
  return { next: changePartition(p, { isr, leader: -1 }), reason };
}

/** A broker returns: offline partitions it can lead get it as leader (an out-of-sync one only if unclean is allowed). */
export function brokerReturns(
  p: PartitionRecord,
  brokerId: number,
  uncleanAllowed: boolean,
): { next: PartitionRecord | null; reason?: ElectionReason } {
  if (p.leader !== -1 || !p.replicas.includes(brokerId)) return { next: null };
  if (p.isr.includes(brokerId)) return { next: changePartition(p, { leader: brokerId }), reason: 'broker_returned' };
  if (!uncleanAllowed) return { next: null };
  return { next: changePartition(p, { leader: brokerId, isr: [brokerId] }), reason: 'unclean' };
}

/** A reassignment whose target replicas are all in sync completes: replicas and ISR narrow to the target. */
export function completeReassignment(
  p: PartitionRecord,
  live: ReadonlySet<number>,
): { next: PartitionRecord | null; reason?: ElectionReason } {
  const target = p.targetReplicas;
  if (!target || !target.every((b) => p.isr.includes(b))) return { next: null };
  const isr = target.filter((b) => p.isr.includes(b));
  const leader = target.includes(p.leader) ? p.leader : electLeader(target, isr, live);
  return {
    next: changePartition(p, { replicas: target, isr, leader, targetReplicas: null }),
    reason: leader !== p.leader ? 'reassignment' : undefined,
  };
}
