/**
 * The Kafka APIs Millrace serves: each API's request and response schemas, whose versions are
 * the versions it supports, and the request and response headers.
 */
import { KafkaCodecError, Reader, Writer, isFlexible, readTagged } from './codec.js';
import * as admin from './messages/admin.js';
import * as cluster from './messages/cluster.js';
import * as data from './messages/data.js';
import * as groups from './messages/groups.js';
import * as security from './messages/security.js';
import * as transactions from './messages/transactions.js';
import type { MessageSpec } from './schema.js';

export { KafkaCodecError, Reader, Writer, decodeMessage, encodeMessage, type Loose } from './codec.js';
export type { MessageOf } from './schema.js';
export { admin, cluster, data, groups, security, transactions };

export interface KafkaApi<Req extends MessageSpec = MessageSpec, Res extends MessageSpec = MessageSpec> {
  readonly key: number;
  readonly name: string;
  readonly request: Req;
  readonly response: Res;
}

const api = <Req extends MessageSpec, Res extends MessageSpec>(name: string, request: Req, response: Res) => {
  if (request.apiKey !== response.apiKey || request.versions.max !== response.versions.max)
    throw new Error(`${name}: request and response schemas disagree`);
  return { key: request.apiKey, name, request, response } as const;
};

export const apis = {
  Produce: api('Produce', data.ProduceRequest, data.ProduceResponse),
  Fetch: api('Fetch', data.FetchRequest, data.FetchResponse),
  ListOffsets: api('ListOffsets', data.ListOffsetsRequest, data.ListOffsetsResponse),
  Metadata: api('Metadata', cluster.MetadataRequest, cluster.MetadataResponse),
  OffsetCommit: api('OffsetCommit', groups.OffsetCommitRequest, groups.OffsetCommitResponse),
  OffsetFetch: api('OffsetFetch', groups.OffsetFetchRequest, groups.OffsetFetchResponse),
  FindCoordinator: api('FindCoordinator', groups.FindCoordinatorRequest, groups.FindCoordinatorResponse),
  JoinGroup: api('JoinGroup', groups.JoinGroupRequest, groups.JoinGroupResponse),
  Heartbeat: api('Heartbeat', groups.HeartbeatRequest, groups.HeartbeatResponse),
  LeaveGroup: api('LeaveGroup', groups.LeaveGroupRequest, groups.LeaveGroupResponse),
  SyncGroup: api('SyncGroup', groups.SyncGroupRequest, groups.SyncGroupResponse),
  DescribeGroups: api('DescribeGroups', groups.DescribeGroupsRequest, groups.DescribeGroupsResponse),
  ListGroups: api('ListGroups', groups.ListGroupsRequest, groups.ListGroupsResponse),
  ApiVersions: api('ApiVersions', cluster.ApiVersionsRequest, cluster.ApiVersionsResponse),
  CreateTopics: api('CreateTopics', admin.CreateTopicsRequest, admin.CreateTopicsResponse),
  DeleteTopics: api('DeleteTopics', admin.DeleteTopicsRequest, admin.DeleteTopicsResponse),
  DeleteRecords: api('DeleteRecords', data.DeleteRecordsRequest, data.DeleteRecordsResponse),
  InitProducerId: api('InitProducerId', data.InitProducerIdRequest, data.InitProducerIdResponse),
  OffsetForLeaderEpoch: api(
    'OffsetForLeaderEpoch',
    data.OffsetForLeaderEpochRequest,
    data.OffsetForLeaderEpochResponse,
  ),
  DescribeConfigs: api('DescribeConfigs', admin.DescribeConfigsRequest, admin.DescribeConfigsResponse),
  AlterConfigs: api('AlterConfigs', admin.AlterConfigsRequest, admin.AlterConfigsResponse),
  CreatePartitions: api('CreatePartitions', admin.CreatePartitionsRequest, admin.CreatePartitionsResponse),
  DeleteGroups: api('DeleteGroups', groups.DeleteGroupsRequest, groups.DeleteGroupsResponse),
  ElectLeaders: api('ElectLeaders', admin.ElectLeadersRequest, admin.ElectLeadersResponse),
  IncrementalAlterConfigs: api(
    'IncrementalAlterConfigs',
    admin.IncrementalAlterConfigsRequest,
    admin.IncrementalAlterConfigsResponse,
  ),
  AlterPartitionReassignments: api(
    'AlterPartitionReassignments',
    admin.AlterPartitionReassignmentsRequest,
    admin.AlterPartitionReassignmentsResponse,
  ),
  ListPartitionReassignments: api(
    'ListPartitionReassignments',
    admin.ListPartitionReassignmentsRequest,
    admin.ListPartitionReassignmentsResponse,
  ),
  OffsetDelete: api('OffsetDelete', groups.OffsetDeleteRequest, groups.OffsetDeleteResponse),
  DescribeCluster: api('DescribeCluster', cluster.DescribeClusterRequest, cluster.DescribeClusterResponse),
  DescribeProducers: api('DescribeProducers', data.DescribeProducersRequest, data.DescribeProducersResponse),
  AddPartitionsToTxn: api(
    'AddPartitionsToTxn',
    transactions.AddPartitionsToTxnRequest,
    transactions.AddPartitionsToTxnResponse,
  ),
  AddOffsetsToTxn: api('AddOffsetsToTxn', transactions.AddOffsetsToTxnRequest, transactions.AddOffsetsToTxnResponse),
  EndTxn: api('EndTxn', transactions.EndTxnRequest, transactions.EndTxnResponse),
  TxnOffsetCommit: api('TxnOffsetCommit', transactions.TxnOffsetCommitRequest, transactions.TxnOffsetCommitResponse),
  DescribeTransactions: api(
    'DescribeTransactions',
    transactions.DescribeTransactionsRequest,
    transactions.DescribeTransactionsResponse,
  ),
  ListTransactions: api(
    'ListTransactions',
    transactions.ListTransactionsRequest,
    transactions.ListTransactionsResponse,
  ),
  SaslHandshake: api('SaslHandshake', security.SaslHandshakeRequest, security.SaslHandshakeResponse),
  SaslAuthenticate: api('SaslAuthenticate', security.SaslAuthenticateRequest, security.SaslAuthenticateResponse),
  DescribeAcls: api('DescribeAcls', security.DescribeAclsRequest, security.DescribeAclsResponse),
  CreateAcls: api('CreateAcls', security.CreateAclsRequest, security.CreateAclsResponse),
  DeleteAcls: api('DeleteAcls', security.DeleteAclsRequest, security.DeleteAclsResponse),
  DescribeUserScramCredentials: api(
    'DescribeUserScramCredentials',
    security.DescribeUserScramCredentialsRequest,
    security.DescribeUserScramCredentialsResponse,
  ),
  DescribeClientQuotas: api(
    'DescribeClientQuotas',
    security.DescribeClientQuotasRequest,
    security.DescribeClientQuotasResponse,
  ),
  AlterClientQuotas: api('AlterClientQuotas', security.AlterClientQuotasRequest, security.AlterClientQuotasResponse),
  AlterUserScramCredentials: api(
    'AlterUserScramCredentials',
    security.AlterUserScramCredentialsRequest,
    security.AlterUserScramCredentialsResponse,
  ),
} as const;

export type ApiName = keyof typeof apis;

export const apisByKey: ReadonlyMap<number, KafkaApi> = new Map(Object.values(apis).map((a) => [a.key, a]));

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/**
 * Reads a request header: v1 (key, version, correlation id, client id as a classic nullable
 * string) or v2 (the same and a tagged section) for a flexible version of a known API. The
 * reader is left at the body.
 */
export function readRequestHeader(r: Reader): RequestHeader & { api: KafkaApi | undefined } {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const n = r.int16();
  if (n < -1) throw new KafkaCodecError(`client id length ${n}`);
  const clientId = n < 0 ? null : r.view(n).toString('utf8');
  const api = apisByKey.get(apiKey);
  if (api && isFlexible(api.request, apiVersion)) readTagged(r, (_, size) => void r.view(size));
  return { apiKey, apiVersion, correlationId, clientId, api };
}

/** The response header: v0 is the correlation id; v1 adds an empty tagged section (never for ApiVersions, KIP-511). */
export function writeResponseHeader(w: Writer, api: KafkaApi, version: number, correlationId: number): void {
  w.int32(correlationId);
  if (api.key !== apis.ApiVersions.key && isFlexible(api.response, version)) w.uvarint(0);
}

/** Writes a request header (for tests and tools that speak to a Kafka door). */
export function writeRequestHeader(w: Writer, api: KafkaApi, header: Omit<RequestHeader, 'apiKey'>): void {
  w.int16(api.key);
  w.int16(header.apiVersion);
  w.int32(header.correlationId);
  if (header.clientId === null) w.int16(-1);
  else {
    const b = Buffer.from(header.clientId);
    w.int16(b.length);
    w.raw(b);
  }
  if (isFlexible(api.request, header.apiVersion)) w.uvarint(0);
}
