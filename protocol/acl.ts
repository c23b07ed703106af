/**
 * Kafka's ACL model as codes on the wire (both doors carry the same numbers Kafka's
 * CreateAcls/DescribeAcls/DeleteAcls do): resource types, pattern types, operations and
 * permission types, with their names for the CLI and the logs.
 */

export const ResourceType = {
  UNKNOWN: 0,
  ANY: 1,
  TOPIC: 2,
  GROUP: 3,
  CLUSTER: 4,
  TRANSACTIONAL_ID: 5,
  DELEGATION_TOKEN: 6,
  USER: 7,
} as const;
export type ResourceTypeName = keyof typeof ResourceType;

export const PatternType = { UNKNOWN: 0, ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;
export type PatternTypeName = keyof typeof PatternType;

export const AclOperation = {
  UNKNOWN: 0,
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
  CREATE_TOKENS: 13,
  DESCRIBE_TOKENS: 14,
} as const;
export type AclOperationName = keyof typeof AclOperation;

export const AclPermission = { UNKNOWN: 0, ANY: 1, DENY: 2, ALLOW: 3 } as const;
export type AclPermissionName = keyof typeof AclPermission;

/** The cluster resource's one name, as Kafka's. */
export const CLUSTER_RESOURCE = 'kafka-cluster';
/** Literal name (or principal, or host) matching every one. */
export const WILDCARD = '*';
export const WILDCARD_PRINCIPAL = 'User:*';

/** One ACL: who may (or may not) do what to which resources, from where. */
export interface AclBinding {
  resourceType: number;
  resourceName: string;
  patternType: number;
  principal: string;
  host: string;
  operation: number;
  permission: number;
}

/** The name of a code in one of the enums above ('UNKNOWN(n)' for a code it does not have). */
export function codeName(table: Readonly<Record<string, number>>, code: number): string {
  for (const [name, c] of Object.entries(table)) if (c === code) return name;
  return `UNKNOWN(${code})`;
}

/** The code of a name in one of the enums above, case and '-' insensitive; undefined if none. */
export function codeOf(table: Readonly<Record<string, number>>, name: string): number | undefined {
  return table[name.toUpperCase().replaceAll('-', '_')];
}

export function describeAcl(a: AclBinding): string {
  const pattern = a.patternType === PatternType.PREFIXED ? ' (prefixed)' : '';
  return (
    `${a.principal} ${codeName(AclPermission, a.permission)} ${codeName(AclOperation, a.operation)} ` +
    `on ${codeName(ResourceType, a.resourceType)} '${a.resourceName}'${pattern} from ${a.host}`
  );
}
