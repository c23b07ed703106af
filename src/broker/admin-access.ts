/**
 * Authorization of the admin requests a broker forwards to the controller: the topics the caller
 * may not touch are taken out of the request and answered here with TOPIC_AUTHORIZATION_FAILED,
 * as Kafka answers them per topic; cluster-wide operations need their cluster permission.
 */
import { AclOperation } from '../../protocol/acl.js';
import { MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import type { Access, Caller } from './authorizer.js';
import { OFFSETS_TOPIC } from './group/coordinator.js';
import type { AdminApi } from './handlers.js';

export interface Guarded<Req> {
  /** The request with only the topics the caller may touch (null: nothing is left to forward). */
  request: Req | null;
  /** A result for each topic refused. */
  denied: millrace.ITopicResult[];
}

const TOPIC_OPERATION: Partial<Record<AdminApi, number>> = {
  create_topics: AclOperation.CREATE,
  delete_topics: AclOperation.DELETE,
  create_partitions: AclOperation.ALTER,
  alter_configs: AclOperation.ALTER_CONFIGS,
};

/** The topics a request names, and the request rebuilt with some of them. */
function topicsOf(name: AdminApi, request: unknown): { names: string[]; keep: (kept: Set<string>) => unknown } {
  switch (name) {
    case 'create_topics': {
      const r = request as millrace.ICreateTopicsRequest;
      const names = (r.topics ?? []).map((t) => t.name ?? '');
      return { names, keep: (k) => ({ ...r, topics: (r.topics ?? []).filter((t) => k.has(t.name ?? '')) }) };
    }
    case 'delete_topics': {
      const r = request as millrace.IDeleteTopicsRequest;
      const names = (r.topics ?? []).map(String);
      return { names, keep: (k) => ({ ...r, topics: names.filter((t) => k.has(t)) }) };
    }
    case 'create_partitions': {
      const r = request as millrace.ICreatePartitionsRequest;
      const names = (r.topics ?? []).map((t) => t.name ?? '');
      return { names, keep: (k) => ({ ...r, topics: (r.topics ?? []).filter((t) => k.has(t.name ?? '')) }) };
    }
    case 'alter_configs': {
      const r = request as millrace.IAlterConfigsRequest;
      const names = (r.topics ?? []).map((t) => t.topic ?? '');
      return { names, keep: (k) => ({ ...r, topics: (r.topics ?? []).filter((t) => k.has(t.topic ?? '')) }) };
    }
    default:
      return { names: [], keep: () => request };
  }
}

export function guardAdmin<Req>(access: Access, caller: Caller, name: AdminApi, request: Req): Guarded<Req> {
  const { names, keep } = topicsOf(name, request);
  if (name === 'create_topics' || name === 'delete_topics') {
    if (names.includes(OFFSETS_TOPIC))
      throw new MillraceError('INVALID_REQUEST', `${OFFSETS_TOPIC} is internal: the brokers manage it`);
  }
  const op = TOPIC_OPERATION[name];
  if (op === undefined) {
    access.requireCluster(caller, AclOperation.ALTER);
    return { request, denied: [] };
  }
  // CREATE on the cluster allows creating any topic (Kafka's rule).
  if (name === 'create_topics' && access.clusterAllowed(caller, AclOperation.CREATE)) return { request, denied: [] };
  const kept = new Set(names.filter((t) => access.topicAllowed(caller, op, t)));
  if (kept.size === names.length) return { request, denied: [] };
  const denied = names
    .filter((t) => !kept.has(t))
    .map((t) => ({ name: t, ...errorFields(access.topicRefusal(caller, op, t)) }));
  return { request: kept.size ? (keep(kept) as Req) : null, denied };
}
