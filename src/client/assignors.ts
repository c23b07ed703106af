/**
 * Partition assignors for consumer groups, run by the group's leader member: Kafka's range and
 * roundrobin (eager: every member gives up everything at each rebalance) and cooperative-sticky
 * (KIP-429: members keep what they own; a partition that must move is first revoked by its owner
 * and assigned in the follow-up rebalance, so the rest keep consuming throughout).
 */
import { tpKey } from '../../protocol/topic-partition.js';

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface AssignorMember {
  memberId: string;
  groupInstanceId: string | null;
  topics: string[];
  /** What it consumes now (cooperative protocols), and the generation it got it in. */
  owned: TopicPartition[];
  generation: number;
  /** What the member's assignor told the leader (Kafka's subscription userData). */
  userData: Buffer | null;
}

export type Assignment = Map<string, TopicPartition[]>;

/** An assignment with data of the assignor's own for each member (Kafka's assignment userData). */
export interface AssignmentWithData {
  assignment: Assignment;
  userData: ReadonlyMap<string, Buffer>;
}

export interface Assignor {
  name: string;
  /** Cooperative: members keep their partitions through a rebalance and revoke only what moves. */
  cooperative: boolean;
  assign(members: AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): Assignment | AssignmentWithData;
  /** What this member tells the leader's assignor when it joins. */
  subscriptionUserData?(): Buffer | null;
  /** This member's assignment arrived (before the partitions are applied), with the leader's data for it. */
  onAssignment?(assigned: TopicPartition[], userData: Buffer | null): void;
}

/** An assignor of partitions only, as the built-in ones are. */
export type PartitionAssignor = Omit<Assignor, 'assign'> & {
  assign(members: AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): Assignment;
};

export const keyOfTp = (tp: TopicPartition): string => tpKey(tp.topic, tp.partition);
const byTopicPartition = (a: TopicPartition, b: TopicPartition): number =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
/** Static members sort by instance id, so a restart under a new member id changes nothing (as Kafka). */
const sortKey = (m: AssignorMember): string => m.groupInstanceId ?? m.memberId;
const sortedMembers = (members: AssignorMember[]): AssignorMember[] =>
  [...members].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));

function emptyAssignment(members: AssignorMember[]): Assignment {
  return new Map(members.map((m) => [m.memberId, [] as TopicPartition[]]));
}

function allPartitions(members: AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): TopicPartition[] {
  const topics = [...new Set(members.flatMap((m) => m.topics))].filter((t) => partitionsPerTopic.has(t)).sort();
  return topics.flatMap((topic) =>
    Array.from({ length: partitionsPerTopic.get(topic)! }, (_, partition) => ({ topic, partition })),
  );
}

/** Per topic, consecutive ranges of partitions to the subscribed members in order; the first ones get one more. */
export const rangeAssignor: PartitionAssignor = {
  name: 'range',
  cooperative: false,
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members);
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
    for (const topic of topics) {
      const count = partitionsPerTopic.get(topic);
      if (count === undefined) continue;
      const subscribed = sortedMembers(members.filter((m) => m.topics.includes(topic)));
      const per = Math.floor(count / subscribed.length);
      const extra = count % subscribed.length;
      let next = 0;
      subscribed.forEach((m, i) => {
        const n = per + (i < extra ? 1 : 0);
        for (let k = 0; k < n; k++) out.get(m.memberId)!.push({ topic, partition: next++ });
      });
    }
    return out;
  },
};

/** Every partition of every subscribed topic, in order, dealt round the members subscribed to it. */
export const roundRobinAssignor: PartitionAssignor = {
  name: 'roundrobin',
  cooperative: false,
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members);
    const sorted = sortedMembers(members);
    let turn = 0;
    for (const tp of allPartitions(members, partitionsPerTopic)) {
      for (let tries = 0; tries < sorted.length; tries++) {
        const m = sorted[turn++ % sorted.length]!;
        if (m.topics.includes(tp.topic)) {
          out.get(m.memberId)!.push(tp);
          break;
        }
      }
    }
    return out;
  },
};

/**
 * Balanced and sticky: each member keeps what it owns up to its fair share (a partition claimed
 * by two members goes to the one of the newer generation), the rest is dealt to the members
 * with the fewest. Then, cooperatively, a partition whose owner changes is left out of this
 * round: its owner revokes it and rejoins, and the next round gives it to its new member.
 */
export const cooperativeStickyAssignor: PartitionAssignor = {
  name: 'cooperative-sticky',
  cooperative: true,
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members);
    const partitions = allPartitions(members, partitionsPerTopic);
    const exists = new Set(partitions.map(keyOfTp));
    // The previous owner of each partition: the claim of the newest generation wins.
    const owner = new Map<string, { memberId: string; generation: number }>();
    for (const m of members) {
      for (const tp of m.owned) {
        const k = keyOfTp(tp);
        if (!exists.has(k) || !m.topics.includes(tp.topic)) continue;
        const current = owner.get(k);
        if (!current || m.generation > current.generation)
          owner.set(k, { memberId: m.memberId, generation: m.generation });
      }
    }
    const total = partitions.length;
    const count = members.length;
    const minQuota = Math.floor(total / count);
    let maxQuotaSlots = total % count;
    // Keep owned partitions up to the quota; members owning most keep theirs first.
    const kept = new Set<string>();
    const byOwned = [...sortedMembers(members)].sort(
      (a, b) =>
        partitions.filter((tp) => owner.get(keyOfTp(tp))?.memberId === b.memberId).length -
        partitions.filter((tp) => owner.get(keyOfTp(tp))?.memberId === a.memberId).length,
    );
    for (const m of byOwned) {
      const mine = partitions.filter((tp) => owner.get(keyOfTp(tp))?.memberId === m.memberId);
      let quota = minQuota;
      if (mine.length > minQuota && maxQuotaSlots > 0) {
        quota = minQuota + 1;
        maxQuotaSlots--;
      }
      for (const tp of mine.slice(0, quota)) {
        out.get(m.memberId)!.push(tp);
        kept.add(keyOfTp(tp));
      }
    }
    // Deal the rest to eligible members with the fewest partitions.
    const order = sortedMembers(members);
    for (const tp of partitions) {
      if (kept.has(keyOfTp(tp))) continue;
      let best: AssignorMember | null = null;
      for (const m of order) {
        if (!m.topics.includes(tp.topic)) continue;
        if (best === null || out.get(m.memberId)!.length < out.get(best.memberId)!.length) best = m;
      }
      if (best) out.get(best.memberId)!.push(tp);
    }
    // Cooperative: a partition moving between two live members waits for its owner to revoke it.
    const live = new Set(members.map((m) => m.memberId));
    for (const [memberId, tps] of out) {
      out.set(
        memberId,
        tps
          .filter((tp) => {
            const prev = owner.get(keyOfTp(tp));
            return !prev || prev.memberId === memberId || !live.has(prev.memberId);
          })
          .sort(byTopicPartition),
      );
    }
    return out;
  },
};

/** Round robin under the name kafkajs gives it, so a kafkajs member and an SDK member can share a group. */
export const kafkajsRoundRobinAssignor: PartitionAssignor = { ...roundRobinAssignor, name: 'RoundRobinAssigner' };

export const ASSIGNORS: Record<string, PartitionAssignor> = {
  range: rangeAssignor,
  roundrobin: roundRobinAssignor,
  'cooperative-sticky': cooperativeStickyAssignor,
  RoundRobinAssigner: kafkajsRoundRobinAssignor,
};
