/**
 * The transaction APIs a Kafka client sends: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
 * TxnOffsetCommit, DescribeTransactions, ListTransactions (Kafka's JSON message specs; the
 * versions are those served). AddPartitionsToTxn v4+ (brokers batching verifications) and
 * WriteTxnMarkers are broker to broker: Millrace's brokers speak those over NATS.
 */
import { array, bool, int16, int32, int64, message, string } from '../schema.js';

export const AddPartitionsToTxnRequest = message(
  { apiKey: 24, name: 'AddPartitionsToTxnRequest', versions: '0-3', flexible: '3+' },
  {
    transactionalId: string(),
    producerId: int64(),
    producerEpoch: int16(),
    topics: array({ name: string(), partitions: array(int32()) }),
  },
);

export const AddPartitionsToTxnResponse = message(
  { apiKey: 24, name: 'AddPartitionsToTxnResponse', versions: '0-3', flexible: '3+' },
  {
    throttleTimeMs: int32(),
    results: array({
      name: string(),
      results: array({ partitionIndex: int32(), partitionErrorCode: int16() }),
    }),
  },
);

export const AddOffsetsToTxnRequest = message(
  { apiKey: 25, name: 'AddOffsetsToTxnRequest', versions: '0-3', flexible: '3+' },
  { transactionalId: string(), producerId: int64(), producerEpoch: int16(), groupId: string() },
);

export const AddOffsetsToTxnResponse = message(
  { apiKey: 25, name: 'AddOffsetsToTxnResponse', versions: '0-3', flexible: '3+' },
  { throttleTimeMs: int32(), errorCode: int16() },
);

export const EndTxnRequest = message(
  { apiKey: 26, name: 'EndTxnRequest', versions: '0-4', flexible: '3+' },
  { transactionalId: string(), producerId: int64(), producerEpoch: int16(), committed: bool() },
);

export const EndTxnResponse = message(
  { apiKey: 26, name: 'EndTxnResponse', versions: '0-4', flexible: '3+' },
  { throttleTimeMs: int32(), errorCode: int16() },
);

export const TxnOffsetCommitRequest = message(
  { apiKey: 28, name: 'TxnOffsetCommitRequest', versions: '0-3', flexible: '3+' },
  {
    transactionalId: string(),
    groupId: string(),
    producerId: int64(),
    producerEpoch: int16(),
    generationId: int32({ versions: '3+', default: -1 }),
    memberId: string({ versions: '3+', default: '' }),
    groupInstanceId: string({ versions: '3+', nullable: '3+', default: null }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        committedOffset: int64(),
        committedLeaderEpoch: int32({ versions: '2+', default: -1 }),
        committedMetadata: string({ nullable: '0+' }),
      }),
    }),
  },
);

export const TxnOffsetCommitResponse = message(
  { apiKey: 28, name: 'TxnOffsetCommitResponse', versions: '0-3', flexible: '3+' },
  {
    throttleTimeMs: int32(),
    topics: array({ name: string(), partitions: array({ partitionIndex: int32(), errorCode: int16() }) }),
  },
);

export const DescribeTransactionsRequest = message(
  { apiKey: 65, name: 'DescribeTransactionsRequest', versions: '0', flexible: '0+' },
  { transactionalIds: array(string()) },
);

export const DescribeTransactionsResponse = message(
  { apiKey: 65, name: 'DescribeTransactionsResponse', versions: '0', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    transactionStates: array({
      errorCode: int16(),
      transactionalId: string(),
      transactionState: string(),
      transactionTimeoutMs: int32(),
      transactionStartTimeMs: int64(),
      producerId: int64(),
      producerEpoch: int16(),
      topics: array({ topic: string(), partitions: array(int32()) }),
    }),
  },
);

export const ListTransactionsRequest = message(
  { apiKey: 66, name: 'ListTransactionsRequest', versions: '0-1', flexible: '0+' },
  {
    stateFilters: array(string()),
    producerIdFilters: array(int64()),
    durationFilter: int64({ versions: '1+', default: -1n }),
  },
);

export const ListTransactionsResponse = message(
  { apiKey: 66, name: 'ListTransactionsResponse', versions: '0-1', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    unknownStateFilters: array(string()),
    transactionStates: array({ transactionalId: string(), producerId: int64(), transactionState: string() }),
  },
);
