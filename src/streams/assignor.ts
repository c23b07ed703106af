/**
 * The streams partition assignor, as Kafka Streams' StreamsPartitionAssignor: the group's leader
 * assigns tasks, not partitions. Task `p` is partition `p` of every source topic, so a join's
 * co-partitioned inputs always meet in one member. Active tasks are balanced (each member gets
 * the floor or ceiling of tasks / members), sticky (a member keeps the tasks it ran, up to its
 * share) and cooperative (a task moving between two live members is first revoked by its owner
 * and assigned in the follow-up rebalance). A task without an owner goes to a least-loaded member
 * that has its state (a standby), if one does. Each task then gets `numStandbys` standby
 * replicas on other members, preferring members that have its state already.
 *
 * Members tell the leader their process id, their `applicationServer` endpoint and the tasks
 * whose state they hold; the leader tells each member its active and standby tasks and every
 * endpoint's tasks, for interactive-query discovery (Kafka's partitionsByHost). Both travel as
 * JSON in the consumer protocol's userData; the protocol is named `millrace-streams`, since it is
 * not Kafka Streams' binary encoding.
 */
import type { Assignor, AssignorMember, TopicPartition } from '../client/index.js';

export const STREAMS_PROTOCOL = 'millrace-streams';

/** What a member tells the leader. */
export interface StreamsSubscriptionInfo {
  processId: string;
  /** `host:port` of its interactive-query server (Kafka's application.server), or null. */
  endpoint: string | null;
  /** Tasks whose state it holds besides its active ones (standbys, state left on disk). */
  stateful: number[];
}

/** The tasks of one endpoint. */
export interface HostTasks {
  endpoint: string;
  active: number[];
  standby: number[];
}

/** What the leader tells a member. */
export interface StreamsAssignmentInfo {
  active: number[];
  standby: number[];
  /** Every endpoint's tasks (members with an endpoint only). */
  hosts: HostTasks[];
}

export interface TaskMember {
  memberId: string;
  /** The order members are dealt tasks in (the static instance id, else the member id). */
  sortKey: string;
  /** The tasks it ran before this rebalance, and the generation it got them in. */
  activeBefore: number[];
  generation: number;
  /** Other tasks whose state it holds. */
  stateful: number[];
}

export interface TaskAssignment {
  /** Active tasks given this round (a task still revoking from its owner is left out). */
  active: number[];
  /** Active tasks it gets once their owner has revoked them. */
  pending: number[];
  standby: number[];
}

/** Assigns `taskCount` tasks to the members: a pure decision, as above. */
export function assignTasks(
  members: readonly TaskMember[],
  taskCount: number,
  numStandbys: number,
): Map<string, TaskAssignment> {
  const order = [...members].sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  const out = new Map(order.map((m) => [m.memberId, { active: [], pending: [], standby: [] } as TaskAssignment]));
  if (order.length === 0) return out;
  // The previous owner of each task: a task two members claim (one fell out of the group and
  // rejoined with a stale claim) belongs to the claim of the newer generation, as in KIP-429.
  const claims = new Map<number, TaskMember>();
  for (const m of order)
    for (const t of m.activeBefore) {
      const current = claims.get(t);
      if (t < taskCount && (!current || m.generation > current.generation)) claims.set(t, m);
    }
  const owner = new Map([...claims].map(([t, m]) => [t, m.memberId]));
  const intended = new Map(order.map((m) => [m.memberId, [] as number[]]));
  const minQuota = Math.floor(taskCount / order.length);
  let extraSlots = taskCount % order.length;
  const placed = new Set<number>();
  // Sticky: members keep what they ran up to their share, those that ran most first.
  const ownedBy = (m: TaskMember) => [...owner].filter(([, id]) => id === m.memberId).map(([t]) => t);
  for (const m of [...order].sort((a, b) => ownedBy(b).length - ownedBy(a).length)) {
    const mine = ownedBy(m).sort((a, b) => a - b);
    let quota = minQuota;
    if (mine.length > minQuota && extraSlots > 0) {
      quota++;
      extraSlots--;
    }
    for (const t of mine.slice(0, quota)) {
      intended.get(m.memberId)!.push(t);
      placed.add(t);
    }
  }
  // The rest to the least loaded, a member holding the task's state first among them.
  const hasState = (m: TaskMember, t: number) => m.stateful.includes(t) || owner.get(t) === m.memberId;
  for (let t = 0; t < taskCount; t++) {
    if (placed.has(t)) continue;
    const least = Math.min(...order.map((m) => intended.get(m.memberId)!.length));
    const candidates = order.filter((m) => intended.get(m.memberId)!.length === least);
    const chosen = candidates.find((m) => hasState(m, t)) ?? candidates[0]!;
    intended.get(chosen.memberId)!.push(t);
  }
  const live = new Set(order.map((m) => m.memberId));
  for (const m of order) {
    const a = out.get(m.memberId)!;
    for (const t of intended.get(m.memberId)!.sort((x, y) => x - y)) {
      const prev = owner.get(t);
      if (prev === undefined || prev === m.memberId || !live.has(prev)) a.active.push(t);
      else a.pending.push(t);
    }
  }
  // Standbys on other members, those with the task's state first, then the least loaded.
  const replicas = Math.min(numStandbys, order.length - 1);
  const activeOf = new Map<number, string>();
  for (const [id, ts] of intended) for (const t of ts) activeOf.set(t, id);
  for (let t = 0; t < taskCount; t++) {
    const candidates = order
      .filter((m) => m.memberId !== activeOf.get(t))
      .sort(
        (a, b) =>
          Number(hasState(b, t)) - Number(hasState(a, t)) ||
          out.get(a.memberId)!.standby.length - out.get(b.memberId)!.standby.length,
      );
    for (const m of candidates.slice(0, replicas)) out.get(m.memberId)!.standby.push(t);
  }
  return out;
}

/** Task `p`'s partitions: partition `p` of each source topic that has it. */
export function partitionsOfTask(task: number, partitionsPerTopic: ReadonlyMap<string, number>): TopicPartition[] {
  return [...partitionsPerTopic]
    .filter(([, count]) => task < count)
    .map(([topic]) => ({ topic, partition: task }))
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
}

const isTaskList = (v: unknown): v is number[] => Array.isArray(v) && v.every((t) => Number.isInteger(t) && t >= 0);

/** A member's subscription info; a member that sent none or sent something unreadable holds no state. */
export function decodeSubscriptionInfo(member: AssignorMember): StreamsSubscriptionInfo {
  try {
    const raw = JSON.parse(member.userData?.toString('utf8') ?? 'null') as Partial<StreamsSubscriptionInfo> | null;
    return {
      processId: typeof raw?.processId === 'string' ? raw.processId : member.memberId,
      endpoint: typeof raw?.endpoint === 'string' ? raw.endpoint : null,
      stateful: isTaskList(raw?.stateful) ? raw.stateful : [],
    };
  } catch {
    return { processId: member.memberId, endpoint: null, stateful: [] };
  }
}

export function decodeAssignmentInfo(userData: Buffer | null): StreamsAssignmentInfo {
  try {
    const raw = JSON.parse(userData?.toString('utf8') ?? 'null') as Partial<StreamsAssignmentInfo> | null;
    return {
      active: isTaskList(raw?.active) ? raw.active : [],
      standby: isTaskList(raw?.standby) ? raw.standby : [],
      hosts: Array.isArray(raw?.hosts) ? raw.hosts : [],
    };
  } catch {
    return { active: [], standby: [], hosts: [] };
  }
}

/**
 * The assignor a stream thread's consumer uses: `local` says what this member tells the leader,
 * `onInfo` receives this member's assignment info before its partitions are applied.
 */
export function streamsAssignor(
  numStandbys: number,
  local: () => StreamsSubscriptionInfo,
  onInfo: (info: StreamsAssignmentInfo) => void,
): Assignor {
  return {
    name: STREAMS_PROTOCOL,
    cooperative: true,
    subscriptionUserData: () => Buffer.from(JSON.stringify(local())),
    assign(members, partitionsPerTopic) {
      const taskCount = Math.max(0, ...partitionsPerTopic.values());
      const infos = new Map(members.map((m) => [m.memberId, decodeSubscriptionInfo(m)]));
      const tasks = assignTasks(
        members.map((m) => ({
          memberId: m.memberId,
          sortKey: m.groupInstanceId ?? m.memberId,
          activeBefore: [...new Set(m.owned.map((tp) => tp.partition))],
          generation: m.generation,
          stateful: infos.get(m.memberId)!.stateful,
        })),
        taskCount,
        numStandbys,
      );
      const hosts: HostTasks[] = members
        .filter((m) => infos.get(m.memberId)!.endpoint !== null)
        .map((m) => {
          const t = tasks.get(m.memberId)!;
          return {
            endpoint: infos.get(m.memberId)!.endpoint!,
            active: [...t.active, ...t.pending],
            standby: t.standby,
          };
        });
      const assignment = new Map<string, TopicPartition[]>();
      const userData = new Map<string, Buffer>();
      for (const [memberId, t] of tasks) {
        assignment.set(
          memberId,
          t.active.flatMap((task) => partitionsOfTask(task, partitionsPerTopic)),
        );
        const info: StreamsAssignmentInfo = { active: t.active, standby: t.standby, hosts };
        userData.set(memberId, Buffer.from(JSON.stringify(info)));
      }
      return { assignment, userData };
    },
    onAssignment: (_assigned, userData) => onInfo(decodeAssignmentInfo(userData)),
  };
}
