/** Topic, partition and config administration. */
import { array, bool, int16, int32, int8, message, string, uuid } from '../schema.js';

export const CreateTopicsRequest = message(
  { apiKey: 19, name: 'CreateTopicsRequest', versions: '2-7', flexible: '5+' },
  {
    topics: array({
      name: string(),
      numPartitions: int32(),
      replicationFactor: int16(),
      assignments: array({ partitionIndex: int32(), brokerIds: array(int32()) }),
      configs: array({ name: string(), value: string({ nullable: '0+' }) }),
    }),
    timeoutMs: int32({ default: 60_000 }),
    validateOnly: bool({ versions: '1+' }),
  },
);

export const CreateTopicsResponse = message(
  { apiKey: 19, name: 'CreateTopicsResponse', versions: '2-7', flexible: '5+' },
  {
    throttleTimeMs: int32({ versions: '2+' }),
    topics: array({
      name: string(),
      topicId: uuid({ versions: '7+' }),
      errorCode: int16(),
      errorMessage: string({ versions: '1+', nullable: '0+', default: null }),
      topicConfigErrorCode: int16({ versions: '5+', tag: 0 }),
      numPartitions: int32({ versions: '5+', default: -1 }),
      replicationFactor: int16({ versions: '5+', default: -1 }),
      configs: array(
        {
          name: string(),
          value: string({ nullable: '5+' }),
          readOnly: bool(),
          configSource: int8({ default: -1 }),
          isSensitive: bool(),
        },
        { versions: '5+', nullable: '5+' },
      ),
    }),
  },
);

export const DeleteTopicsRequest = message(
  { apiKey: 20, name: 'DeleteTopicsRequest', versions: '1-6', flexible: '4+' },
  {
    topics: array({ name: string({ nullable: '6+' }), topicId: uuid() }, { versions: '6+' }),
    topicNames: array(string(), { versions: '0-5' }),
    timeoutMs: int32(),
  },
);

export const DeleteTopicsResponse = message(
  { apiKey: 20, name: 'DeleteTopicsResponse', versions: '1-6', flexible: '4+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    responses: array({
      name: string({ nullable: '6+' }),
      topicId: uuid({ versions: '6+' }),
      errorCode: int16(),
      errorMessage: string({ versions: '5+', nullable: '5+', default: null }),
    }),
  },
);

export const CreatePartitionsRequest = message(
  { apiKey: 37, name: 'CreatePartitionsRequest', versions: '0-3', flexible: '2+' },
  {
    topics: array({
      name: string(),
      count: int32(),
      assignments: array({ brokerIds: array(int32()) }, { nullable: '0+' }),
    }),
    timeoutMs: int32(),
    validateOnly: bool(),
  },
);

export const CreatePartitionsResponse = message(
  { apiKey: 37, name: 'CreatePartitionsResponse', versions: '0-3', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    results: array({ name: string(), errorCode: int16(), errorMessage: string({ nullable: '0+', default: null }) }),
  },
);

export const DescribeConfigsRequest = message(
  { apiKey: 32, name: 'DescribeConfigsRequest', versions: '1-4', flexible: '4+' },
  {
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      configurationKeys: array(string(), { nullable: '0+' }),
    }),
    includeSynonyms: bool({ versions: '1+' }),
    includeDocumentation: bool({ versions: '3+' }),
  },
);

export const DescribeConfigsResponse = message(
  { apiKey: 32, name: 'DescribeConfigsResponse', versions: '1-4', flexible: '4+' },
  {
    throttleTimeMs: int32(),
    results: array({
      errorCode: int16(),
      errorMessage: string({ nullable: '0+', default: null }),
      resourceType: int8(),
      resourceName: string(),
      configs: array({
        name: string(),
        value: string({ nullable: '0+' }),
        readOnly: bool(),
        isDefault: bool({ versions: '0' }),
        configSource: int8({ versions: '1+', default: -1 }),
        isSensitive: bool(),
        synonyms: array({ name: string(), value: string({ nullable: '0+' }), source: int8() }, { versions: '1+' }),
        configType: int8({ versions: '3+' }),
        documentation: string({ versions: '3+', nullable: '0+', default: null }),
      }),
    }),
  },
);

const alterConfigsResponse = {
  throttleTimeMs: int32(),
  responses: array({
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    resourceType: int8(),
    resourceName: string(),
  }),
};

export const AlterConfigsRequest = message(
  { apiKey: 33, name: 'AlterConfigsRequest', versions: '0-2', flexible: '2+' },
  {
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      configs: array({ name: string(), value: string({ nullable: '0+' }) }),
    }),
    validateOnly: bool(),
  },
);

export const AlterConfigsResponse = message(
  { apiKey: 33, name: 'AlterConfigsResponse', versions: '0-2', flexible: '2+' },
  alterConfigsResponse,
);

export const IncrementalAlterConfigsRequest = message(
  { apiKey: 44, name: 'IncrementalAlterConfigsRequest', versions: '0-1', flexible: '1+' },
  {
    resources: array({
      resourceType: int8(),
      resourceName: string(),
      configs: array({ name: string(), configOperation: int8(), value: string({ nullable: '0+' }) }),
    }),
    validateOnly: bool(),
  },
);

export const IncrementalAlterConfigsResponse = message(
  { apiKey: 44, name: 'IncrementalAlterConfigsResponse', versions: '0-1', flexible: '1+' },
  alterConfigsResponse,
);

export const ElectLeadersRequest = message(
  { apiKey: 43, name: 'ElectLeadersRequest', versions: '0-2', flexible: '2+' },
  {
    electionType: int8({ versions: '1+' }),
    topicPartitions: array({ topic: string(), partitions: array(int32()) }, { nullable: '0+' }),
    timeoutMs: int32({ default: 60_000 }),
  },
);

export const ElectLeadersResponse = message(
  { apiKey: 43, name: 'ElectLeadersResponse', versions: '0-2', flexible: '2+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16({ versions: '1+' }),
    replicaElectionResults: array({
      topic: string(),
      partitionResult: array({
        partitionId: int32(),
        errorCode: int16(),
        errorMessage: string({ nullable: '0+', default: null }),
      }),
    }),
  },
);

export const AlterPartitionReassignmentsRequest = message(
  { apiKey: 45, name: 'AlterPartitionReassignmentsRequest', versions: '0', flexible: '0+' },
  {
    timeoutMs: int32({ default: 60_000 }),
    topics: array({
      name: string(),
      partitions: array({ partitionIndex: int32(), replicas: array(int32(), { nullable: '0+' }) }),
    }),
  },
);

export const AlterPartitionReassignmentsResponse = message(
  { apiKey: 45, name: 'AlterPartitionReassignmentsResponse', versions: '0', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    responses: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        errorCode: int16(),
        errorMessage: string({ nullable: '0+', default: null }),
      }),
    }),
  },
);

export const ListPartitionReassignmentsRequest = message(
  { apiKey: 46, name: 'ListPartitionReassignmentsRequest', versions: '0', flexible: '0+' },
  {
    timeoutMs: int32({ default: 60_000 }),
    topics: array({ name: string(), partitionIndexes: array(int32()) }, { nullable: '0+' }),
  },
);

export const ListPartitionReassignmentsResponse = message(
  { apiKey: 46, name: 'ListPartitionReassignmentsResponse', versions: '0', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        replicas: array(int32()),
        addingReplicas: array(int32()),
        removingReplicas: array(int32()),
      }),
    }),
  },
);
