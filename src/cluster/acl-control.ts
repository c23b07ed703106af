/**
 * ACLs in the metadata log, as Kafka's AclControlManager: each binding is one record whose key is
 * a digest of the binding, so creating one twice writes the same record (Kafka keeps identical
 * ACLs once). The controller cores here validate creations and match filters for deletions;
 * they are pure functions of the image and the request.
 */
import { createHash } from 'node:crypto';
import {
  AclOperation,
  AclPermission,
  PatternType,
  ResourceType,
  CLUSTER_RESOURCE,
  WILDCARD,
  type AclBinding,
} from '../../protocol/acl.js';
import { MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import type { MetadataImage } from './image.js';
import { del, put, type MetadataRecord } from './records.js';
import type { ControlResult } from './replication-control.js';

export const aclKey = (a: AclBinding): string =>
  `acl.${createHash('sha256')
    .update(
      JSON.stringify([a.resourceType, a.resourceName, a.patternType, a.principal, a.host, a.operation, a.permission]),
    )
    .digest('hex')
    .slice(0, 40)}`;

/** A binding (or filter) from the wire, every field present. */
export const aclOf = (a: millrace.IAclBinding | null | undefined): AclBinding => ({
  resourceType: a?.resourceType ?? 0,
  resourceName: a?.resourceName ?? '',
  patternType: a?.patternType ?? 0,
  principal: a?.principal ?? '',
  host: a?.host ?? '',
  operation: a?.operation ?? 0,
  permission: a?.permission ?? 0,
});

const concrete = (code: number, table: Record<string, number>, what: string): void => {
  const valid = Object.values(table).filter((c) => c > 1 && !(table === PatternType && c === PatternType.MATCH));
  if (!valid.includes(code)) throw new MillraceError('INVALID_REQUEST', `${what} ${code} is not one an ACL can have`);
};

/** Checks a binding to create: every field concrete, as Kafka's CreateAcls requires. */
export function validateAcl(a: AclBinding): void {
  concrete(a.resourceType, ResourceType, 'resource type');
  concrete(a.patternType, PatternType, 'pattern type');
  concrete(a.operation, AclOperation, 'operation');
  concrete(a.permission, AclPermission, 'permission');
  if (!a.resourceName) throw new MillraceError('INVALID_REQUEST', 'an ACL needs a resource name');
  if (a.resourceType === ResourceType.CLUSTER && a.resourceName !== CLUSTER_RESOURCE)
    throw new MillraceError('INVALID_REQUEST', `the cluster resource is named '${CLUSTER_RESOURCE}'`);
  if (a.patternType === PatternType.PREFIXED && a.resourceName === WILDCARD)
    throw new MillraceError('INVALID_REQUEST', "a prefixed pattern cannot be '*': use a literal '*'");
  if (!/^[A-Za-z]+:.+$/.test(a.principal))
    throw new MillraceError('INVALID_REQUEST', `principal '${a.principal}' is not TYPE:NAME (e.g. User:alice)`);
  if (!a.host) throw new MillraceError('INVALID_REQUEST', "an ACL needs a host ('*' for any)");
}

/**
 * A filter as DescribeAcls and DeleteAcls take it: codes ANY (or 0) and an empty name, principal
 * or host match everything; pattern MATCH matches the bindings that would apply to the named
 * resource (literal, wildcard and prefixes of it).
 */
export function matchesFilter(a: AclBinding, f: AclBinding): boolean {
  const any = (code: number) => code === 0 || code === 1;
  if (!any(f.resourceType) && f.resourceType !== a.resourceType) return false;
  if (!any(f.operation) && f.operation !== a.operation) return false;
  if (!any(f.permission) && f.permission !== a.permission) return false;
  if (f.principal && f.principal !== a.principal) return false;
  if (f.host && f.host !== a.host) return false;
  if (f.patternType === PatternType.MATCH) {
    if (!f.resourceName) return true;
    if (a.patternType === PatternType.LITERAL) return a.resourceName === f.resourceName || a.resourceName === WILDCARD;
    return a.patternType === PatternType.PREFIXED && f.resourceName.startsWith(a.resourceName);
  }
  if (!any(f.patternType) && f.patternType !== a.patternType) return false;
  return !f.resourceName || f.resourceName === a.resourceName;
}

export function createAcls(
  image: MetadataImage,
  creations: readonly AclBinding[],
): ControlResult<{ results: Array<{ errorCode: number; errorMessage: string }> }> {
  const records: MetadataRecord[] = [];
  const results = creations.map((a) => {
    try {
      validateAcl(a);
      const key = aclKey(a);
      if (!image.acls.has(key)) records.push(put(key, { ...a }));
      return { errorCode: 0, errorMessage: '' };
    } catch (err) {
      return errorFields(err);
    }
  });
  return { records, response: { results }, elections: [] };
}

export function deleteAcls(
  image: MetadataImage,
  filters: readonly AclBinding[],
): ControlResult<{ results: Array<{ errorCode: number; errorMessage: string; matching: AclBinding[] }> }> {
  const deleted = new Set<string>();
  const records: MetadataRecord[] = [];
  const results = filters.map((f) => {
    const matching: AclBinding[] = [];
    for (const [key, a] of image.acls) {
      if (!matchesFilter(a, f)) continue;
      matching.push(a);
      if (!deleted.has(key)) records.push(del(key));
      deleted.add(key);
    }
    return { errorCode: 0, errorMessage: '', matching };
  });
  return { records, response: { results }, elections: [] };
}

export function describeAcls(image: MetadataImage, filter: AclBinding): AclBinding[] {
  return [...image.acls.values()].filter((a) => matchesFilter(a, filter));
}
