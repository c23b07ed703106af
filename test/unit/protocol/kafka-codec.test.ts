/**
 * The generic Kafka codec over every API and version Millrace serves: arbitrary messages built
 * from each schema round-trip, every truncation of one fails with a codec error, and the wire
 * details (compact lengths, tagged fields, nullable structs, headers) are as Kafka writes them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  KafkaCodecError,
  Reader,
  Writer,
  apis,
  decodeMessage,
  encodeMessage,
  readRequestHeader,
  writeRequestHeader,
  writeResponseHeader,
} from '../../../protocol/kafka/index.js';
import {
  ConsumerSubscription,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
} from '../../../protocol/kafka/consumer-protocol.js';
import { inRange, type Fields, type MessageSpec } from '../../../protocol/kafka/schema.js';
import { arbitraryStruct, defaultOf } from '../../harness/kafka-arbitraries.js';

const flat = (w: Writer): Buffer => Buffer.concat(w.finish());

function encode(spec: MessageSpec, version: number, value: Record<string, unknown>): Buffer {
  const w = new Writer(64);
  encodeMessage(spec, version, value, w);
  return flat(w);
}

const decode = <F extends Fields>(spec: MessageSpec<F>, version: number, buf: Buffer) =>
  decodeMessage(spec, version, new Reader(buf));

/** A tagged field absent from a non-flexible version decodes to its default. */
function onWire(
  spec: MessageSpec,
  version: number,
  fields: Fields,
  v: Record<string, unknown>,
): Record<string, unknown> {
  const flexible = inRange(spec.flexible, version);
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    let x = v[name];
    if (f.tag !== null && inRange(f.tagged, version) && !flexible) x = defaultOf(f);
    else if (f.type.kind === 'struct' && x) x = onWire(spec, version, f.type.fields, x as Record<string, unknown>);
    else if (f.type.kind === 'array' && f.type.items.kind === 'struct' && Array.isArray(x)) {
      const items = f.type.items.fields;
      x = x.map((item) => onWire(spec, version, items, item as Record<string, unknown>));
    }
    out[name] = x;
  }
  return out;
}

const everyVersion = Object.values(apis).flatMap((api) =>
  [api.request, api.response].flatMap((spec) =>
    Array.from({ length: spec.versions.max - spec.versions.min + 1 }, (_, i) => ({
      spec: spec as MessageSpec,
      version: spec.versions.min + i,
    })),
  ),
);

describe('Kafka codec', () => {
  it(`round-trips arbitrary messages of every API and version (${everyVersion.length} message versions)`, () => {
    for (const { spec, version } of everyVersion) {
      fc.assert(
        fc.property(arbitraryStruct(spec.fields, version), (value) => {
          const bytes = encode(spec, version, value);
          expect(decode(spec, version, bytes), `${spec.name} v${version}`).toEqual(
            onWire(spec, version, spec.fields, value),
          );
        }),
        { numRuns: 25 },
      );
    }
  });

  it('refuses every truncation of a message with a codec error, and bytes left over', () => {
    for (const { spec, version } of everyVersion) {
      const [value] = fc.sample(arbitraryStruct(spec.fields, version), { numRuns: 1, seed: version });
      const bytes = encode(spec, version, value!);
      for (let n = 0; n < bytes.length; n++)
        expect(() => decode(spec, version, bytes.subarray(0, n)), `${spec.name} v${version} at ${n}`).toThrow(
          KafkaCodecError,
        );
      expect(() => decode(spec, version, Buffer.concat([bytes, Buffer.from([0])]))).toThrow(/left over/);
    }
  });

  it('writes compact lengths, tagged fields and nullable strings as Kafka does', () => {
    // Metadata v9 (flexible): compact array of 1 topic (uvarint 2), topic id, compact string "t"
    // (uvarint 2, 't'), the topic's empty tagged section, allowAutoTopicCreation, the rest.
    const v9 = encode(apis.Metadata.request, 9, {
      topics: [{ name: 't' }],
      allowAutoTopicCreation: true,
      includeTopicAuthorizedOperations: false,
      includeClusterAuthorizedOperations: false,
    });
    expect(v9.toString('hex')).toBe('02' + '02' + '74' + '00' + '01' + '00' + '00' + '00');
    // v1: a null topic array (every topic) is int32 -1; v0 has no nullable array.
    expect(encode(apis.Metadata.request, 1, { topics: null }).toString('hex')).toBe('ffffffff');
    expect(() => encode(apis.Metadata.request, 0, { topics: null })).toThrow(KafkaCodecError);
    // v12: the topic id (16 bytes) comes first; a null name is a compact string of length 0.
    const id = '0123456789abcdef0123456789abcdef'.replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
    const v12 = encode(apis.Metadata.request, 12, { topics: [{ topicId: id, name: null }] });
    expect(v12.subarray(0, 19).toString('hex')).toBe('02' + id.replace(/-/g, '') + '00' + '00');
    expect(decode(apis.Metadata.request, 12, v12).topics).toEqual([{ topicId: id, name: null }]);
  });

  it('writes a tagged field only when it differs from its default, and skips unknown tags', () => {
    const partition = { index: 0, errorCode: 6, baseOffset: -1n };
    const plain = encode(apis.Produce.response, 10, { responses: [{ name: 't', partitionResponses: [partition] }] });
    const tagged = encode(apis.Produce.response, 10, {
      responses: [
        { name: 't', partitionResponses: [{ ...partition, currentLeader: { leaderId: 2, leaderEpoch: 7 } }] },
      ],
    });
    // The tagged struct: count 1, tag 0, size 9: leader id 2, leader epoch 7 and the struct's own
    // empty tagged section (instead of count 0).
    expect(tagged.length - plain.length).toBe(11);
    expect(tagged.includes(Buffer.from('010009' + '00000002' + '00000007' + '00', 'hex'))).toBe(true);
    expect(decode(apis.Produce.response, 10, tagged).responses[0]!.partitionResponses[0]!.currentLeader).toEqual({
      leaderId: 2,
      leaderEpoch: 7,
    });
    // An unknown tag (5, two bytes) in a request's tagged section is skipped.
    const heartbeat = encode(apis.Heartbeat.request, 4, { groupId: 'g', generationId: 1, memberId: 'm' });
    const withUnknown = Buffer.concat([heartbeat.subarray(0, -1), Buffer.from('01050200ff', 'hex')]);
    expect(decode(apis.Heartbeat.request, 4, withUnknown)).toEqual(decode(apis.Heartbeat.request, 4, heartbeat));
  });

  it('reads request headers v1 and v2 and writes response headers v0 and v1 (v0 always for ApiVersions)', () => {
    const header = (api: (typeof apis)[keyof typeof apis], apiVersion: number) => {
      const w = new Writer();
      writeRequestHeader(w, api, { apiVersion, correlationId: 42, clientId: 'rdkafka' });
      const r = new Reader(flat(w));
      const h = readRequestHeader(r);
      return { ...h, rest: r.end - r.pos, api: h.api?.name };
    };
    expect(header(apis.Fetch, 11)).toMatchObject({
      apiKey: 1,
      apiVersion: 11,
      correlationId: 42,
      clientId: 'rdkafka',
      rest: 0,
    });
    expect(header(apis.Fetch, 12)).toMatchObject({ api: 'Fetch', rest: 0 });
    const response = (api: (typeof apis)[keyof typeof apis], version: number) => {
      const w = new Writer();
      writeResponseHeader(w, api, version, 7);
      return flat(w).toString('hex');
    };
    expect(response(apis.Fetch, 11)).toBe('00000007');
    expect(response(apis.Fetch, 12)).toBe('0000000700');
    expect(response(apis.ApiVersions, 3)).toBe('00000007');
    // An unknown API key parses (so the connection can log what it was) with no schema.
    const w = new Writer();
    w.int16(999);
    w.int16(0);
    w.int32(1);
    w.int16(-1);
    expect(readRequestHeader(new Reader(flat(w)))).toMatchObject({ apiKey: 999, clientId: null, api: undefined });
  });

  it('keeps large byte fields as their own chunks instead of copying them', () => {
    const records = Buffer.alloc(64 * 1024, 1);
    const w = new Writer();
    encodeMessage(
      apis.Fetch.response,
      11,
      { responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 1n, records }] }] },
      w,
    );
    expect(w.finish().some((chunk) => chunk === records)).toBe(true);
  });
});

describe("Kafka's consumer protocol", () => {
  it('round-trips subscriptions and assignments, reads a newer version as the newest known, and an empty assignment', () => {
    const sub = { topics: ['a', 'b'], ownedPartitions: [{ topic: 'a', partitions: [0, 2] }], generationId: 7 };
    expect(decodeSubscription(encodeSubscription(sub))).toEqual({ ...sub, userData: null, rackId: null });
    // A version 9 subscription: the version 3 fields, then fields this reader does not know.
    const w = new Writer();
    w.int16(9);
    encodeMessage(ConsumerSubscription, 3, { ...sub, rackId: 'r1' }, w);
    const newer = Buffer.concat([...w.finish(), Buffer.from('00ff', 'hex')]);
    expect(decodeSubscription(newer)).toMatchObject({ generationId: 7, rackId: 'r1' });
    const assigned = [{ topic: 'a', partitions: [1] }];
    const bytes = encodeAssignment(assigned);
    expect(bytes.readInt16BE(0)).toBe(0);
    expect(decodeAssignment(bytes).assignedPartitions).toEqual(assigned);
    expect(decodeAssignment(new Uint8Array(0)).assignedPartitions).toEqual([]);
    expect(() => decodeAssignment(Buffer.from('0000000000', 'hex'))).toThrow(KafkaCodecError);
  });
});
