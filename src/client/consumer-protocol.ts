/**
 * Group membership on the wire, as the SDK sees it: Kafka's consumer protocol (subscriptions in
 * JoinGroup, assignments in SyncGroup) to and from the SDK's topic-partitions and assignors.
 */
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
} from '../../protocol/kafka/consumer-protocol.js';
import type { Assignment, AssignmentWithData, AssignorMember, TopicPartition } from './assignors.js';

export { encodeSubscription };

/** Topic-partitions grouped by topic, in first-seen order. */
export function grouped(tps: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>();
  for (const tp of tps) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

const flattened = (list: Array<{ topic: string; partitions: number[] }>): TopicPartition[] =>
  list.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));

/** The members of a JoinGroup reply, with their subscriptions decoded for an assignor. */
export function subscriptionsOf(
  members: Array<{ memberId: string; groupInstanceId: string; metadata: Uint8Array }>,
): AssignorMember[] {
  return members.map((m) => {
    const s = decodeSubscription(m.metadata);
    return {
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId || null,
      topics: s.topics,
      owned: flattened(s.ownedPartitions),
      generation: s.generationId,
      userData: s.userData === null ? null : Buffer.from(s.userData),
    };
  });
}

/** An assignor's result as the leader's SyncGroup assignments. */
export function assignmentsOf(
  result: Assignment | AssignmentWithData,
): Array<{ memberId: string; assignment: Buffer }> {
  const { assignment, userData } = result instanceof Map ? { assignment: result, userData: new Map() } : result;
  return [...assignment].map(([memberId, tps]) => ({
    memberId,
    assignment: encodeAssignment(grouped(tps), userData.get(memberId) ?? null),
  }));
}

/** The partitions a SyncGroup reply assigns, and the leader's data for this member. */
export function assignedPartitions(assignment: Uint8Array): { partitions: TopicPartition[]; userData: Buffer | null } {
  const decoded = decodeAssignment(assignment);
  return {
    partitions: flattened(decoded.assignedPartitions),
    userData: decoded.userData === null ? null : Buffer.from(decoded.userData),
  };
}
