/**
 * Authorization as Kafka's StandardAuthorizer decides it, for both doors: a super user may do
 * anything; a DENY binding that matches wins over any ALLOW; an ALLOW of the operation (or of one
 * that implies it: READ, WRITE, DELETE and ALTER imply DESCRIBE, ALTER_CONFIGS implies
 * DESCRIBE_CONFIGS) permits; a resource no binding names at all is allowed only with
 * allow.everyone.if.no.acl.found. The decision is a pure function of the bindings; the class
 * caches decisions per ACL set, so the produce path pays a map lookup.
 */
import {
  AclOperation,
  AclPermission,
  CLUSTER_RESOURCE,
  PatternType,
  ResourceType,
  WILDCARD,
  codeName,
  WILDCARD_PRINCIPAL,
  type AclBinding,
} from '../../protocol/acl.js';
import { MillraceError } from '../../protocol/errors.js';

/** Who is asking, and from where: the principal a door authenticated, and the client's address. */
export interface Caller {
  principal: string;
  host: string;
}

/** The brokers' own requests on the NATS door: their account carries no requester identity. */
export const BROKER_PRINCIPAL = 'User:millrace-broker';
/** An unauthenticated Kafka client (a PLAINTEXT or SSL listener without a client certificate). */
export const ANONYMOUS = 'User:ANONYMOUS';

export const internalCaller: Caller = { principal: BROKER_PRINCIPAL, host: '127.0.0.1' };

export interface AuthorizerSettings {
  /** Off: every request is allowed (a cluster without security). */
  enabled: boolean;
  /** super.users: principals allowed everything. */
  superUsers: readonly string[];
  /** allow.everyone.if.no.acl.found */
  allowEveryoneIfNoAclFound: boolean;
}

const IMPLYING: ReadonlyMap<number, readonly number[]> = new Map([
  [
    AclOperation.DESCRIBE,
    [AclOperation.DESCRIBE, AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER],
  ],
  [AclOperation.DESCRIBE_CONFIGS, [AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS]],
]);

/** Whether a binding's resource pattern covers the resource `name` of `resourceType`. */
function covers(a: AclBinding, resourceType: number, name: string): boolean {
  if (a.resourceType !== resourceType) return false;
  if (a.patternType === PatternType.LITERAL) return a.resourceName === name || a.resourceName === WILDCARD;
  return a.patternType === PatternType.PREFIXED && name.startsWith(a.resourceName);
}

export function authorize(
  acls: Iterable<AclBinding>,
  settings: AuthorizerSettings,
  caller: Caller,
  operation: number,
  resourceType: number,
  name: string,
): boolean {
  if (!settings.enabled || caller.principal === BROKER_PRINCIPAL) return true;
  if (settings.superUsers.includes(caller.principal)) return true;
  let named = false;
  let allowed = false;
  const allowing = IMPLYING.get(operation) ?? [operation];
  for (const a of acls) {
    if (!covers(a, resourceType, name)) continue;
    named = true;
    if (a.principal !== caller.principal && a.principal !== WILDCARD_PRINCIPAL) continue;
    if (a.host !== WILDCARD && a.host !== caller.host) continue;
    if (a.permission === AclPermission.DENY && (a.operation === AclOperation.ALL || a.operation === operation))
      return false;
    if (a.permission === AclPermission.ALLOW && (a.operation === AclOperation.ALL || allowing.includes(a.operation)))
      allowed = true;
  }
  return allowed || (!named && settings.allowEveryoneIfNoAclFound);
}

/** Decisions on the current bindings, cached until they change. */
export class Authorizer {
  private cachedFor: ReadonlyMap<string, AclBinding> | null = null;
  private readonly cache = new Map<string, boolean>();

  constructor(
    readonly settings: AuthorizerSettings,
    private readonly acls: () => ReadonlyMap<string, AclBinding>,
  ) {}

  get enabled(): boolean {
    return this.settings.enabled;
  }

  allows(caller: Caller, operation: number, resourceType: number, name: string): boolean {
    if (!this.settings.enabled) return true;
    const acls = this.acls();
    if (acls !== this.cachedFor) {
      this.cache.clear();
      this.cachedFor = acls;
    }
    const key = `${caller.principal}\0${caller.host}\0${operation}\0${resourceType}\0${name}`;
    let decision = this.cache.get(key);
    if (decision === undefined) {
      decision = authorize(acls.values(), this.settings, caller, operation, resourceType, name);
      // Bounded: a client cycling through names cannot grow it without end.
      if (this.cache.size >= 100_000) this.cache.clear();
      this.cache.set(key, decision);
    }
    return decision;
  }
}

const verb = (operation: number): string => codeName(AclOperation, operation).toLowerCase().replaceAll('_', ' ');

/** The checks the core makes, throwing Kafka's authorization errors with what was refused. */
export class Access {
  constructor(readonly authorizer: Authorizer) {}

  topicAllowed(caller: Caller, operation: number, topic: string): boolean {
    return this.authorizer.allows(caller, operation, ResourceType.TOPIC, topic);
  }

  /** The error a refused topic operation gets. */
  topicRefusal(caller: Caller, operation: number, topic: string): MillraceError {
    return new MillraceError(
      'TOPIC_AUTHORIZATION_FAILED',
      `${caller.principal} may not ${verb(operation)} topic '${topic}': no ACL allows it`,
    );
  }

  requireTopic(caller: Caller, operation: number, topic: string): void {
    if (!this.topicAllowed(caller, operation, topic)) throw this.topicRefusal(caller, operation, topic);
  }

  requireGroup(caller: Caller, operation: number, group: string): void {
    if (!this.authorizer.allows(caller, operation, ResourceType.GROUP, group))
      throw new MillraceError(
        'GROUP_AUTHORIZATION_FAILED',
        `${caller.principal} may not ${verb(operation)} group '${group}': no ACL allows it`,
      );
  }

  requireTransactionalId(caller: Caller, operation: number, transactionalId: string): void {
    if (!this.authorizer.allows(caller, operation, ResourceType.TRANSACTIONAL_ID, transactionalId))
      throw new MillraceError(
        'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
        `${caller.principal} may not ${verb(operation)} transactional id '${transactionalId}': no ACL allows it`,
      );
  }

  clusterAllowed(caller: Caller, operation: number): boolean {
    return this.authorizer.allows(caller, operation, ResourceType.CLUSTER, CLUSTER_RESOURCE);
  }

  requireCluster(caller: Caller, operation: number): void {
    if (!this.clusterAllowed(caller, operation))
      throw new MillraceError(
        'CLUSTER_AUTHORIZATION_FAILED',
        `${caller.principal} may not ${verb(operation)} the cluster: no ACL allows it`,
      );
  }
}

/** Everything allowed: a cluster without authorization, and cores built without one. */
export const openAccess = new Access(
  new Authorizer({ enabled: false, superUsers: [], allowEveryoneIfNoAclFound: true }, () => new Map()),
);
