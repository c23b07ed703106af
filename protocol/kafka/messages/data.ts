/** The data path: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords, InitProducerId, DescribeProducers. */
import { array, int16, int32, int64, int8, message, records, string, struct, uuid } from '../schema.js';

const leaderIdAndEpoch = { leaderId: int32({ default: -1 }), leaderEpoch: int32({ default: -1 }) };
const nodeEndpoint = {
  nodeId: int32(),
  host: string(),
  port: int32(),
  rack: string({ nullable: '0+', default: null }),
};

export const ProduceRequest = message(
  { apiKey: 0, name: 'ProduceRequest', versions: '3-11', flexible: '9+' },
  {
    transactionalId: string({ versions: '3+', nullable: '3+', default: null }),
    acks: int16(),
    timeoutMs: int32(),
    topicData: array({
      name: string(),
      partitionData: array({ index: int32(), records: records({ nullable: '0+' }) }),
    }),
  },
);

export const ProduceResponse = message(
  { apiKey: 0, name: 'ProduceResponse', versions: '3-11', flexible: '9+' },
  {
    responses: array({
      name: string(),
      partitionResponses: array({
        index: int32(),
        errorCode: int16(),
        baseOffset: int64(),
        logAppendTimeMs: int64({ versions: '2+', default: -1n }),
        logStartOffset: int64({ versions: '5+', default: -1n }),
        recordErrors: array(
          { batchIndex: int32(), batchIndexErrorMessage: string({ nullable: '8+', default: null }) },
          { versions: '8+' },
        ),
        errorMessage: string({ versions: '8+', nullable: '8+', default: null }),
        currentLeader: struct(leaderIdAndEpoch, { versions: '10+', tag: 0 }),
      }),
    }),
    throttleTimeMs: int32({ versions: '1+' }),
    nodeEndpoints: array(nodeEndpoint, { versions: '10+', tag: 0 }),
  },
);

export const FetchRequest = message(
  { apiKey: 1, name: 'FetchRequest', versions: '4-16', flexible: '12+' },
  {
    clusterId: string({ versions: '12+', nullable: '12+', default: null, tag: 0 }),
    replicaId: int32({ versions: '0-14', default: -1 }),
    replicaState: struct(
      { replicaId: int32({ default: -1 }), replicaEpoch: int64({ default: -1n }) },
      { versions: '15+', tag: 1 },
    ),
    maxWaitMs: int32(),
    minBytes: int32(),
    maxBytes: int32({ versions: '3+', default: 0x7fffffff }),
    isolationLevel: int8({ versions: '4+' }),
    sessionId: int32({ versions: '7+' }),
    sessionEpoch: int32({ versions: '7+', default: -1 }),
    topics: array({
      topic: string({ versions: '0-12' }),
      topicId: uuid({ versions: '13+' }),
      partitions: array({
        partition: int32(),
        currentLeaderEpoch: int32({ versions: '9+', default: -1 }),
        fetchOffset: int64(),
        lastFetchedEpoch: int32({ versions: '12+', default: -1 }),
        logStartOffset: int64({ versions: '5+', default: -1n }),
        partitionMaxBytes: int32(),
      }),
    }),
    forgottenTopicsData: array(
      { topic: string({ versions: '7-12' }), topicId: uuid({ versions: '13+' }), partitions: array(int32()) },
      { versions: '7+' },
    ),
    rackId: string({ versions: '11+' }),
  },
);

export const FetchResponse = message(
  { apiKey: 1, name: 'FetchResponse', versions: '4-16', flexible: '12+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16({ versions: '7+' }),
    sessionId: int32({ versions: '7+' }),
    responses: array({
      topic: string({ versions: '0-12' }),
      topicId: uuid({ versions: '13+' }),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
        highWatermark: int64(),
        lastStableOffset: int64({ versions: '4+', default: -1n }),
        logStartOffset: int64({ versions: '5+', default: -1n }),
        divergingEpoch: struct(
          { epoch: int32({ default: -1 }), endOffset: int64({ default: -1n }) },
          { versions: '12+', tag: 0 },
        ),
        currentLeader: struct(leaderIdAndEpoch, { versions: '12+', tag: 1 }),
        snapshotId: struct(
          { endOffset: int64({ default: -1n }), epoch: int32({ default: -1 }) },
          { versions: '12+', tag: 2 },
        ),
        abortedTransactions: array({ producerId: int64(), firstOffset: int64() }, { versions: '4+', nullable: '4+' }),
        preferredReadReplica: int32({ versions: '11+', default: -1 }),
        records: records({ nullable: '0+' }),
      }),
    }),
    nodeEndpoints: array(nodeEndpoint, { versions: '16+', tag: 0 }),
  },
);

export const ListOffsetsRequest = message(
  { apiKey: 2, name: 'ListOffsetsRequest', versions: '1-8', flexible: '6+' },
  {
    replicaId: int32(),
    isolationLevel: int8({ versions: '2+' }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        currentLeaderEpoch: int32({ versions: '4+', default: -1 }),
        timestamp: int64(),
      }),
    }),
  },
);

export const ListOffsetsResponse = message(
  { apiKey: 2, name: 'ListOffsetsResponse', versions: '1-8', flexible: '6+' },
  {
    throttleTimeMs: int32({ versions: '2+' }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
        timestamp: int64({ default: -1n }),
        offset: int64({ default: -1n }),
        leaderEpoch: int32({ versions: '4+', default: -1 }),
      }),
    }),
  },
);

export const OffsetForLeaderEpochRequest = message(
  { apiKey: 23, name: 'OffsetForLeaderEpochRequest', versions: '2-4', flexible: '4+' },
  {
    replicaId: int32({ versions: '3+', default: -2 }),
    topics: array({
      topic: string(),
      partitions: array({
        partition: int32(),
        currentLeaderEpoch: int32({ default: -1 }),
        leaderEpoch: int32(),
      }),
    }),
  },
);

export const OffsetForLeaderEpochResponse = message(
  { apiKey: 23, name: 'OffsetForLeaderEpochResponse', versions: '2-4', flexible: '4+' },
  {
    throttleTimeMs: int32(),
    topics: array({
      topic: string(),
      partitions: array({
        errorCode: int16(),
        partition: int32(),
        leaderEpoch: int32({ default: -1 }),
        endOffset: int64({ default: -1n }),
      }),
    }),
  },
);

export const DeleteRecordsRequest = message(
  { apiKey: 21, name: 'DeleteRecordsRequest', versions: '0-2', flexible: '2+' },
  {
    topics: array({ name: string(), partitions: array({ partitionIndex: int32(), offset: int64() }) }),
    timeoutMs: int32(),
  },
);

export const DeleteRecordsResponse = message(
  { apiKey: 21, name: 'DeleteRecordsResponse', versions: '0-2', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    topics: array({
      name: string(),
      partitions: array({ partitionIndex: int32(), lowWatermark: int64(), errorCode: int16() }),
    }),
  },
);

export const InitProducerIdRequest = message(
  { apiKey: 22, name: 'InitProducerIdRequest', versions: '0-5', flexible: '2+' },
  {
    transactionalId: string({ nullable: '0+' }),
    transactionTimeoutMs: int32(),
    producerId: int64({ versions: '3+', default: -1n }),
    producerEpoch: int16({ versions: '3+', default: -1 }),
  },
);

export const InitProducerIdResponse = message(
  { apiKey: 22, name: 'InitProducerIdResponse', versions: '0-5', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    producerId: int64({ default: -1n }),
    producerEpoch: int16(),
  },
);

export const DescribeProducersRequest = message(
  { apiKey: 61, name: 'DescribeProducersRequest', versions: '0', flexible: '0+' },
  { topics: array({ name: string(), partitionIndexes: array(int32()) }) },
);

export const DescribeProducersResponse = message(
  { apiKey: 61, name: 'DescribeProducersResponse', versions: '0', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
        errorMessage: string({ nullable: '0+', default: null }),
        activeProducers: array({
          producerId: int64(),
          producerEpoch: int32(),
          lastSequence: int32({ default: -1 }),
          lastTimestamp: int64({ default: -1n }),
          coordinatorEpoch: int32(),
          currentTxnStartOffset: int64({ default: -1n }),
        }),
      }),
    }),
  },
);
