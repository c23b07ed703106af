/**
 * Kafka's consumer protocol (protocol type "consumer"): the subscription a member sends in
 * JoinGroup and the assignment the leader hands out in SyncGroup, as every Kafka client encodes
 * them (a 2-byte version, then the fields of that version). Members of any client library, the
 * SDK's included, can share a group. A newer version than known is read as the newest known
 * (fields are only ever appended), as Kafka does.
 */
import { KafkaCodecError, Reader, Writer, decodeMessage, encodeMessage } from './codec.js';
import {
  array,
  bytes,
  int32,
  message,
  string,
  type Fields,
  type MessageOf,
  type MessageSpec,
  type StructOf,
} from './schema.js';

const topicPartitions = { topic: string(), partitions: array(int32()) };

export const ConsumerSubscription = message(
  { apiKey: -1, name: 'ConsumerProtocolSubscription', versions: '0-3', flexible: 'none' },
  {
    topics: array(string()),
    userData: bytes({ nullable: '0+' }),
    ownedPartitions: array(topicPartitions, { versions: '1+' }),
    generationId: int32({ versions: '2+', default: -1 }),
    rackId: string({ versions: '3+', nullable: '3+', default: null }),
  },
);

export const ConsumerAssignment = message(
  { apiKey: -1, name: 'ConsumerProtocolAssignment', versions: '0-3', flexible: 'none' },
  {
    assignedPartitions: array(topicPartitions),
    userData: bytes({ nullable: '0+' }),
  },
);

export type Subscription = MessageOf<typeof ConsumerSubscription>;
export type Assignment = MessageOf<typeof ConsumerAssignment>;

/** Version 2: owned partitions (cooperative rebalancing) and the generation they were owned in. */
const SUBSCRIPTION_VERSION = 2;
const ASSIGNMENT_VERSION = 0;

export function encodeSubscription(s: {
  topics: string[];
  ownedPartitions: Subscription['ownedPartitions'];
  generationId: number;
  userData?: Buffer | null;
}): Buffer {
  const w = new Writer(256);
  w.int16(SUBSCRIPTION_VERSION);
  encodeMessage(ConsumerSubscription, SUBSCRIPTION_VERSION, { ...s, userData: s.userData ?? null }, w);
  return Buffer.concat(w.finish());
}

export function encodeAssignment(
  assignedPartitions: Assignment['assignedPartitions'],
  userData: Buffer | null = null,
): Buffer {
  const w = new Writer(256);
  w.int16(ASSIGNMENT_VERSION);
  encodeMessage(ConsumerAssignment, ASSIGNMENT_VERSION, { assignedPartitions, userData }, w);
  return Buffer.concat(w.finish());
}

function decodeVersioned<F extends Fields>(spec: MessageSpec<F>, data: Uint8Array): StructOf<F> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const r = new Reader(buf);
  const version = r.int16();
  if (version < 0) throw new KafkaCodecError(`${spec.name} version ${version}`);
  const known = Math.min(version, spec.versions.max);
  // A newer version's appended fields are left unread.
  return decodeMessage(spec, known, r, { trailing: version > known });
}

export function decodeSubscription(data: Uint8Array): Subscription {
  return decodeVersioned(ConsumerSubscription, data);
}

/** An empty assignment (a member given nothing) may be sent as no bytes at all. */
export function decodeAssignment(data: Uint8Array): Assignment {
  if (data.length === 0) return { assignedPartitions: [], userData: null };
  return decodeVersioned(ConsumerAssignment, data);
}
