/** ApiVersions, Metadata and DescribeCluster: what a client learns first. */
import { array, bool, int16, int32, int64, int8, message, string, uuid } from '../schema.js';

const NO_OPERATIONS = -2147483648;

export const ApiVersionsRequest = message(
  { apiKey: 18, name: 'ApiVersionsRequest', versions: '0-3', flexible: '3+' },
  {
    clientSoftwareName: string({ versions: '3+' }),
    clientSoftwareVersion: string({ versions: '3+' }),
  },
);

export const ApiVersionsResponse = message(
  { apiKey: 18, name: 'ApiVersionsResponse', versions: '0-3', flexible: '3+' },
  {
    errorCode: int16(),
    apiKeys: array({ apiKey: int16(), minVersion: int16(), maxVersion: int16() }),
    throttleTimeMs: int32({ versions: '1+' }),
    supportedFeatures: array(
      {
        name: string({ versions: '3+' }),
        minVersion: int16({ versions: '3+' }),
        maxVersion: int16({ versions: '3+' }),
      },
      { versions: '3+', tag: 0 },
    ),
    finalizedFeaturesEpoch: int64({ versions: '3+', tag: 1, default: -1n }),
    finalizedFeatures: array(
      {
        name: string({ versions: '3+' }),
        maxVersionLevel: int16({ versions: '3+' }),
        minVersionLevel: int16({ versions: '3+' }),
      },
      { versions: '3+', tag: 2 },
    ),
    zkMigrationReady: bool({ versions: '3+', tag: 3 }),
  },
);

export const MetadataRequest = message(
  { apiKey: 3, name: 'MetadataRequest', versions: '0-12', flexible: '9+' },
  {
    // v0: an empty array means every topic; v1+: null means every topic, empty means none.
    topics: array({ topicId: uuid({ versions: '10+' }), name: string({ nullable: '10+' }) }, { nullable: '1+' }),
    allowAutoTopicCreation: bool({ versions: '4+', default: true }),
    includeClusterAuthorizedOperations: bool({ versions: '8-10' }),
    includeTopicAuthorizedOperations: bool({ versions: '8+' }),
  },
);

export const MetadataResponse = message(
  { apiKey: 3, name: 'MetadataResponse', versions: '0-12', flexible: '9+' },
  {
    throttleTimeMs: int32({ versions: '3+' }),
    brokers: array({
      nodeId: int32(),
      host: string(),
      port: int32(),
      rack: string({ versions: '1+', nullable: '1+', default: null }),
    }),
    clusterId: string({ versions: '2+', nullable: '2+', default: null }),
    controllerId: int32({ versions: '1+', default: -1 }),
    topics: array({
      errorCode: int16(),
      name: string({ nullable: '12+' }),
      topicId: uuid({ versions: '10+' }),
      isInternal: bool({ versions: '1+' }),
      partitions: array({
        errorCode: int16(),
        partitionIndex: int32(),
        leaderId: int32(),
        leaderEpoch: int32({ versions: '7+', default: -1 }),
        replicaNodes: array(int32()),
        isrNodes: array(int32()),
        offlineReplicas: array(int32(), { versions: '5+' }),
      }),
      topicAuthorizedOperations: int32({ versions: '8+', default: NO_OPERATIONS }),
    }),
    clusterAuthorizedOperations: int32({ versions: '8-10', default: NO_OPERATIONS }),
  },
);

export const DescribeClusterRequest = message(
  { apiKey: 60, name: 'DescribeClusterRequest', versions: '0-1', flexible: '0+' },
  {
    includeClusterAuthorizedOperations: bool(),
    endpointType: int8({ versions: '1+', default: 1 }),
  },
);

export const DescribeClusterResponse = message(
  { apiKey: 60, name: 'DescribeClusterResponse', versions: '0-1', flexible: '0+' },
  {
    throttleTimeMs: int32(),
    errorCode: int16(),
    errorMessage: string({ nullable: '0+', default: null }),
    endpointType: int8({ versions: '1+', default: 1 }),
    clusterId: string(),
    controllerId: int32({ default: -1 }),
    brokers: array({
      brokerId: int32(),
      host: string(),
      port: int32(),
      rack: string({ nullable: '0+', default: null }),
    }),
    clusterAuthorizedOperations: int32({ default: NO_OPERATIONS }),
  },
);
