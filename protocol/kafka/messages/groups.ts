/** Consumer groups: coordinator lookup, membership, offsets, and their admin APIs. */
import { array, bool, bytes, int16, int32, int64, int8, message, string } from '../schema.js';

const NO_OPERATIONS = -2147483648;

export const FindCoordinatorRequest = message(
  { apiKey: 10, name: 'FindCoordinatorRequest', versions: '0-5', flexible: '3+' },
  {
    key: string({ versions: '0-3' }),
    keyType: int8({ versions: '1+' }),
    coordinatorKeys: array(string(), { versions: '4+' }),
  },
);

export const FindCoordinatorResponse = message(
  { apiKey: 10, name: 'FindCoordinatorResponse', versions: '0-5', flexible: '3+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16({ versions: '0-3' }),
    errorMessage: string({ versions: '1-3', nullable: '1-3', default: null }),
    nodeId: int32({ versions: '0-3' }),
    host: string({ versions: '0-3' }),
    port: int32({ versions: '0-3' }),
    coordinators: array(
      {
        key: string(),
        nodeId: int32(),
        host: string(),
        port: int32(),
        errorCode: int16(),
        errorMessage: string({ nullable: '0+', default: null }),
      },
      { versions: '4+' },
    ),
  },
);

export const JoinGroupRequest = message(
  { apiKey: 11, name: 'JoinGroupRequest', versions: '0-9', flexible: '6+' },
  {
    groupId: string(),
    sessionTimeoutMs: int32(),
    rebalanceTimeoutMs: int32({ versions: '1+', default: -1 }),
    memberId: string(),
    groupInstanceId: string({ versions: '5+', nullable: '5+', default: null }),
    protocolType: string(),
    protocols: array({ name: string(), metadata: bytes() }),
    reason: string({ versions: '8+', nullable: '8+', default: null }),
  },
);

export const JoinGroupResponse = message(
  { apiKey: 11, name: 'JoinGroupResponse', versions: '0-9', flexible: '6+' },
  {
    throttleTimeMs: int32({ versions: '2+' }),
    errorCode: int16(),
    generationId: int32({ default: -1 }),
    protocolType: string({ versions: '7+', nullable: '7+', default: null }),
    protocolName: string({ nullable: '7+' }),
    leader: string(),
    skipAssignment: bool({ versions: '9+' }),
    memberId: string(),
    members: array({
      memberId: string(),
      groupInstanceId: string({ versions: '5+', nullable: '5+', default: null }),
      metadata: bytes(),
    }),
  },
);

export const SyncGroupRequest = message(
  { apiKey: 14, name: 'SyncGroupRequest', versions: '0-5', flexible: '4+' },
  {
    groupId: string(),
    generationId: int32(),
    memberId: string(),
    groupInstanceId: string({ versions: '3+', nullable: '3+', default: null }),
    protocolType: string({ versions: '5+', nullable: '5+', default: null }),
    protocolName: string({ versions: '5+', nullable: '5+', default: null }),
    assignments: array({ memberId: string(), assignment: bytes() }),
  },
);

export const SyncGroupResponse = message(
  { apiKey: 14, name: 'SyncGroupResponse', versions: '0-5', flexible: '4+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
    protocolType: string({ versions: '5+', nullable: '5+', default: null }),
    protocolName: string({ versions: '5+', nullable: '5+', default: null }),
    assignment: bytes(),
  },
);

export const HeartbeatRequest = message(
  { apiKey: 12, name: 'HeartbeatRequest', versions: '0-4', flexible: '4+' },
  {
    groupId: string(),
    generationId: int32(),
    memberId: string(),
    groupInstanceId: string({ versions: '3+', nullable: '3+', default: null }),
  },
);

export const HeartbeatResponse = message(
  { apiKey: 12, name: 'HeartbeatResponse', versions: '0-4', flexible: '4+' },
  { throttleTimeMs: int32({ versions: '1+' }), errorCode: int16() },
);

export const LeaveGroupRequest = message(
  { apiKey: 13, name: 'LeaveGroupRequest', versions: '0-5', flexible: '4+' },
  {
    groupId: string(),
    memberId: string({ versions: '0-2' }),
    members: array(
      {
        memberId: string(),
        groupInstanceId: string({ nullable: '3+', default: null }),
        reason: string({ versions: '5+', nullable: '5+', default: null }),
      },
      { versions: '3+' },
    ),
  },
);

export const LeaveGroupResponse = message(
  { apiKey: 13, name: 'LeaveGroupResponse', versions: '0-5', flexible: '4+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
    members: array(
      { memberId: string(), groupInstanceId: string({ nullable: '3+', default: null }), errorCode: int16() },
      { versions: '3+' },
    ),
  },
);

export const OffsetCommitRequest = message(
  { apiKey: 8, name: 'OffsetCommitRequest', versions: '2-9', flexible: '8+' },
  {
    groupId: string(),
    generationIdOrMemberEpoch: int32({ versions: '1+', default: -1 }),
    memberId: string({ versions: '1+' }),
    groupInstanceId: string({ versions: '7+', nullable: '7+', default: null }),
    retentionTimeMs: int64({ versions: '2-4', default: -1n }),
    topics: array({
      name: string(),
      partitions: array({
        partitionIndex: int32(),
        committedOffset: int64(),
        committedLeaderEpoch: int32({ versions: '6+', default: -1 }),
        committedMetadata: string({ nullable: '0+' }),
      }),
    }),
  },
);

export const OffsetCommitResponse = message(
  { apiKey: 8, name: 'OffsetCommitResponse', versions: '2-9', flexible: '8+' },
  {
    throttleTimeMs: int32({ versions: '3+' }),
    topics: array({ name: string(), partitions: array({ partitionIndex: int32(), errorCode: int16() }) }),
  },
);

const fetchedPartition = {
  partitionIndex: int32(),
  committedOffset: int64(),
  committedLeaderEpoch: int32({ versions: '5+', default: -1 }),
  metadata: string({ nullable: '0+' }),
  errorCode: int16(),
};

export const OffsetFetchRequest = message(
  { apiKey: 9, name: 'OffsetFetchRequest', versions: '1-9', flexible: '6+' },
  {
    groupId: string({ versions: '0-7' }),
    topics: array({ name: string(), partitionIndexes: array(int32()) }, { versions: '0-7', nullable: '2-7' }),
    groups: array(
      {
        groupId: string(),
        memberId: string({ versions: '9+', nullable: '9+', default: null }),
        memberEpoch: int32({ versions: '9+', default: -1 }),
        topics: array({ name: string(), partitionIndexes: array(int32()) }, { nullable: '8+' }),
      },
      { versions: '8+' },
    ),
    requireStable: bool({ versions: '7+' }),
  },
);

export const OffsetFetchResponse = message(
  { apiKey: 9, name: 'OffsetFetchResponse', versions: '1-9', flexible: '6+' },
  {
    throttleTimeMs: int32({ versions: '3+' }),
    topics: array({ name: string(), partitions: array(fetchedPartition) }, { versions: '0-7' }),
    errorCode: int16({ versions: '2-7' }),
    groups: array(
      { groupId: string(), topics: array({ name: string(), partitions: array(fetchedPartition) }), errorCode: int16() },
      { versions: '8+' },
    ),
  },
);

export const DescribeGroupsRequest = message(
  { apiKey: 15, name: 'DescribeGroupsRequest', versions: '0-5', flexible: '5+' },
  { groups: array(string()), includeAuthorizedOperations: bool({ versions: '3+' }) },
);

export const DescribeGroupsResponse = message(
  { apiKey: 15, name: 'DescribeGroupsResponse', versions: '0-5', flexible: '5+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    groups: array({
      errorCode: int16(),
      groupId: string(),
      groupState: string(),
      protocolType: string(),
      protocolData: string(),
      members: array({
        memberId: string(),
        groupInstanceId: string({ versions: '4+', nullable: '4+', default: null }),
        clientId: string(),
        clientHost: string(),
        memberMetadata: bytes(),
        memberAssignment: bytes(),
      }),
      authorizedOperations: int32({ versions: '3+', default: NO_OPERATIONS }),
    }),
  },
);

export const ListGroupsRequest = message(
  { apiKey: 16, name: 'ListGroupsRequest', versions: '0-5', flexible: '3+' },
  { statesFilter: array(string(), { versions: '4+' }), typesFilter: array(string(), { versions: '5+' }) },
);

export const ListGroupsResponse = message(
  { apiKey: 16, name: 'ListGroupsResponse', versions: '0-5', flexible: '3+' },
  {
    throttleTimeMs: int32({ versions: '1+' }),
    errorCode: int16(),
    groups: array({
      groupId: string(),
      protocolType: string(),
      groupState: string({ versions: '4+' }),
      groupType: string({ versions: '5+' }),
    }),
  },
);

export const DeleteGroupsRequest = message(
  { apiKey: 42, name: 'DeleteGroupsRequest', versions: '0-2', flexible: '2+' },
  { groupsNames: array(string()) },
);

export const DeleteGroupsResponse = message(
  { apiKey: 42, name: 'DeleteGroupsResponse', versions: '0-2', flexible: '2+' },
  { throttleTimeMs: int32(), results: array({ groupId: string(), errorCode: int16() }) },
);

export const OffsetDeleteRequest = message(
  { apiKey: 47, name: 'OffsetDeleteRequest', versions: '0', flexible: 'none' },
  { groupId: string(), topics: array({ name: string(), partitions: array({ partitionIndex: int32() }) }) },
);

export const OffsetDeleteResponse = message(
  { apiKey: 47, name: 'OffsetDeleteResponse', versions: '0', flexible: 'none' },
  {
    errorCode: int16(),
    throttleTimeMs: int32(),
    topics: array({ name: string(), partitions: array({ partitionIndex: int32(), errorCode: int16() }) }),
  },
);
