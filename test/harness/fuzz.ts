/**
 * A property-based fuzzer of a running broker (fast-check): random bytes and mutated valid
 * requests to every NATS API subject and to every Kafka API and version, each followed by a
 * check that the broker still answers. Runs for a time budget; counts what it sent and how each
 * request ended.
 */
import * as net from 'node:net';
import fc from 'fast-check';
import type { NatsConnection } from '@nats-io/transport-node';
import { errors as natsErrors } from '@nats-io/transport-node';
import { Writer, apis, encodeMessage, writeRequestHeader, type KafkaApi } from '../../protocol/kafka/index.js';
import { BROKER_APIS, CONTROLLER_APIS, subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { arbitraryStruct } from './kafka-arbitraries.js';
import { batchOf } from './storage.js';

export interface FuzzCounts {
  sent: number;
  answered: number;
  /** The broker closed the connection (Kafka door: a malformed or unsupported request). */
  closed: number;
  /** No answer within the wait: acks=0, or a request that legitimately waits (a long-poll fetch, a join). */
  unanswered: number;
  healthChecks: number;
  byTarget: Record<string, number>;
}

export const newCounts = (): FuzzCounts => ({
  sent: 0,
  answered: 0,
  closed: 0,
  unanswered: 0,
  healthChecks: 0,
  byTarget: {},
});

/** A byte-level mutation of a valid encoding: flips, truncation, insertions, a rewritten length. */
const mutation = fc.oneof(
  fc.constant((b: Buffer) => b),
  fc.nat().map((i) => (b: Buffer) => (b.length ? Buffer.concat([b.subarray(0, i % b.length)]) : b)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([i, v]) => (b: Buffer) => {
    if (!b.length) return b;
    const c = Buffer.from(b);
    c[i % c.length] = v;
    return c;
  }),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(
    ([i, ins]) =>
      (b: Buffer) =>
        Buffer.concat([b.subarray(0, i % (b.length + 1)), ins, b.subarray(i % (b.length + 1))]),
  ),
  fc.tuple(fc.nat(), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff, 0x10000)).map(([i, n]) => (b: Buffer) => {
    if (b.length < 4) return b;
    const c = Buffer.from(b);
    c.writeUInt32BE(n, i % (c.length - 3));
    return c;
  }),
);

/** As many runs as fit in the budget, from a seed; the first failure ends the run (no shrinking over the network). */
const runFor = (budgetMs: number, seed: number) => ({
  numRuns: 1_000_000_000,
  interruptAfterTimeLimit: budgetMs,
  markInterruptAsFailure: false,
  seed,
  endOnFailure: true,
});

interface KafkaTarget {
  api: KafkaApi;
  version: number;
}

function kafkaTargets(): KafkaTarget[] {
  const out: KafkaTarget[] = [];
  for (const api of Object.values(apis) as KafkaApi[])
    for (let v = api.request.versions.min; v <= api.request.versions.max; v++) out.push({ api, version: v });
  return out;
}

/** A request frame body: header and message, as a client writes them. */
function kafkaRequest(t: KafkaTarget, body: Record<string, unknown>, correlationId: number): Buffer {
  const w = new Writer(256);
  writeRequestHeader(w, t.api, { apiVersion: t.version, correlationId, clientId: 'fuzz' });
  encodeMessage(t.api.request, t.version, body, w);
  return Buffer.concat(w.finish());
}

const withSize = (payload: Buffer): Buffer => {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
};

/** Sends one frame on a new connection; how it ended within `waitMs`. */
function kafkaCase(endpoint: string, bytes: Buffer, waitMs: number): Promise<'answered' | 'closed' | 'unanswered'> {
  const at = endpoint.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = net.connect(Number(endpoint.slice(at + 1)), endpoint.slice(0, at));
    let received = 0;
    const done = (outcome: 'answered' | 'closed' | 'unanswered') => {
      clearTimeout(timer);
      socket.removeAllListeners('close');
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('unanswered'), waitMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => {
      received += d.length;
      // A whole response frame, or at least its size and correlation id, is an answer.
      if (received >= 8) done('answered');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => done(received > 0 ? 'answered' : 'closed'));
  });
}

/**
 * Fuzzes the Kafka door for `budgetMs`: each case is an arbitrary valid request of an API and
 * version, mutated or not, or bytes with no structure at all; `healthy` must hold after each.
 */
export async function fuzzKafka(
  endpoint: string,
  budgetMs: number,
  seed: number,
  healthy: () => Promise<boolean>,
  counts: FuzzCounts,
): Promise<void> {
  const targets = kafkaTargets();
  const structured = fc
    .constantFrom(...targets)
    .chain((t) => fc.tuple(fc.constant(t), arbitraryStruct(t.api.request.fields, t.version), mutation));
  const kase = fc.oneof(
    {
      weight: 4,
      arbitrary: structured.map(([t, body, mutate]) => ({
        target: `${t.api.name} v${t.version}`,
        bytes: withSize(mutate(kafkaRequest(t, body, 7))),
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 64 })
        .map((b) => ({ target: 'random frame', bytes: withSize(Buffer.from(b)) })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ target: 'random bytes', bytes: Buffer.from(b) })),
    },
  );
  await fc.assert(
    fc.asyncProperty(kase, async ({ target, bytes }) => {
      const outcome = await kafkaCase(endpoint, bytes, 300);
      counts.sent++;
      counts[outcome]++;
      counts.byTarget[`kafka ${target}`] = (counts.byTarget[`kafka ${target}`] ?? 0) + 1;
      counts.healthChecks++;
      return healthy();
    }),
    runFor(budgetMs, seed),
  );
}

/** Valid requests to start mutating from: a produce with a real batch, a fetch, the empty message of the others. */
function validNatsSamples(topic: string): Record<string, Uint8Array> {
  const samples: Record<string, Uint8Array> = {};
  for (const name of BROKER_APIS) samples[name] = new Uint8Array(0);
  samples.produce = wire.ProduceRequest.encode({
    acks: 1,
    timeoutMs: 1_000,
    topics: [{ name: topic, partitions: [{ partition: 0, records: batchOf(0, 3) }] }],
  }).finish();
  samples.fetch = wire.FetchRequest.encode({
    replicaId: -1,
    maxWaitMs: 10,
    maxBytes: 1 << 20,
    topics: [{ name: topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
  }).finish();
  samples.metadata = wire.MetadataRequest.encode({ topics: [topic] }).finish();
  samples.create_topics = wire.CreateTopicsRequest.encode({
    topics: [{ name: `${topic}-x`, numPartitions: 1 }],
  }).finish();
  samples.join_group = wire.JoinGroupRequest.encode({
    groupId: 'fuzz-group',
    sessionTimeoutMs: 6_000,
    rebalanceTimeoutMs: 1_000,
    protocolType: 'consumer',
  }).finish();
  samples.offset_commit = wire.OffsetCommitRequest.encode({
    groupId: 'fuzz-group',
    topics: [{ name: topic, partitions: [{ partition: 0, offset: 1 }] }],
  }).finish();
  return samples;
}

/**
 * Fuzzes the NATS door for `budgetMs`: the client APIs get mutated valid requests and random
 * bytes; the internal and controller subjects (the brokers' own, unreachable by clients in a
 * secured cluster) get random bytes, which must not decode into harm.
 */
export async function fuzzNats(
  nc: NatsConnection,
  cluster: string,
  brokerId: number,
  controllerEpoch: () => number,
  topic: string,
  budgetMs: number,
  seed: number,
  healthy: () => Promise<boolean>,
  counts: FuzzCounts,
): Promise<void> {
  const samples = validNatsSamples(topic);
  const client = fc
    .constantFrom(...BROKER_APIS)
    .chain((api) =>
      fc.tuple(
        fc.constant(api),
        fc.oneof(
          mutation.map((m) => Buffer.from(m(Buffer.from(samples[api]!)))),
          fc.uint8Array({ maxLength: 96 }).map((b) => Buffer.from(b)),
        ),
      ),
    )
    .map(([api, bytes]) => ({
      target: `api.${api}`,
      subject: api === 'metadata' ? subjects.metadata(cluster) : subjects.brokerApi(cluster, brokerId, api),
      bytes,
    }));
  const internal = fc
    .tuple(fc.constantFrom('replica_fetch' as const, ...CONTROLLER_APIS), fc.uint8Array({ maxLength: 48 }))
    .map(([api, b]) => ({
      target: api === 'replica_fetch' ? 'internal.replica_fetch' : `controller.${api}`,
      subject:
        api === 'replica_fetch'
          ? subjects.brokerInternal(cluster, brokerId, api)
          : subjects.controller(cluster, controllerEpoch(), api),
      bytes: Buffer.from(b),
    }));
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: client }, { weight: 1, arbitrary: internal }), async (c) => {
      counts.sent++;
      counts.byTarget[`nats ${c.target}`] = (counts.byTarget[`nats ${c.target}`] ?? 0) + 1;
      try {
        const reply = await nc.request(c.subject, c.bytes, { timeout: 300 });
        // Every reply starts with error_code and error_message: it reads as an ErrorResponse.
        wire.ErrorResponse.decode(reply.data);
        counts.answered++;
      } catch (err) {
        if (!(err instanceof natsErrors.TimeoutError)) throw err;
        counts.unanswered++;
      }
      counts.healthChecks++;
      return healthy();
    }),
    runFor(budgetMs, seed),
  );
}
