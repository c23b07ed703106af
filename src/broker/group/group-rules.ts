/**
 * The group coordinator's membership decisions, as pure functions of a group (its machine's
 * context and state) and a request, in the manner of Kafka's GroupMetadataManager: who may join,
 * who is a member, which generation is current, and for each request the events to give the
 * group's machine and the reply (now, or once the rebalance completes). No I/O, no clock (the
 * caller passes the time and the id generator); the coordinator shell applies what they return.
 */
import {
  isRejoinUnchanged,
  type GroupContext,
  type GroupEvent,
  type GroupMember,
  type GroupState,
  type JoiningMember,
} from '../../../actors/consumer-group.js';
import { ErrorCodes, MillraceError, type ErrorName } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';

/** A group as its machine holds it; a group that does not exist is Dead with no members. */
export interface GroupView {
  ctx: GroupContext;
  state: GroupState;
}

/** The view of a group this coordinator does not have. */
export const absentGroup = (groupId: string): GroupView => ({
  ctx: {
    groupId,
    generation: 0,
    protocolType: null,
    protocol: null,
    leader: null,
    members: {},
    initialRebalanceDelayMs: 0,
    delayingInitial: false,
  },
  state: 'Dead',
});

/** A refusal by name, as the fields every response begins with. */
export const refusal = (name: ErrorName, message: string): { errorCode: number; errorMessage: string } => ({
  errorCode: ErrorCodes[name].code,
  errorMessage: message,
});

export interface SessionBounds {
  /** group.min.session.timeout.ms / group.max.session.timeout.ms */
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
}

/** A join's own checks: a session timeout within the broker's bounds, a protocol type and at least one protocol. */
export function checkJoinRequest(req: millrace.IJoinGroupRequest, bounds: SessionBounds): void {
  const sessionTimeoutMs = req.sessionTimeoutMs ?? 0;
  if (sessionTimeoutMs < bounds.minSessionTimeoutMs || sessionTimeoutMs > bounds.maxSessionTimeoutMs)
    throw new MillraceError(
      'INVALID_SESSION_TIMEOUT',
      `session timeout ${sessionTimeoutMs} ms is outside [${bounds.minSessionTimeoutMs}, ${bounds.maxSessionTimeoutMs}]`,
    );
  if (!req.protocolType || (req.protocols ?? []).length === 0)
    throw new MillraceError('INCONSISTENT_GROUP_PROTOCOL', 'a join needs a protocol type and at least one protocol');
}

/** In a group with members: the group's protocol type, and a protocol every member supports. */
export function checkJoinProtocol(ctx: GroupContext, req: millrace.IJoinGroupRequest): void {
  const members = Object.values(ctx.members);
  if (
    members.length > 0 &&
    (ctx.protocolType !== req.protocolType ||
      !(req.protocols ?? []).some((p) => members.every((m) => m.protocols.some((q) => q.name === p.name))))
  )
    throw new MillraceError(
      'INCONSISTENT_GROUP_PROTOCOL',
      `group '${ctx.groupId}' uses ${ctx.protocolType} with protocols no member of it shares with this one`,
    );
}

/** The member a request names: its static instance must still be its own (KIP-345), and it must be in the group. */
export function memberOf(ctx: GroupContext, memberId: string, instanceId: string): GroupMember {
  if (instanceId) {
    const holder = Object.values(ctx.members).find((x) => x.groupInstanceId === instanceId);
    if (holder && holder.memberId !== memberId)
      throw new MillraceError('FENCED_INSTANCE_ID', `instance '${instanceId}' is now member ${holder.memberId}`);
  }
  const m = ctx.members[memberId];
  if (!m) throw new MillraceError('UNKNOWN_MEMBER_ID', `member '${memberId}' is not in group '${ctx.groupId}'`);
  return m;
}

export function checkGeneration(ctx: GroupContext, generation: number): void {
  if (generation !== ctx.generation)
    throw new MillraceError(
      'ILLEGAL_GENERATION',
      `generation ${generation} is not the current ${ctx.generation} of '${ctx.groupId}'`,
    );
}

/** The JoinGroup reply of a generation: the leader also gets every member's subscription. */
export function joinResponse(ctx: GroupContext, memberId: string): millrace.IJoinGroupResponse {
  const members =
    memberId === ctx.leader
      ? Object.values(ctx.members).map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId ?? '',
          metadata: m.protocols.find((p) => p.name === ctx.protocol)?.metadata ?? new Uint8Array(0),
        }))
      : [];
  return {
    generationId: ctx.generation,
    protocolType: ctx.protocolType ?? '',
    protocolName: ctx.protocol ?? '',
    leader: ctx.leader ?? '',
    memberId,
    members,
  };
}

export interface JoinEnv {
  now: number;
  newMemberId: (prefix: string) => string;
}

/**
 * What a JoinGroup does. `answer`: reply now and change nothing but the pending members (a new
 * dynamic member gets its id first, KIP-394). `current`: give the machine the events, then reply
 * with the group's current generation (a rejoin that changes nothing, a static member back
 * unchanged). `rebalance`: give the machine the events and hold the reply until the rebalance
 * completes.
 */
export type JoinDecision =
  | { kind: 'answer'; response: millrace.IJoinGroupResponse; pendingMember: { memberId: string; deadline: number } }
  | { kind: 'current'; memberId: string; events: GroupEvent[] }
  | { kind: 'rebalance'; memberId: string; events: GroupEvent[]; admittedPending: boolean };

export function decideJoin(
  group: GroupView,
  req: millrace.IJoinGroupRequest,
  bounds: SessionBounds,
  pendingMembers: ReadonlyMap<string, number>,
  env: JoinEnv,
): JoinDecision {
  checkJoinRequest(req, bounds);
  const { ctx, state } = group;
  checkJoinProtocol(ctx, req);
  const sessionTimeoutMs = req.sessionTimeoutMs ?? 0;
  const instanceId = req.groupInstanceId ?? '';
  const joining = (memberId: string): JoiningMember => ({
    memberId,
    groupInstanceId: instanceId || null,
    clientId: req.clientId ?? '',
    sessionTimeoutMs,
    rebalanceTimeoutMs: (req.rebalanceTimeoutMs ?? 0) > 0 ? req.rebalanceTimeoutMs! : sessionTimeoutMs,
    protocols: (req.protocols ?? []).map((p) => ({ name: p.name ?? '', metadata: Buffer.from(p.metadata ?? []) })),
  });
  const join = (memberId: string): GroupEvent => ({
    type: 'JOIN',
    member: joining(memberId),
    protocolType: req.protocolType ?? '',
  });
  let memberId = req.memberId ?? '';
  if (!memberId && instanceId) {
    memberId = env.newMemberId(instanceId);
    const previous = Object.values(ctx.members).find((m) => m.groupInstanceId === instanceId);
    if (!previous) return { kind: 'rebalance', memberId, events: [join(memberId)], admittedPending: false };
    // A static member back under a new id takes its old place; unchanged, no rebalance (KIP-345).
    const replace: GroupEvent = { type: 'REPLACE_STATIC', oldMemberId: previous.memberId, member: joining(memberId) };
    if (state === 'Stable' && isRejoinUnchanged(ctx, joining(previous.memberId)))
      return { kind: 'current', memberId, events: [replace] };
    return { kind: 'rebalance', memberId, events: [replace, join(memberId)], admittedPending: false };
  }
  if (!memberId) {
    memberId = env.newMemberId(req.clientId || 'member');
    return {
      kind: 'answer',
      response: { ...refusal('MEMBER_ID_REQUIRED', 'join again with the member id given'), memberId },
      pendingMember: { memberId, deadline: env.now + sessionTimeoutMs },
    };
  }
  if (pendingMembers.has(memberId))
    return { kind: 'rebalance', memberId, events: [join(memberId)], admittedPending: true };
  memberOf(ctx, memberId, instanceId);
  // A follower rejoining with nothing changed gets the current generation again.
  const settled = state === 'Stable' || state === 'CompletingRebalance';
  if (settled && isRejoinUnchanged(ctx, joining(memberId)) && ctx.leader !== memberId)
    return { kind: 'current', memberId, events: [{ type: 'HEARTBEAT', memberId }] };
  return { kind: 'rebalance', memberId, events: [join(memberId)], admittedPending: false };
}

/** What a SyncGroup does: a null response is held until the leader's assignment completes the sync. */
export function decideSync(
  group: GroupView,
  req: millrace.ISyncGroupRequest,
): { events: GroupEvent[]; response: millrace.ISyncGroupResponse | null } {
  const { ctx, state } = group;
  const memberId = req.memberId ?? '';
  requireMembers(group);
  memberOf(ctx, memberId, req.groupInstanceId ?? '');
  checkGeneration(ctx, req.generationId ?? -1);
  if (state === 'PreparingRebalance')
    throw new MillraceError('REBALANCE_IN_PROGRESS', `group '${ctx.groupId}' is rebalancing: join again`);
  const events: GroupEvent[] = [{ type: 'HEARTBEAT', memberId }];
  if (state === 'Stable') return { events, response: { assignment: ctx.members[memberId]!.assignment } };
  if (memberId === ctx.leader) {
    const assignments: Record<string, Uint8Array> = {};
    for (const a of req.assignments ?? []) assignments[a.memberId ?? ''] = Buffer.from(a.assignment ?? []);
    events.push({ type: 'SYNC_LEADER', assignments });
  }
  return { events, response: null };
}

export function decideHeartbeat(
  group: GroupView,
  req: millrace.IHeartbeatRequest,
): { events: GroupEvent[]; response: millrace.IHeartbeatResponse } {
  const { ctx, state } = group;
  requireMembers(group);
  memberOf(ctx, req.memberId ?? '', req.groupInstanceId ?? '');
  checkGeneration(ctx, req.generationId ?? -1);
  const events: GroupEvent[] = [{ type: 'HEARTBEAT', memberId: req.memberId ?? '' }];
  if (state === 'PreparingRebalance')
    return { events, response: refusal('REBALANCE_IN_PROGRESS', `group '${ctx.groupId}' is rebalancing: join again`) };
  return { events, response: {} };
}

/** LeaveGroup (KIP-345 batch): the members found leave; each member named gets its own result. */
export function decideLeave(
  group: GroupView,
  req: millrace.ILeaveGroupRequest,
): { events: GroupEvent[]; left: Array<{ memberId: string; reason: string }>; response: millrace.ILeaveGroupResponse } {
  const { ctx } = group;
  requireMembers(group);
  const events: GroupEvent[] = [];
  const left: Array<{ memberId: string; reason: string }> = [];
  const members: millrace.ILeaveGroupMemberResult[] = [];
  let unknown = 0;
  for (const m of req.members ?? []) {
    const member = m.memberId
      ? ctx.members[m.memberId]
      : Object.values(ctx.members).find((x) => x.groupInstanceId === m.groupInstanceId);
    const named = { memberId: m.memberId ?? '', groupInstanceId: m.groupInstanceId ?? '' };
    if (!member || (m.groupInstanceId && member.groupInstanceId !== m.groupInstanceId)) {
      unknown++;
      members.push({ ...named, ...refusal('UNKNOWN_MEMBER_ID', 'not a member of the group') });
      continue;
    }
    members.push({ ...named, errorCode: 0 });
    left.push({ memberId: member.memberId, reason: m.reason ?? '' });
    events.push({ type: 'LEAVE', memberId: member.memberId });
  }
  const error =
    unknown > 0 ? refusal('UNKNOWN_MEMBER_ID', `${unknown} of the leaving members are not in the group`) : {};
  return { events, left, response: { ...error, members } };
}

/** DescribeGroups' view of one group. */
export function describeGroup(group: GroupView): millrace.IDescribedGroup {
  const { ctx, state } = group;
  if (state === 'Dead') return { groupId: ctx.groupId, state: 'Dead', members: [] };
  return {
    groupId: ctx.groupId,
    state,
    protocolType: ctx.protocolType ?? '',
    protocol: ctx.protocol ?? '',
    generationId: ctx.generation,
    members: Object.values(ctx.members).map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId ?? '',
      clientId: m.clientId,
      metadata: m.protocols.find((p) => p.name === ctx.protocol)?.metadata ?? new Uint8Array(0),
      assignment: m.assignment,
    })),
  };
}

function requireMembers({ ctx, state }: GroupView): void {
  if (state === 'Dead') throw new MillraceError('UNKNOWN_MEMBER_ID', `group '${ctx.groupId}' has no members`);
}
