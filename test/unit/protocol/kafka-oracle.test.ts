/**
 * kafkajs 2.2.4 as the oracle for the versions it speaks: its request encoders' bytes decode with
 * Millrace's schemas, and Millrace's response bytes decode with its response decoders.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  Reader,
  Writer,
  apis,
  decodeMessage,
  encodeMessage,
  type ApiName,
  type KafkaApi,
  type Loose,
  type MessageOf,
} from '../../../protocol/kafka/index.js';

const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiVersion: number;
  encode: () => Promise<{ buffer: Buffer }>;
}
interface KafkajsResponse {
  decode: (data: Buffer) => Promise<unknown>;
}

/** kafkajs's own entry point per API and version: the request built from the arguments, and its response decoder. */
const kafkajs = (dir: string, version: number, args: unknown) => {
  const { protocol } = require(`kafkajs/src/protocol/requests/${dir}/index.js`) as {
    protocol: (v: { version: number }) => (args: unknown) => { request: KafkajsRequest; response: KafkajsResponse };
  };
  return protocol({ version })(args);
};

interface Case<N extends ApiName> {
  api: N;
  dir: string;
  versions: number[];
  args: unknown;
  request: (decoded: MessageOf<(typeof apis)[N]['request']>, version: number) => void;
  response: Loose<MessageOf<(typeof apis)[N]['response']>>;
  decoded: (kafkajsDecoded: Record<string, unknown>, version: number) => void;
}

const cases: Array<Case<ApiName>> = [];
const add = <N extends ApiName>(c: Case<N>) => cases.push(c as unknown as Case<ApiName>);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

add({
  api: 'ApiVersions',
  dir: 'apiVersions',
  versions: [0, 1, 2],
  args: {},
  request: (r) => expect(r).toEqual({ clientSoftwareName: '', clientSoftwareVersion: '' }),
  response: { errorCode: 0, apiKeys: [{ apiKey: 0, minVersion: 3, maxVersion: 11 }] },
  decoded: (d) => expect(d.apiVersions).toEqual([{ apiKey: 0, minVersion: 3, maxVersion: 11 }]),
});
add({
  api: 'Metadata',
  dir: 'metadata',
  versions: range(0, 6),
  args: { topics: ['a', 'b'], allowAutoTopicCreation: false },
  request: (r, v) => {
    expect(r.topics!.map((t) => t.name)).toEqual(['a', 'b']);
    if (v >= 4) expect(r.allowAutoTopicCreation).toBe(false);
  },
  response: {
    brokers: [{ nodeId: 1, host: '127.0.0.1', port: 9092, rack: 'r1' }],
    clusterId: 'c',
    controllerId: 1,
    topics: [
      {
        name: 'a',
        partitions: [{ partitionIndex: 0, leaderId: 1, replicaNodes: [1, 2], isrNodes: [1], offlineReplicas: [2] }],
      },
    ],
  },
  decoded: (d, v) => {
    expect((d.brokers as Array<{ host: string }>)[0]!.host).toBe('127.0.0.1');
    const t = (d.topicMetadata as Array<{ topic: string; partitionMetadata: Array<Record<string, unknown>> }>)[0]!;
    expect(t.topic).toBe('a');
    expect(t.partitionMetadata[0]).toMatchObject({ partitionId: 0, leader: 1, replicas: [1, 2], isr: [1] });
    if (v >= 5) expect(t.partitionMetadata[0]!.offlineReplicas).toEqual([2]);
  },
});
add({
  api: 'Produce',
  dir: 'produce',
  versions: range(3, 7),
  args: {
    acks: -1,
    timeout: 3000,
    topicData: [{ topic: 't', partitions: [{ partition: 2, messages: [{ key: 'k', value: 'v' }] }] }],
  },
  request: (r) => {
    expect(r).toMatchObject({ acks: -1, timeoutMs: 3000, transactionalId: null });
    const records = r.topicData[0]!.partitionData[0]!.records!;
    expect(r.topicData[0]!.partitionData[0]!.index).toBe(2);
    expect(records.readInt8(16)).toBe(2); // a RecordBatch v2 (magic at byte 16)
  },
  response: {
    responses: [{ name: 't', partitionResponses: [{ index: 2, errorCode: 0, baseOffset: 41n, logStartOffset: 3n }] }],
  },
  decoded: (d) => {
    const p = (d.topics as Array<{ partitions: Array<Record<string, unknown>> }>)[0]!.partitions[0]!;
    expect(p).toMatchObject({ partition: 2, errorCode: 0, baseOffset: '41' });
  },
});
add({
  api: 'Fetch',
  dir: 'fetch',
  versions: range(4, 11),
  args: {
    replicaId: -1,
    maxWaitTime: 500,
    minBytes: 1,
    maxBytes: 1024,
    topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: '7', maxBytes: 512 }] }],
  },
  request: (r, v) => {
    expect(r).toMatchObject({ replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 1024 });
    expect(r.topics[0]!.topic).toBe('t');
    expect(r.topics[0]!.partitions[0]).toMatchObject({ partition: 0, fetchOffset: 7n, partitionMaxBytes: 512 });
    if (v >= 7) expect(r.sessionEpoch).toBe(-1);
  },
  response: {
    responses: [
      { topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 9n, abortedTransactions: null, records: null }] },
    ],
  },
  decoded: (d) => {
    const p = (d.responses as Array<{ partitions: Array<Record<string, unknown>> }>)[0]!.partitions[0]!;
    expect(p).toMatchObject({ partition: 0, errorCode: 0, highWatermark: '9', messages: [] });
  },
});
add({
  api: 'ListOffsets',
  dir: 'listOffsets',
  versions: range(1, 3),
  args: { replicaId: -1, isolationLevel: 1, topics: [{ topic: 't', partitions: [{ partition: 1, timestamp: -2 }] }] },
  request: (r) =>
    expect(r.topics[0]).toEqual({
      name: 't',
      partitions: [{ partitionIndex: 1, currentLeaderEpoch: -1, timestamp: -2n }],
    }),
  response: { topics: [{ name: 't', partitions: [{ partitionIndex: 1, offset: 12n, timestamp: -1n }] }] },
  decoded: (d) =>
    expect((d.responses as Array<{ partitions: unknown[] }>)[0]!.partitions[0]).toMatchObject({
      partition: 1,
      offset: '12',
    }),
});
add({
  api: 'FindCoordinator',
  dir: 'findCoordinator',
  versions: [1, 2],
  args: { groupId: 'g' },
  request: (r) => expect(r).toMatchObject({ key: 'g', keyType: 0 }),
  response: { nodeId: 3, host: 'h', port: 9093 },
  decoded: (d) => expect(d.coordinator).toEqual({ nodeId: 3, host: 'h', port: 9093 }),
});
add({
  api: 'JoinGroup',
  dir: 'joinGroup',
  versions: range(2, 5),
  args: {
    groupId: 'g',
    sessionTimeout: 10000,
    rebalanceTimeout: 30000,
    memberId: '',
    groupInstanceId: null,
    protocolType: 'consumer',
    groupProtocols: [{ name: 'range', metadata: Buffer.from([1, 2]) }],
  },
  request: (r) => {
    expect(r).toMatchObject({
      groupId: 'g',
      sessionTimeoutMs: 10000,
      rebalanceTimeoutMs: 30000,
      protocolType: 'consumer',
    });
    expect(r.protocols).toEqual([{ name: 'range', metadata: Buffer.from([1, 2]) }]);
  },
  response: {
    generationId: 4,
    protocolName: 'range',
    leader: 'm1',
    memberId: 'm1',
    members: [{ memberId: 'm1', metadata: Buffer.from([9]) }],
  },
  decoded: (d) => expect(d).toMatchObject({ generationId: 4, groupProtocol: 'range', leaderId: 'm1', memberId: 'm1' }),
});
add({
  api: 'SyncGroup',
  dir: 'syncGroup',
  versions: range(0, 3),
  args: {
    groupId: 'g',
    generationId: 4,
    memberId: 'm1',
    groupAssignment: [{ memberId: 'm1', memberAssignment: Buffer.from([5]) }],
  },
  request: (r) =>
    expect(r).toMatchObject({
      groupId: 'g',
      generationId: 4,
      memberId: 'm1',
      assignments: [{ memberId: 'm1', assignment: Buffer.from([5]) }],
    }),
  response: { assignment: Buffer.from([5, 6]) },
  decoded: (d) => expect(Buffer.from(d.memberAssignment as Buffer)).toEqual(Buffer.from([5, 6])),
});
add({
  api: 'Heartbeat',
  dir: 'heartbeat',
  versions: range(0, 3),
  args: { groupId: 'g', groupGenerationId: 4, memberId: 'm1' },
  request: (r) => expect(r).toMatchObject({ groupId: 'g', generationId: 4, memberId: 'm1' }),
  response: { errorCode: 0 },
  decoded: (d) => expect(d.errorCode).toBe(0),
});
add({
  api: 'LeaveGroup',
  dir: 'leaveGroup',
  versions: [3],
  args: { groupId: 'g', memberId: 'm1' },
  request: (r) => expect(r.members).toEqual([{ memberId: 'm1', groupInstanceId: null, reason: null }]),
  response: { members: [{ memberId: 'm1', errorCode: 0 }] },
  decoded: (d) => expect(d.members).toEqual([{ memberId: 'm1', groupInstanceId: null, errorCode: 0 }]),
});
add({
  api: 'OffsetCommit',
  dir: 'offsetCommit',
  versions: range(2, 5),
  args: {
    groupId: 'g',
    groupGenerationId: 4,
    memberId: 'm1',
    retentionTime: -1,
    topics: [{ topic: 't', partitions: [{ partition: 0, offset: '15' }] }],
  },
  request: (r) => {
    expect(r).toMatchObject({ groupId: 'g', generationIdOrMemberEpoch: 4, memberId: 'm1' });
    expect(r.topics[0]!.partitions[0]).toMatchObject({ partitionIndex: 0, committedOffset: 15n });
  },
  response: { topics: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] },
  decoded: (d) => expect(d.responses).toEqual([{ topic: 't', partitions: [{ partition: 0, errorCode: 0 }] }]),
});
add({
  api: 'OffsetFetch',
  dir: 'offsetFetch',
  versions: range(1, 4),
  args: { groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0 }] }] },
  request: (r) => expect(r).toMatchObject({ groupId: 'g', topics: [{ name: 't', partitionIndexes: [0] }] }),
  response: {
    topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 15n, metadata: '' }] }],
  },
  decoded: (d) =>
    expect((d.responses as Array<{ partitions: unknown[] }>)[0]!.partitions[0]).toMatchObject({
      partition: 0,
      offset: '15',
    }),
});
add({
  api: 'DescribeGroups',
  dir: 'describeGroups',
  versions: range(0, 2),
  args: { groupIds: ['g'] },
  request: (r) => expect(r.groups).toEqual(['g']),
  response: { groups: [{ groupId: 'g', groupState: 'Stable', protocolType: 'consumer', protocolData: 'range' }] },
  decoded: (d) =>
    expect((d.groups as unknown[])[0]).toMatchObject({ groupId: 'g', state: 'Stable', protocol: 'range' }),
});
add({
  api: 'ListGroups',
  dir: 'listGroups',
  versions: range(0, 2),
  args: {},
  request: (r) => expect(r.statesFilter).toEqual([]),
  response: { groups: [{ groupId: 'g', protocolType: 'consumer' }] },
  decoded: (d) => expect(d.groups).toEqual([{ groupId: 'g', protocolType: 'consumer' }]),
});
add({
  api: 'CreateTopics',
  dir: 'createTopics',
  versions: [2, 3],
  args: {
    topics: [
      {
        topic: 't',
        numPartitions: 3,
        replicationFactor: 2,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
    validateOnly: false,
    timeout: 1000,
  },
  request: (r) =>
    expect(r.topics[0]).toMatchObject({
      name: 't',
      numPartitions: 3,
      replicationFactor: 2,
      configs: [{ name: 'cleanup.policy', value: 'compact' }],
    }),
  response: { topics: [{ name: 't', errorCode: 36, errorMessage: 'exists' }] },
  decoded: (d) => expect((d.topicErrors as unknown[])[0]).toMatchObject({ topic: 't', errorCode: 36 }),
});
add({
  api: 'DeleteTopics',
  dir: 'deleteTopics',
  versions: [1],
  args: { topics: ['t'], timeout: 1000 },
  request: (r) => expect(r).toMatchObject({ topicNames: ['t'], timeoutMs: 1000 }),
  response: { responses: [{ name: 't', errorCode: 0 }] },
  decoded: (d) => expect(d.topicErrors).toEqual([{ topic: 't', errorCode: 0 }]),
});
add({
  api: 'CreatePartitions',
  dir: 'createPartitions',
  versions: [0, 1],
  args: { topicPartitions: [{ topic: 't', count: 5 }] },
  request: (r) => expect(r.topics).toEqual([{ name: 't', count: 5, assignments: null }]),
  response: { results: [{ name: 't', errorCode: 0 }] },
  decoded: (d) => expect(d.topicErrors).toEqual([{ topic: 't', errorCode: 0, errorMessage: null }]),
});
add({
  api: 'DescribeConfigs',
  dir: 'describeConfigs',
  versions: [1, 2],
  args: { resources: [{ type: 2, name: 't', configNames: ['retention.ms'] }], includeSynonyms: false },
  request: (r) =>
    expect(r.resources).toEqual([{ resourceType: 2, resourceName: 't', configurationKeys: ['retention.ms'] }]),
  response: {
    results: [
      {
        resourceType: 2,
        resourceName: 't',
        configs: [{ name: 'retention.ms', value: '1000', configSource: 1, synonyms: [] }],
      },
    ],
  },
  decoded: (d) =>
    expect((d.resources as Array<{ configEntries: unknown[] }>)[0]!.configEntries[0]).toMatchObject({
      configName: 'retention.ms',
      configValue: '1000',
    }),
});
add({
  api: 'AlterConfigs',
  dir: 'alterConfigs',
  versions: [0, 1],
  args: { resources: [{ type: 2, name: 't', configEntries: [{ name: 'retention.ms', value: '5' }] }] },
  request: (r) =>
    expect(r.resources).toEqual([
      { resourceType: 2, resourceName: 't', configs: [{ name: 'retention.ms', value: '5' }] },
    ]),
  response: { responses: [{ resourceType: 2, resourceName: 't', errorCode: 0 }] },
  decoded: (d) =>
    expect((d.resources as unknown[])[0]).toMatchObject({ resourceType: 2, resourceName: 't', errorCode: 0 }),
});
add({
  api: 'InitProducerId',
  dir: 'initProducerId',
  versions: [0, 1],
  args: { transactionalId: null, transactionTimeout: 60000 },
  request: (r) => expect(r).toMatchObject({ transactionalId: null, transactionTimeoutMs: 60000 }),
  response: { producerId: 1000n, producerEpoch: 0 },
  decoded: (d) => expect(d).toMatchObject({ producerId: '1000', producerEpoch: 0 }),
});
add({
  api: 'DeleteRecords',
  dir: 'deleteRecords',
  versions: [0, 1],
  args: { topics: [{ topic: 't', partitions: [{ partition: 0, offset: '10' }] }] },
  request: (r) => expect(r.topics).toEqual([{ name: 't', partitions: [{ partitionIndex: 0, offset: 10n }] }]),
  response: { topics: [{ name: 't', partitions: [{ partitionIndex: 0, lowWatermark: 10n }] }] },
  decoded: (d) =>
    expect((d.topics as Array<{ partitions: unknown[] }>)[0]!.partitions[0]).toMatchObject({
      partition: 0,
      lowWatermark: 10n,
    }),
});

add({
  api: 'DeleteGroups',
  dir: 'deleteGroups',
  versions: [0, 1],
  args: ['g'],
  request: (r) => expect(r.groupsNames).toEqual(['g']),
  response: { results: [{ groupId: 'g', errorCode: 0 }] },
  decoded: (d) => expect(d.results).toEqual([{ groupId: 'g', errorCode: 0 }]),
});

describe('kafkajs as the oracle', () => {
  for (const c of cases) {
    it(`${c.api} v${c.versions.join(',')}: kafkajs requests decode here, responses from here decode there`, async () => {
      const api = apis[c.api] as KafkaApi;
      for (const v of c.versions) {
        const js = kafkajs(c.dir, v, c.args);
        const req = js.request;
        expect(req.apiVersion).toBe(v);
        const body = (await req.encode()).buffer;
        c.request(decodeMessage(api.request, v, new Reader(body)) as never, v);
        const w = new Writer();
        encodeMessage(api.response, v, c.response as never, w);
        c.decoded((await js.response.decode(Buffer.concat(w.finish()))) as Record<string, unknown>, v);
      }
    });
  }
});
