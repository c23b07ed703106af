/** Consumer group APIs on the Kafka door, onto the broker's group coordinator. */
import { ErrorCodes, MillraceError, errorFields } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { wire } from '../../protocol/wire.js';
import type { Caller } from '../broker/authorizer.js';
import type { DoorContext, Routes } from './door.js';
import { parseEndpoint } from './endpoints.js';

/** A thrown refusal as the error code a response carries (the Kafka door has no message field in most). */
const codeOf = (err: unknown): number => errorFields(err).errorCode;

/** Per-partition error codes of a commit or offset deletion, as Kafka's responses carry them. */
const partitionErrors = (topics: millrace.IOffsetCommitTopic[]) =>
  topics.map((t) => ({
    name: t.name ?? '',
    partitions: (t.partitions ?? []).map((p) => ({ partitionIndex: p.partition ?? 0, errorCode: p.errorCode ?? 0 })),
  }));

export function groupApis(routes: Routes, ctx: DoorContext): void {
  const { groups } = ctx;

  routes.add(apis.FindCoordinator, async (req, version, _h, { caller }) => {
    const keys = version >= 4 ? req.coordinatorKeys : [req.key];
    const found = await Promise.all(
      keys.map(async (key) => {
        try {
          if (req.keyType !== 0 && req.keyType !== 1)
            throw new MillraceError('INVALID_REQUEST', `unknown coordinator key type ${req.keyType}`);
          const { nodeId } =
            req.keyType === 1
              ? await ctx.txns.findCoordinator(key, caller)
              : await groups.findCoordinator(wire.FindCoordinatorRequest.create({ key }), caller);
          const endpoint = ctx.image().brokers.get(nodeId ?? -1)?.kafkaEndpoint;
          if (!endpoint)
            throw new MillraceError('COORDINATOR_NOT_AVAILABLE', `coordinator broker ${nodeId} has no Kafka listener`);
          return { key, nodeId: nodeId ?? -1, ...parseEndpoint(endpoint), errorCode: 0, errorMessage: null };
        } catch (err) {
          return { key, nodeId: -1, host: '', port: -1, ...errorFields(err) };
        }
      }),
    );
    if (version >= 4) return { coordinators: found };
    const { key: _key, ...first } = found[0]!;
    return first;
  });

  routes.add(apis.JoinGroup, async (req, version, header, { caller }) => {
    const join = (memberId: string) =>
      groups.joinGroup(
        wire.JoinGroupRequest.create({
          groupId: req.groupId,
          sessionTimeoutMs: req.sessionTimeoutMs,
          rebalanceTimeoutMs: req.rebalanceTimeoutMs,
          memberId,
          groupInstanceId: req.groupInstanceId ?? '',
          protocolType: req.protocolType,
          protocols: req.protocols,
          clientId: header.clientId ?? '',
          reason: req.reason ?? '',
        }),
        caller,
      );
    const noProtocol = version >= 7 ? null : '';
    try {
      let res = await join(req.memberId);
      // Before v4 (KIP-394) a new member is given its id and joined in one round trip.
      if (version < 4 && res.errorCode === ErrorCodes.MEMBER_ID_REQUIRED.code) res = await join(res.memberId ?? '');
      return {
        errorCode: res.errorCode ?? 0,
        generationId: res.generationId ?? -1,
        protocolType: res.protocolType || null,
        protocolName: res.protocolName || noProtocol,
        leader: res.leader ?? '',
        memberId: res.memberId ?? '',
        members: (res.members ?? []).map((m) => ({
          memberId: m.memberId ?? '',
          groupInstanceId: m.groupInstanceId || null,
          metadata: Buffer.from(m.metadata ?? []),
        })),
      };
    } catch (err) {
      return { errorCode: codeOf(err), memberId: req.memberId, protocolName: noProtocol };
    }
  });

  routes.add(apis.SyncGroup, async (req, _v, _h, { caller }) => {
    const echo = { protocolType: req.protocolType, protocolName: req.protocolName };
    try {
      const res = await groups.syncGroup(
        wire.SyncGroupRequest.create({
          groupId: req.groupId,
          generationId: req.generationId,
          memberId: req.memberId,
          groupInstanceId: req.groupInstanceId ?? '',
          assignments: req.assignments,
        }),
        caller,
      );
      return { ...echo, errorCode: res.errorCode ?? 0, assignment: Buffer.from(res.assignment ?? []) };
    } catch (err) {
      return { ...echo, errorCode: codeOf(err) };
    }
  });

  routes.add(apis.Heartbeat, (req, _v, _h, { caller }) => {
    try {
      const res = groups.heartbeat(
        wire.HeartbeatRequest.create({
          groupId: req.groupId,
          generationId: req.generationId,
          memberId: req.memberId,
          groupInstanceId: req.groupInstanceId ?? '',
        }),
        caller,
      );
      return { errorCode: res.errorCode ?? 0 };
    } catch (err) {
      return { errorCode: codeOf(err) };
    }
  });

  routes.add(apis.LeaveGroup, (req, version, _h, { caller }) => {
    const members =
      version >= 3
        ? req.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId ?? '',
            reason: m.reason ?? '',
          }))
        : [{ memberId: req.memberId, groupInstanceId: '', reason: '' }];
    try {
      const res = groups.leaveGroup(wire.LeaveGroupRequest.create({ groupId: req.groupId, members }), caller);
      if (version < 3) return { errorCode: res.errorCode ?? 0 };
      return {
        members: (res.members ?? []).map((m) => ({
          memberId: m.memberId ?? '',
          groupInstanceId: m.groupInstanceId || null,
          errorCode: m.errorCode ?? 0,
        })),
      };
    } catch (err) {
      return { errorCode: codeOf(err) };
    }
  });

  routes.add(apis.OffsetCommit, async (req, _v, _h, { caller }) => {
    const failAll = (code: number) => ({
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })),
      })),
    });
    try {
      const res = await groups.offsets.offsetCommit(
        wire.OffsetCommitRequest.create({
          groupId: req.groupId,
          generationId: req.generationIdOrMemberEpoch,
          memberId: req.memberId,
          groupInstanceId: req.groupInstanceId ?? '',
          topics: req.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({
              partition: p.partitionIndex,
              offset: Number(p.committedOffset),
              leaderEpoch: p.committedLeaderEpoch,
              metadata: p.committedMetadata ?? '',
            })),
          })),
        }),
        caller,
      );
      return { topics: partitionErrors(res.topics ?? []) };
    } catch (err) {
      return failAll(codeOf(err));
    }
  });

  /** One group's committed offsets, as OffsetFetch's topics. */
  const fetchOffsets = (
    groupId: string,
    topics: Array<{ name: string; partitionIndexes: number[] }> | null,
    caller: Caller,
    requireStable: boolean,
  ) => {
    const res = groups.offsets.offsetFetch(
      wire.OffsetFetchRequest.create({
        groupId,
        requireStable,
        topics: (topics ?? []).map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((partition) => ({ partition })),
        })),
      }),
      caller,
    );
    return (res.topics ?? []).map((t) => ({
      name: t.name ?? '',
      partitions: (t.partitions ?? []).map((p) => ({
        partitionIndex: p.partition ?? 0,
        committedOffset: BigInt(p.offset ?? -1),
        committedLeaderEpoch: p.leaderEpoch ?? -1,
        metadata: p.metadata ?? '',
        errorCode: p.errorCode ?? 0,
      })),
    }));
  };

  routes.add(apis.OffsetFetch, (req, version, _h, { caller }) => {
    if (version >= 8)
      return {
        groups: req.groups.map((g) => {
          try {
            return {
              groupId: g.groupId,
              topics: fetchOffsets(g.groupId, g.topics, caller, req.requireStable),
              errorCode: 0,
            };
          } catch (err) {
            return { groupId: g.groupId, errorCode: codeOf(err) };
          }
        }),
      };
    // v1 has no "every topic" (its list is not nullable): an empty list asks for nothing.
    if (version < 2 && req.topics!.length === 0) return { topics: [] };
    try {
      return { topics: fetchOffsets(req.groupId, req.topics, caller, req.requireStable) };
    } catch (err) {
      if (version >= 2) return { errorCode: codeOf(err) };
      const errorCode = codeOf(err);
      return {
        topics: req.topics!.map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, errorCode })),
        })),
      };
    }
  });

  routes.add(apis.OffsetDelete, async (req, _v, _h, { caller }) => {
    try {
      const res = await groups.offsets.offsetDelete(
        wire.OffsetDeleteRequest.create({
          groupId: req.groupId,
          topics: req.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({ partition: p.partitionIndex })),
          })),
        }),
        caller,
      );
      return { topics: partitionErrors(res.topics ?? []) };
    } catch (err) {
      return { errorCode: codeOf(err) };
    }
  });

  routes.add(apis.DescribeGroups, (req, _v, _h, { caller }) => {
    const res = groups.describeGroups(wire.DescribeGroupsRequest.create({ groups: req.groups }), caller);
    return {
      groups: (res.groups ?? []).map((g) => ({
        errorCode: g.errorCode ?? 0,
        groupId: g.groupId ?? '',
        groupState: g.state ?? '',
        protocolType: g.protocolType ?? '',
        protocolData: g.protocol ?? '',
        members: (g.members ?? []).map((m) => ({
          memberId: m.memberId ?? '',
          groupInstanceId: m.groupInstanceId || null,
          clientId: m.clientId ?? '',
          clientHost: '',
          memberMetadata: Buffer.from(m.metadata ?? []),
          memberAssignment: Buffer.from(m.assignment ?? []),
        })),
      })),
    };
  });

  routes.add(apis.ListGroups, (req, _v, _h, { caller }) => {
    const states = new Set(req.statesFilter.map((s) => s.toLowerCase()));
    const types = new Set(req.typesFilter.map((t) => t.toLowerCase()));
    const listed = (groups.listGroups(caller).groups ?? []).filter(
      (g) =>
        (states.size === 0 || states.has((g.state ?? '').toLowerCase())) && (types.size === 0 || types.has('classic')),
    );
    return {
      groups: listed.map((g) => ({
        groupId: g.groupId ?? '',
        protocolType: g.protocolType ?? '',
        groupState: g.state ?? '',
        groupType: 'classic',
      })),
    };
  });

  routes.add(apis.DeleteGroups, async (req, _v, _h, { caller }) => {
    const res = await groups.deleteGroups(wire.DeleteGroupsRequest.create({ groups: req.groupsNames }), caller);
    return { results: (res.results ?? []).map((r) => ({ groupId: r.groupId ?? '', errorCode: r.errorCode ?? 0 })) };
  });
}
