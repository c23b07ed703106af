/**
 * Topics and partitions, as Kafka's ReplicationControlManager: each function takes the image and
 * a request and returns the records to write and the response. Pure: no I/O, no clock; topic ids
 * come from the caller.
 */
import { MillraceError, errorFields, type ErrorName } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { topicNameProblem } from '../../protocol/topics.js';
import { assignReplicas, type Random } from './assignment.js';
import { replayAll, type MetadataImage, type TopicImage } from './image.js';
import {
  brokerLeaves,
  brokerReturns,
  changePartition,
  completeReassignment,
  liveBrokers,
  type Election,
} from './partition-change.js';
import { del, keys, partitionPut, put, type MetadataRecord, type PartitionRecord } from './records.js';
import { validateTopicConfigs } from './topic-config.js';

export interface ControlResult<R> {
  records: MetadataRecord[];
  response: R;
  /** Leader changes the records make, for metrics and logs. */
  elections: Election[];
}

export const MAX_PARTITIONS = 100_000;

/** Where the cores' choices come from: a topic id and the random start of replica assignment. */
export interface ControlEnv {
  newTopicId: () => string;
  random: Random;
}

export interface TopicDefaults {
  /** num.partitions and default.replication.factor, for requests that give -1. */
  defaultPartitions: number;
  defaultReplicationFactor: number;
}

const uncleanAllowed = (t: TopicImage): boolean => t.configs['unclean.leader.election.enable'] === 'true';

function liveForAssignment(image: MetadataImage): Array<{ id: number; rack: string | null }> {
  const live = liveBrokers(image);
  return [...image.brokers.values()].filter((b) => live.has(b.id)).map((b) => ({ id: b.id, rack: b.rack }));
}

/** A new partition: every replica in the ISR, the first leading, epochs at 0. */
export const newPartition = (topicId: string, partition: number, replicas: number[]): PartitionRecord => ({
  topicId,
  partition,
  replicas,
  isr: replicas,
  leader: replicas[0]!,
  leaderEpoch: 0,
  partitionEpoch: 0,
});

/** A refusal as response fields; anything else thrown in a core is a bug and propagates. */
const errorResult = (err: unknown): { errorCode: number; errorMessage: string } => {
  if (!(err instanceof MillraceError)) throw err;
  return errorFields(err);
};

/** Partition records before the topic record: a topic becomes visible only once whole. */
export function createTopics(
  image: MetadataImage,
  req: millrace.ICreateTopicsRequest,
  defaults: TopicDefaults,
  env: ControlEnv,
): ControlResult<millrace.ICreateTopicsResponse> {
  const records: MetadataRecord[] = [];
  const results: millrace.ITopicResult[] = [];
  const seen = new Set<string>();
  for (const t of req.topics ?? []) {
    const name = t.name ?? '';
    try {
      const problem = topicNameProblem(name);
      if (problem) throw new MillraceError('INVALID_TOPIC_EXCEPTION', problem);
      if (seen.has(name)) throw new MillraceError('INVALID_REQUEST', `topic '${name}' appears twice in the request`);
      seen.add(name);
      if (image.topicRecords.has(name))
        throw new MillraceError('TOPIC_ALREADY_EXISTS', `topic '${name}' already exists`);
      const partitions = t.numPartitions === -1 || !t.numPartitions ? defaults.defaultPartitions : t.numPartitions;
      const rf =
        t.replicationFactor === -1 || !t.replicationFactor ? defaults.defaultReplicationFactor : t.replicationFactor;
      if (partitions < 1 || partitions > MAX_PARTITIONS) {
        throw new MillraceError(
          'INVALID_PARTITIONS',
          `number of partitions must be from 1 to ${MAX_PARTITIONS}, got ${partitions}`,
        );
      }
      const configs = { ...(t.configs ?? {}) };
      validateTopicConfigs(configs);
      const assignment = assignReplicas(liveForAssignment(image), partitions, rf, 0, env.random);
      if (!req.validateOnly) {
        const id = env.newTopicId();
        assignment.forEach((replicas, p) => records.push(partitionPut(name, newPartition(id, p, replicas))));
        records.push(put(keys.topic(name), { name, id, configs, partitionCount: partitions }));
      }
      results.push({ name, errorCode: 0, numPartitions: partitions, replicationFactor: rf });
    } catch (err) {
      results.push({ name, ...errorResult(err) });
    }
  }
  return { records, response: { results }, elections: [] };
}

/** The topic record goes first (the topic disappears at once), then its partitions' records. */
export function deleteTopics(
  image: MetadataImage,
  names: readonly string[],
): ControlResult<millrace.IDeleteTopicsResponse> {
  const records: MetadataRecord[] = [];
  const results: millrace.ITopicResult[] = [];
  for (const name of new Set(names)) {
    const topic = image.topicRecords.get(name);
    if (!topic) {
      results.push({
        name,
        ...errorResult(new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`)),
      });
      continue;
    }
    records.push(del(keys.topic(name)));
    for (const p of image.partitionRecords.get(name)?.keys() ?? []) records.push(del(keys.partition(name, p)));
    results.push({ name, errorCode: 0 });
  }
  return { records, response: { results }, elections: [] };
}

export function createPartitions(
  image: MetadataImage,
  req: millrace.ICreatePartitionsRequest,
  env: ControlEnv,
): ControlResult<millrace.ICreatePartitionsResponse> {
  const records: MetadataRecord[] = [];
  const results: millrace.ITopicResult[] = [];
  for (const t of req.topics ?? []) {
    const name = t.name ?? '';
    try {
      const topic = image.topics.get(name);
      if (!topic) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
      const current = topic.partitions.length;
      const count = t.count ?? 0;
      if (count <= current)
        throw new MillraceError(
          'INVALID_PARTITIONS',
          `topic '${name}' has ${current} partitions; the new count ${count} must be larger`,
        );
      if (count > MAX_PARTITIONS) throw new MillraceError('INVALID_PARTITIONS', `at most ${MAX_PARTITIONS} partitions`);
      const rf = topic.partitions[0]!.replicas.length;
      const added = assignReplicas(liveForAssignment(image), count - current, rf, current, env.random);
      if (!req.validateOnly) {
        added.forEach((replicas, i) => records.push(partitionPut(name, newPartition(topic.id, current + i, replicas))));
        records.push(
          put(keys.topic(name), { name, id: topic.id, configs: { ...topic.configs }, partitionCount: count }),
        );
      }
      results.push({ name, errorCode: 0, numPartitions: count, replicationFactor: rf });
    } catch (err) {
      results.push({ name, ...errorResult(err) });
    }
  }
  return { records, response: { results }, elections: [] };
}

function partitionOf(image: MetadataImage, topic: string, partition: number): { t: TopicImage; p: PartitionRecord } {
  const t = image.topics.get(topic);
  const p = t?.partitions[partition];
  if (!t || !p) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${topic}-${partition} does not exist`);
  return { t, p };
}

/**
 * ISR changes from a partition leader (AlterPartition, batched): each is accepted only from the
 * current leader at the current leader and partition epochs, with added replicas live, and gets
 * its own result. The caller has checked the broker epoch.
 */
export function alterPartition(
  image: MetadataImage,
  req: millrace.IAlterPartitionRequest,
): ControlResult<millrace.IAlterPartitionResponse> {
  const live = liveBrokers(image);
  const changed = new Map<string, { topic: string; p: PartitionRecord }>();
  const results: millrace.IAlterPartitionResult[] = [];
  for (const item of req.partitions ?? []) {
    const topic = item.topic ?? '';
    const partition = item.partition ?? 0;
    const key = keys.partition(topic, partition);
    try {
      const p = changed.get(key)?.p ?? partitionOf(image, topic, partition).p;
      const next = isrChange(p, req.brokerId ?? -1, item, live, `${topic}-${partition}`);
      if (next) changed.set(key, { topic, p: next });
      const now = next ?? p;
      results.push({
        topic,
        partition,
        errorCode: 0,
        leaderEpoch: now.leaderEpoch,
        partitionEpoch: now.partitionEpoch,
        isr: now.isr,
      });
    } catch (err) {
      results.push({ topic, partition, ...errorResult(err) });
    }
  }
  const records = [...changed.values()].map(({ topic, p }) => partitionPut(topic, p));
  const moving = [...changed.values()]
    .filter(({ p }) => p.targetReplicas)
    .map(({ topic, p }) => [topic, p.partition] as const);
  if (!moving.length) return { records, response: { results }, elections: [] };
  // A change that puts every target replica in the ISR completes its reassignment in the same write.
  const done = completeReassignments(replayAll(image, records, image.version + 1), moving);
  for (const r of done.records) {
    const p = r.value as PartitionRecord;
    for (const x of results)
      if (!x.errorCode && keys.partition(x.topic ?? '', x.partition ?? 0) === r.key)
        Object.assign(x, { leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, isr: p.isr });
  }
  return { records: [...records, ...done.records], response: { results }, elections: done.elections };
}

/** One partition's ISR change, or null when it asks for the ISR it has. */
function isrChange(
  p: PartitionRecord,
  brokerId: number,
  item: millrace.IAlterPartitionItem,
  live: ReadonlySet<number>,
  name: string,
): PartitionRecord | null {
  if (p.leader !== brokerId)
    throw new MillraceError(
      'NOT_LEADER_OR_FOLLOWER',
      `broker ${brokerId} does not lead ${name} (leader ${p.leader}, replicas ${p.replicas.join(',')})`,
    );
  if (item.leaderEpoch !== p.leaderEpoch)
    throw new MillraceError(
      'FENCED_LEADER_EPOCH',
      `leader epoch ${item.leaderEpoch} is not the current ${p.leaderEpoch}`,
    );
  if (item.partitionEpoch !== p.partitionEpoch)
    throw new MillraceError(
      'INVALID_UPDATE_VERSION',
      `partition epoch ${item.partitionEpoch} is not the current ${p.partitionEpoch}`,
    );
  const wanted = new Set(item.newIsr ?? []);
  if (!wanted.has(p.leader) || [...wanted].some((r) => !p.replicas.includes(r)))
    throw new MillraceError(
      'INVALID_REQUEST',
      `ISR [${[...wanted].join(',')}] must hold the leader and only replicas of ${name}`,
    );
  const ineligible = [...wanted].filter((r) => !p.isr.includes(r) && !live.has(r));
  if (ineligible.length)
    throw new MillraceError('INELIGIBLE_REPLICA', `replicas ${ineligible.join(',')} are fenced or shutting down`);
  return changePartition(p, { isr: p.replicas.filter((r) => wanted.has(r)) });
}

/**
 * Moves each partition's leadership back to its preferred replica (the first in assignment
 * order) when that replica is live and in the ISR. No topics: every topic.
 */
export function electPreferredLeaders(
  image: MetadataImage,
  topics: readonly string[],
): ControlResult<millrace.IElectLeadersResponse> {
  const records: MetadataRecord[] = [];
  const elections: Election[] = [];
  const results: millrace.IElectionResult[] = [];
  const result = (topic: string, partition: number, name: ErrorName | 'NONE', leader: number, message = ''): void => {
    const errorCode = name === 'NONE' ? 0 : new MillraceError(name, message).code;
    results.push({ topic, partition, errorCode, errorMessage: message, leader });
  };
  const live = liveBrokers(image);
  const names = topics.length ? [...new Set(topics)] : [...image.topics.keys()];
  for (const name of names) {
    const t = image.topics.get(name);
    if (!t) {
      result(name, -1, 'UNKNOWN_TOPIC_OR_PARTITION', -1, `topic '${name}' does not exist`);
      continue;
    }
    for (const p of t.partitions) {
      const preferred = p.replicas[0]!;
      if (p.leader === preferred)
        result(name, p.partition, 'ELECTION_NOT_NEEDED', p.leader, 'the preferred replica leads');
      else if (!live.has(preferred) || !p.isr.includes(preferred))
        result(
          name,
          p.partition,
          'PREFERRED_LEADER_NOT_AVAILABLE',
          p.leader,
          `replica ${preferred} is not live and in sync`,
        );
      else {
        records.push(partitionPut(name, changePartition(p, { leader: preferred })!));
        elections.push({ topic: name, partition: p.partition, leader: preferred, reason: 'preferred' });
        result(name, p.partition, 'NONE', preferred);
      }
    }
  }
  return { records, response: { results }, elections };
}

/** Starts reassignments: replicas widen to old + target; the new ones catch up and join the ISR. */
export function alterReassignments(
  image: MetadataImage,
  req: millrace.IAlterReassignmentsRequest,
): ControlResult<millrace.IAlterReassignmentsResponse> {
  const records: MetadataRecord[] = [];
  const started: Array<[string, number]> = [];
  const results: millrace.IReassignResult[] = [];
  for (const r of req.partitions ?? []) {
    const topic = r.topic ?? '';
    const partition = r.partition ?? 0;
    try {
      const { p } = partitionOf(image, topic, partition);
      const target = r.replicas ?? [];
      if (target.length === 0 || new Set(target).size !== target.length || target.some((b) => !image.brokers.has(b)))
        throw new MillraceError(
          'INVALID_REPLICA_ASSIGNMENT',
          `replicas [${target.join(',')}] must be distinct registered brokers`,
        );
      if (p.targetReplicas || started.some(([t, n]) => t === topic && n === partition))
        throw new MillraceError('REASSIGNMENT_IN_PROGRESS', `${topic}-${partition} is already moving`);
      const adding = target.filter((b) => !p.replicas.includes(b));
      const replicas = [...p.replicas, ...adding];
      const next = changePartition(p, { replicas, targetReplicas: target, addingReplicas: adding });
      if (next) records.push(partitionPut(topic, next));
      started.push([topic, partition]);
      results.push({ topic, partition, errorCode: 0 });
    } catch (err) {
      results.push({ topic, partition, ...errorResult(err) });
    }
  }
  const done = completeReassignments(replayAll(image, records, image.version + 1), started);
  return { records: [...records, ...done.records], response: { results }, elections: done.elections };
}

/** Completes the given reassignments (every one when none is given) whose target replicas are all in sync. */
export function completeReassignments(
  image: MetadataImage,
  which?: ReadonlyArray<readonly [string, number]>,
): { records: MetadataRecord[]; elections: Election[] } {
  const live = liveBrokers(image);
  const records: MetadataRecord[] = [];
  const elections: Election[] = [];
  const candidates =
    which?.map(([t, n]) => [t, image.topics.get(t)?.partitions[n]] as const) ??
    [...image.topics.values()].flatMap((t) => t.partitions.map((p) => [t.name, p] as const));
  for (const [topic, p] of candidates) {
    if (!p?.targetReplicas) continue;
    const { next, reason } = completeReassignment(p, live);
    if (!next) continue;
    records.push(partitionPut(topic, next));
    if (reason) elections.push({ topic, partition: p.partition, leader: next.leader, reason });
  }
  return { records, elections };
}

/** The partition records of a broker leaving service (fenced or shutting down). */
export function partitionsWithout(
  image: MetadataImage,
  brokerId: number,
  reason: 'fenced' | 'controlled_shutdown',
): { records: MetadataRecord[]; elections: Election[] } {
  const live = liveBrokers(image, brokerId);
  return eachPartition(image, (t, p) => brokerLeaves(p, brokerId, live, uncleanAllowed(t), reason));
}

/** The partition records of a broker back in service. */
export function partitionsWith(
  image: MetadataImage,
  brokerId: number,
): { records: MetadataRecord[]; elections: Election[] } {
  return eachPartition(image, (t, p) => brokerReturns(p, brokerId, uncleanAllowed(t)));
}

/** The changed partitions' records, leader changes first: new leaders take over before the ISR-only changes land. */
function eachPartition(
  image: MetadataImage,
  change: (t: TopicImage, p: PartitionRecord) => { next: PartitionRecord | null; reason?: Election['reason'] },
): { records: MetadataRecord[]; elections: Election[] } {
  const leaderChanges: MetadataRecord[] = [];
  const others: MetadataRecord[] = [];
  const elections: Election[] = [];
  for (const t of image.topics.values()) {
    for (const p of t.partitions) {
      const { next, reason } = change(t, p);
      if (!next) continue;
      if (next.leader === p.leader) {
        others.push(partitionPut(t.name, next));
        continue;
      }
      leaderChanges.push(partitionPut(t.name, next));
      if (reason) elections.push({ topic: t.name, partition: p.partition, leader: next.leader, reason });
    }
  }
  return { records: [...leaderChanges, ...others], elections };
}
