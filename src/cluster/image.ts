/**
 * The metadata image: an immutable view of the metadata log at one sequence, as Kafka's
 * MetadataImage. Records are replayed into a MetadataDelta, which publishes a new image that
 * shares everything it did not touch, and says what changed, so that brokers reconcile only the
 * partitions a change names (DESIGN.md section 4).
 */
import type { KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { z } from 'zod';
import {
  aclRecord,
  brokerRecord,
  quotaRecord,
  scramRecord,
  controllerRecord,
  keys,
  partitionRecord,
  producerIdsRecord,
  topicOfKeyPart,
  topicRecord,
  type AclRecord,
  type BrokerRecord,
  type QuotaRecord,
  type ScramRecord,
  type ControllerRecord,
  type MetadataRecord,
  type PartitionRecord,
  type ProducerIdsRecord,
  type TopicRecord,
} from './records.js';

/** A topic as readers see it: its record and every one of its partitions. */
export interface TopicImage {
  readonly name: string;
  readonly id: string;
  readonly configs: Readonly<Record<string, string>>;
  readonly partitions: readonly PartitionRecord[];
}

export interface MetadataImage {
  /** Sequence of the last metadata-log entry applied. */
  readonly version: number;
  readonly controller: ControllerRecord | null;
  readonly brokers: ReadonlyMap<number, BrokerRecord>;
  /** Complete topics: the topic record and all of its partitions' records are in the log. */
  readonly topics: ReadonlyMap<string, TopicImage>;
  readonly producerIds: ProducerIdsRecord | null;
  /** The records as written, by topic name, complete or not. */
  readonly topicRecords: ReadonlyMap<string, TopicRecord>;
  readonly partitionRecords: ReadonlyMap<string, ReadonlyMap<number, PartitionRecord>>;
  /** ACL bindings by record key. */
  readonly acls: ReadonlyMap<string, AclRecord>;
  /** SCRAM credentials by record key (keys.scram). */
  readonly scram: ReadonlyMap<string, ScramRecord>;
  /** Client quotas by record key (keys.quota). */
  readonly quotas: ReadonlyMap<string, QuotaRecord>;
}

export const emptyImage: MetadataImage = {
  version: 0,
  controller: null,
  brokers: new Map(),
  topics: new Map(),
  producerIds: null,
  topicRecords: new Map(),
  partitionRecords: new Map(),
  acls: new Map(),
  scram: new Map(),
  quotas: new Map(),
};

/** What a delta changed: what a broker must reconcile, and nothing more. */
export interface ImageChanges {
  /** Topics that appeared (or were recreated) or whose configs changed. */
  readonly topics: Set<string>;
  /** Topics that disappeared (or were recreated): their image before the change. */
  readonly deletedTopics: Map<string, TopicImage>;
  /** Partitions whose record changed, of topics that exist in the new image. */
  readonly partitions: Map<string, Set<number>>;
}

export const noChanges = (): ImageChanges => ({
  topics: new Set(),
  deletedTopics: new Map(),
  partitions: new Map(),
});

/** Everything in `image` as changes: what a replica manager starting from nothing must reconcile. */
export function allOf(image: MetadataImage): ImageChanges {
  const changes = noChanges();
  for (const t of image.topics.values()) {
    changes.topics.add(t.name);
    changes.partitions.set(t.name, new Set(t.partitions.map((p) => p.partition)));
  }
  return changes;
}

/** Records replayed onto a base image, published as a new image with what changed. */
export class MetadataDelta {
  private version: number;
  private controller: ControllerRecord | null;
  private producerIds: ProducerIdsRecord | null;
  private brokers: Map<number, BrokerRecord> | null = null;
  private topicRecords: Map<string, TopicRecord> | null = null;
  private partitionRecords: Map<string, ReadonlyMap<number, PartitionRecord>> | null = null;
  private acls: Map<string, AclRecord> | null = null;
  private scram: Map<string, ScramRecord> | null = null;
  private quotas: Map<string, QuotaRecord> | null = null;
  /** Per topic name: the partition maps this delta owns (copied once, then written in place). */
  private readonly ownedPartitions = new Set<string>();
  private readonly touched = new Map<string, Set<number> | 'topic'>();

  constructor(readonly base: MetadataImage) {
    this.version = base.version;
    this.controller = base.controller;
    this.producerIds = base.producerIds;
  }

  replay(record: MetadataRecord, version: number): void {
    this.version = Math.max(this.version, version);
    const { key, value } = record;
    if (key === keys.controller) this.controller = value as ControllerRecord | null;
    else if (key === keys.producerIds) this.producerIds = value as ProducerIdsRecord | null;
    else if (key.startsWith('broker.')) {
      this.brokers ??= new Map(this.base.brokers);
      const id = Number(key.slice('broker.'.length));
      if (value) this.brokers.set(id, value as BrokerRecord);
      else this.brokers.delete(id);
    } else if (key.startsWith('topic.')) {
      this.topicRecords ??= new Map(this.base.topicRecords);
      const name = topicOfKeyPart(key.slice('topic.'.length));
      if (value) this.topicRecords.set(name, value as TopicRecord);
      else this.topicRecords.delete(name);
      this.touched.set(name, 'topic');
    } else if (key.startsWith('acl.')) {
      this.acls ??= new Map(this.base.acls);
      if (value) this.acls.set(key, value as AclRecord);
      else this.acls.delete(key);
    } else if (key.startsWith('scram.')) {
      this.scram ??= new Map(this.base.scram);
      if (value) this.scram.set(key, value as ScramRecord);
      else this.scram.delete(key);
    } else if (key.startsWith('quota.')) {
      this.quotas ??= new Map(this.base.quotas);
      if (value) this.quotas.set(key, value as QuotaRecord);
      else this.quotas.delete(key);
    } else if (key.startsWith('partition.')) {
      const dot = key.lastIndexOf('.');
      const name = topicOfKeyPart(key.slice('partition.'.length, dot));
      const partition = Number(key.slice(dot + 1));
      const parts = this.ownPartitions(name);
      if (value) parts.set(partition, value as PartitionRecord);
      else parts.delete(partition);
      const t = this.touched.get(name);
      if (t === undefined) this.touched.set(name, new Set([partition]));
      else if (t !== 'topic') t.add(partition);
    }
  }

  private ownPartitions(name: string): Map<number, PartitionRecord> {
    this.partitionRecords ??= new Map(this.base.partitionRecords);
    if (!this.ownedPartitions.has(name)) {
      this.partitionRecords.set(name, new Map(this.partitionRecords.get(name)));
      this.ownedPartitions.add(name);
    }
    return this.partitionRecords.get(name) as Map<number, PartitionRecord>;
  }

  apply(): { image: MetadataImage; changes: ImageChanges } {
    const changes = noChanges();
    const topicRecords = this.topicRecords ?? this.base.topicRecords;
    const partitionRecords = this.partitionRecords ?? this.base.partitionRecords;
    let topics = this.base.topics;
    if (this.touched.size) {
      const next = new Map(this.base.topics);
      for (const [name, what] of this.touched) {
        const before = this.base.topics.get(name);
        const after = topicImage(topicRecords.get(name), partitionRecords.get(name), before, what);
        if (after) next.set(name, after);
        else next.delete(name);
        if (before && (!after || after.id !== before.id)) changes.deletedTopics.set(name, before);
        if (!after) continue;
        if (!before || after.id !== before.id || after.configs !== before.configs) changes.topics.add(name);
        if (!before || after.id !== before.id) {
          changes.partitions.set(name, new Set(after.partitions.map((p) => p.partition)));
        } else if (what === 'topic') {
          const changed = new Set<number>();
          for (const p of after.partitions) if (before.partitions[p.partition] !== p) changed.add(p.partition);
          if (changed.size) changes.partitions.set(name, changed);
        } else {
          const changed = [...what].filter((p) => before.partitions[p] !== after.partitions[p]);
          if (changed.length) changes.partitions.set(name, new Set(changed));
        }
      }
      topics = next;
    }
    const image: MetadataImage = {
      version: this.version,
      controller: this.controller,
      producerIds: this.producerIds,
      brokers: this.brokers ?? this.base.brokers,
      topicRecords,
      partitionRecords,
      topics,
      acls: this.acls ?? this.base.acls,
      scram: this.scram ?? this.base.scram,
      quotas: this.quotas ?? this.base.quotas,
    };
    return { image, changes };
  }
}

/** A topic's image when its record and all its partitions (of its incarnation) are present. */
function topicImage(
  record: TopicRecord | undefined,
  parts: ReadonlyMap<number, PartitionRecord> | undefined,
  before: TopicImage | undefined,
  what: Set<number> | 'topic',
): TopicImage | undefined {
  if (!record || !parts) return undefined;
  const reuse = before && before.id === record.id && before.partitions.length === record.partitionCount;
  if (reuse && what !== 'topic') {
    const partitions = [...before.partitions];
    for (const n of what) {
      if (n >= partitions.length) continue;
      const p = parts.get(n);
      if (!p || p.topicId !== record.id) return undefined;
      partitions[n] = p;
    }
    return { ...before, partitions };
  }
  const partitions: PartitionRecord[] = new Array<PartitionRecord>(record.partitionCount);
  for (let n = 0; n < record.partitionCount; n++) {
    const p = parts.get(n);
    if (!p || p.topicId !== record.id) return undefined;
    partitions[n] = reuse && before.partitions[n] === p ? before.partitions[n]! : p;
  }
  const configs = reuse && sameConfigs(before.configs, record.configs) ? before.configs : record.configs;
  return { name: record.name, id: record.id, configs, partitions };
}

function sameConfigs(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ak = Object.keys(a);
  return ak.length === Object.keys(b).length && ak.every((k) => a[k] === b[k]);
}

/** Replays records onto an image (for the controller's own view and for tests). */
export function replayAll(
  image: MetadataImage,
  records: readonly MetadataRecord[],
  fromVersion: number,
): MetadataImage {
  const delta = new MetadataDelta(image);
  records.forEach((r, i) => delta.replay(r, fromVersion + i));
  return delta.apply().image;
}

const decoder = new TextDecoder();

function schemaFor(key: string): z.ZodType<NonNullable<MetadataRecord['value']>> | null {
  if (key === keys.controller) return controllerRecord;
  if (key === keys.producerIds) return producerIdsRecord;
  if (key.startsWith('broker.')) return brokerRecord;
  if (key.startsWith('topic.')) return topicRecord;
  if (key.startsWith('partition.')) return partitionRecord;
  if (key.startsWith('acl.')) return aclRecord;
  if (key.startsWith('scram.')) return scramRecord;
  if (key.startsWith('quota.')) return quotaRecord;
  return null;
}

/** A KV watch entry as a record; null (logged) when it does not parse or is of no known kind. */
export function decodeEntry(entry: KvWatchEntry, logger: Logger): MetadataRecord | null {
  const schema = schemaFor(entry.key);
  if (!schema) return null;
  if (entry.operation !== 'PUT') return { key: entry.key, value: null };
  try {
    return { key: entry.key, value: schema.parse(JSON.parse(decoder.decode(entry.value))) };
  } catch (err) {
    logger.error({ key: entry.key, revision: entry.revision, err }, 'metadata record does not parse: skipped');
    return null;
  }
}
