/**
 * The admin client's security part: ACLs in Kafka's model, SCRAM users and client quotas. Names are Kafka's
 * (TOPIC, READ, ALLOW, ...); a password is salted here and never leaves the process.
 */
import {
  AclOperation,
  AclPermission,
  PatternType,
  ResourceType,
  codeName,
  type AclBinding,
  type AclOperationName,
  type AclPermissionName,
  type PatternTypeName,
  type ResourceTypeName,
} from '../../protocol/acl.js';
import { MillraceError } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import {
  MIN_ITERATIONS,
  newSalt,
  saltedPassword,
  scramMechanismCode,
  scramMechanismOf,
  type ScramMechanism,
} from '../../protocol/scram.js';
import type { QuotaKey } from '../../protocol/quota.js';
import { wire } from '../../protocol/wire.js';
import { TransactionAdmin } from './admin-transactions.js';

/** One ACL binding. */
export interface AclEntry {
  resourceType: Exclude<ResourceTypeName, 'ANY' | 'UNKNOWN'>;
  resourceName: string;
  /** Default LITERAL ('*' as a literal name matches every resource of the type). */
  resourcePatternType?: 'LITERAL' | 'PREFIXED';
  /** TYPE:NAME, e.g. User:alice; User:* is every principal. */
  principal: string;
  /** Default '*': any host. */
  host?: string;
  operation: Exclude<AclOperationName, 'ANY' | 'UNKNOWN'>;
  permissionType: 'ALLOW' | 'DENY';
}

/** What ACLs to describe or delete: each field left out matches any; MATCH finds what applies to a resource. */
export interface AclFilter {
  resourceType?: ResourceTypeName;
  resourceName?: string;
  resourcePatternType?: PatternTypeName;
  principal?: string;
  host?: string;
  operation?: AclOperationName;
  permissionType?: AclPermissionName;
}

/** A client quota entity: a user, a client id or both; null is the default of its type. */
export interface QuotaEntity {
  user?: string | null;
  clientId?: string | null;
}

export type QuotaValues = Partial<Record<QuotaKey, number>>;

const entityParts = (e: QuotaEntity): millrace.IQuotaEntityPart[] => [
  ...(e.user !== undefined ? [{ entityType: 'user', entityName: e.user ?? '', isDefault: e.user === null }] : []),
  ...(e.clientId !== undefined
    ? [{ entityType: 'client-id', entityName: e.clientId ?? '', isDefault: e.clientId === null }]
    : []),
];

const entityOf = (parts: millrace.IQuotaEntityPart[]): QuotaEntity =>
  Object.fromEntries(
    parts.map((p) => [p.entityType === 'user' ? 'user' : 'clientId', p.isDefault ? null : (p.entityName ?? '')]),
  );

export interface ScramUser {
  user: string;
  credentials: Array<{ mechanism: ScramMechanism; iterations: number }>;
}

const toBinding = (e: AclEntry): millrace.IAclBinding => ({
  resourceType: ResourceType[e.resourceType],
  resourceName: e.resourceName,
  patternType: PatternType[e.resourcePatternType ?? 'LITERAL'],
  principal: e.principal,
  host: e.host ?? '*',
  operation: AclOperation[e.operation],
  permission: AclPermission[e.permissionType],
});

const toFilter = (f: AclFilter): millrace.IAclBinding => ({
  resourceType: ResourceType[f.resourceType ?? 'ANY'],
  resourceName: f.resourceName ?? '',
  patternType: PatternType[f.resourcePatternType ?? 'ANY'],
  principal: f.principal ?? '',
  host: f.host ?? '',
  operation: AclOperation[f.operation ?? 'ANY'],
  permission: AclPermission[f.permissionType ?? 'ANY'],
});

export const aclEntryOf = (b: millrace.IAclBinding): AclEntry => {
  const a = b as AclBinding;
  return {
    resourceType: codeName(ResourceType, a.resourceType) as AclEntry['resourceType'],
    resourceName: a.resourceName,
    resourcePatternType: a.patternType === PatternType.PREFIXED ? 'PREFIXED' : 'LITERAL',
    principal: a.principal,
    host: a.host,
    operation: codeName(AclOperation, a.operation) as AclEntry['operation'],
    permissionType: codeName(AclPermission, a.permission) as AclEntry['permissionType'],
  };
};

export class SecurityAdmin extends TransactionAdmin {
  /** Creates ACLs (creating one that exists changes nothing); throws the first refusal. */
  async createAcls(options: { acl: AclEntry[] }): Promise<void> {
    const res = await this.call(
      'create_acls',
      wire.CreateAclsRequest,
      { creations: options.acl.map(toBinding) },
      wire.CreateAclsResponse,
    );
    const failed = res.results.findIndex((r) => r.errorCode !== 0);
    if (failed >= 0)
      throw MillraceError.fromCode(
        res.results[failed]!.errorCode,
        `ACL ${failed} (${options.acl[failed]!.principal} ${options.acl[failed]!.operation}): ${res.results[failed]!.errorMessage}`,
      );
  }

  async describeAcls(filter: AclFilter = {}): Promise<AclEntry[]> {
    const res = await this.call(
      'describe_acls',
      wire.DescribeAclsRequest,
      { filter: toFilter(filter) },
      wire.DescribeAclsResponse,
    );
    return res.acls.map(aclEntryOf);
  }

  /** Deletes every ACL each filter matches; returns the deleted ones, per filter. */
  async deleteAcls(options: { filters: AclFilter[] }): Promise<AclEntry[][]> {
    const res = await this.call(
      'delete_acls',
      wire.DeleteAclsRequest,
      { filters: options.filters.map(toFilter) },
      wire.DeleteAclsResponse,
    );
    return res.results.map((r) => r.matching.map(aclEntryOf));
  }

  /**
   * Creates or changes users' SCRAM credentials (the password is salted here, with `iterations`,
   * default 4096) and deletes others. Throws the first user's refusal.
   */
  async alterUserScramCredentials(options: {
    upsertions?: Array<{ user: string; password: string; mechanism?: ScramMechanism; iterations?: number }>;
    deletions?: Array<{ user: string; mechanism?: ScramMechanism }>;
  }): Promise<void> {
    const upsertions = (options.upsertions ?? []).map((u) => {
      const mechanism = u.mechanism ?? 'SCRAM-SHA-256';
      const iterations = u.iterations ?? MIN_ITERATIONS;
      const salt = newSalt();
      return {
        user: u.user,
        mechanism: scramMechanismCode[mechanism],
        iterations,
        salt,
        saltedPassword: saltedPassword(mechanism, u.password, salt, iterations),
      };
    });
    const deletions = (options.deletions ?? []).map((d) => ({
      user: d.user,
      mechanism: scramMechanismCode[d.mechanism ?? 'SCRAM-SHA-256'],
    }));
    const res = await this.call(
      'alter_user_scram',
      wire.AlterScramRequest,
      { upsertions, deletions },
      wire.AlterScramResponse,
    );
    const failed = res.results.find((r) => r.errorCode !== 0);
    if (failed) throw MillraceError.fromCode(failed.errorCode, `user '${failed.user}': ${failed.errorMessage}`);
  }

  /**
   * Sets or removes client quotas (producer_byte_rate and consumer_byte_rate in bytes/s,
   * request_percentage in percent of one request handler). Throws the first entity's refusal.
   */
  async alterClientQuotas(
    entries: Array<{ entity: QuotaEntity; set?: QuotaValues; remove?: QuotaKey[] }>,
    options: { validateOnly?: boolean } = {},
  ): Promise<void> {
    const res = await this.call(
      'alter_client_quotas',
      wire.AlterQuotasRequest,
      {
        entries: entries.map((e) => ({
          entity: entityParts(e.entity),
          ops: [
            ...Object.entries(e.set ?? {}).map(([key, value]) => ({ key, value })),
            ...(e.remove ?? []).map((key) => ({ key, remove: true })),
          ],
        })),
        validateOnly: options.validateOnly ?? false,
      },
      wire.AlterQuotasResponse,
    );
    const failed = res.results.find((r) => r.errorCode !== 0);
    if (failed) throw MillraceError.fromCode(failed.errorCode, failed.errorMessage);
  }

  /** The quotas of the entities that match (a part left out matches any; null: the default). */
  async describeClientQuotas(
    filter: QuotaEntity & { strict?: boolean } = {},
  ): Promise<Array<{ entity: QuotaEntity; values: QuotaValues }>> {
    const component = (entityType: string, name: string | null | undefined) =>
      name === undefined ? [] : [{ entityType, matchType: name === null ? 1 : 0, match: name ?? '' }];
    const res = await this.call(
      'describe_client_quotas',
      wire.DescribeQuotasRequest,
      {
        components: [...component('user', filter.user), ...component('client-id', filter.clientId)],
        strict: filter.strict ?? false,
      },
      wire.DescribeQuotasResponse,
    );
    return res.entries.map((e) => ({
      entity: entityOf(e.entity),
      values: Object.fromEntries(e.values.map((v) => [v.key, v.value])) as QuotaValues,
    }));
  }

  /** Users' SCRAM mechanisms and iterations (every user's when none is named). */
  async describeUserScramCredentials(users: string[] = []): Promise<ScramUser[]> {
    const res = await this.call(
      'describe_user_scram',
      wire.DescribeScramRequest,
      { users },
      wire.DescribeScramResponse,
    );
    const failed = res.results.find((r) => r.errorCode !== 0);
    if (failed) throw MillraceError.fromCode(failed.errorCode, failed.errorMessage);
    return res.results.map((r) => ({
      user: r.user,
      credentials: r.credentials.map((c) => ({ mechanism: scramMechanismOf(c.mechanism)!, iterations: c.iterations })),
    }));
  }
}
