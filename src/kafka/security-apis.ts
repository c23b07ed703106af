/** CreateAcls, DescribeAcls, DeleteAcls, the SCRAM credential and the client quota APIs on the Kafka door, onto the core's SecurityApis. */
import { AclOperation, AclPermission, PatternType, ResourceType } from '../../protocol/acl.js';
import { errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { apis } from '../../protocol/kafka/index.js';
import type { DoorContext, Routes } from './door.js';

interface KafkaAclFilter {
  resourceTypeFilter: number;
  resourceNameFilter: string | null;
  patternTypeFilter: number;
  principalFilter: string | null;
  hostFilter: string | null;
  operation: number;
  permissionType: number;
}

/** Kafka's nulls ("any") as the core's empty strings. */
const filterOf = (f: KafkaAclFilter): millrace.IAclBinding => ({
  resourceType: f.resourceTypeFilter,
  resourceName: f.resourceNameFilter ?? '',
  patternType: f.patternTypeFilter,
  principal: f.principalFilter ?? '',
  host: f.hostFilter ?? '',
  operation: f.operation,
  permission: f.permissionType,
});

/** DescribeAcls groups bindings by resource. */
function byResource(acls: millrace.IAclBinding[]) {
  const groups = new Map<string, { resourceType: number; resourceName: string; patternType: number; acls: object[] }>();
  for (const a of acls) {
    const key = `${a.resourceType}\0${a.patternType}\0${a.resourceName}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        resourceType: a.resourceType ?? ResourceType.UNKNOWN,
        resourceName: a.resourceName ?? '',
        patternType: a.patternType ?? PatternType.LITERAL,
        acls: [],
      };
      groups.set(key, g);
    }
    g.acls.push({
      principal: a.principal ?? '',
      host: a.host ?? '',
      operation: a.operation ?? AclOperation.UNKNOWN,
      permissionType: a.permission ?? AclPermission.UNKNOWN,
    });
  }
  return [...groups.values()];
}

export function securityApis(routes: Routes, ctx: DoorContext): void {
  const core = ctx.handlers.security;

  routes.add(apis.CreateAcls, async (req, _v, _h, { caller }) => {
    try {
      const res = await core.createAcls(
        {
          creations: req.creations.map((c) => ({
            resourceType: c.resourceType,
            resourceName: c.resourceName,
            patternType: c.resourcePatternType,
            principal: c.principal,
            host: c.host,
            operation: c.operation,
            permission: c.permissionType,
          })),
        },
        caller,
      );
      return {
        results: res.results.map((r) => ({ errorCode: r.errorCode, errorMessage: r.errorMessage || null })),
      };
    } catch (err) {
      return { results: req.creations.map(() => errorFields(err)) };
    }
  });

  routes.add(apis.DescribeAcls, (req, _v, _h, { caller }) => {
    try {
      return { resources: byResource(core.describeAcls({ filter: filterOf(req) }, caller).acls ?? []) };
    } catch (err) {
      return { ...errorFields(err), resources: [] };
    }
  });

  routes.add(apis.DeleteAcls, async (req, _v, _h, { caller }) => {
    try {
      const res = await core.deleteAcls({ filters: req.filters.map(filterOf) }, caller);
      return {
        filterResults: res.results.map((r) => ({
          errorCode: r.errorCode,
          errorMessage: r.errorMessage || null,
          matchingAcls: r.matching.map((a) => ({
            errorCode: 0,
            resourceType: a.resourceType,
            resourceName: a.resourceName,
            patternType: a.patternType,
            principal: a.principal,
            host: a.host,
            operation: a.operation,
            permissionType: a.permission,
          })),
        })),
      };
    } catch (err) {
      return { filterResults: req.filters.map(() => ({ ...errorFields(err), matchingAcls: [] })) };
    }
  });

  routes.add(apis.DescribeUserScramCredentials, (req, _v, _h, { caller }) => {
    try {
      const res = core.describeScram({ users: (req.users ?? []).map((u) => u.name) }, caller);
      return {
        results: (res.results ?? []).map((r) => ({
          user: r.user ?? '',
          errorCode: r.errorCode ?? 0,
          errorMessage: r.errorMessage || null,
          credentialInfos: (r.credentials ?? []).map((c) => ({
            mechanism: c.mechanism ?? 0,
            iterations: c.iterations ?? 0,
          })),
        })),
      };
    } catch (err) {
      return { ...errorFields(err), results: [] };
    }
  });

  // Kafka's null entity name is the default of its type.
  const toParts = (entity: Array<{ entityType: string; entityName: string | null }>) =>
    entity.map((e) => ({ entityType: e.entityType, entityName: e.entityName ?? '', isDefault: e.entityName === null }));
  const fromParts = (parts: millrace.IQuotaEntityPart[]) =>
    parts.map((p) => ({ entityType: p.entityType ?? '', entityName: p.isDefault ? null : (p.entityName ?? '') }));

  routes.add(apis.DescribeClientQuotas, (req, _v, _h, { caller }) => {
    try {
      const res = core.describeQuotas(
        {
          components: req.components.map((c) => ({
            entityType: c.entityType,
            matchType: c.matchType,
            match: c.match ?? '',
          })),
          strict: req.strict,
        },
        caller,
      );
      return {
        entries: (res.entries ?? []).map((e) => ({
          entity: fromParts(e.entity ?? []),
          values: (e.values ?? []).map((v) => ({ key: v.key ?? '', value: v.value ?? 0 })),
        })),
      };
    } catch (err) {
      return { ...errorFields(err), entries: null };
    }
  });

  routes.add(apis.AlterClientQuotas, async (req, _v, _h, { caller }) => {
    try {
      const res = await core.alterQuotas(
        {
          entries: req.entries.map((e) => ({ entity: toParts(e.entity), ops: e.ops })),
          validateOnly: req.validateOnly,
        },
        caller,
      );
      return {
        entries: res.results.map((r, i) => ({
          errorCode: r.errorCode,
          errorMessage: r.errorMessage || null,
          entity: req.entries[i]!.entity,
        })),
      };
    } catch (err) {
      return { entries: req.entries.map((e) => ({ ...errorFields(err), entity: e.entity })) };
    }
  });

  routes.add(apis.AlterUserScramCredentials, async (req, _v, _h, { caller }) => {
    try {
      const res = await core.alterScram(
        {
          deletions: req.deletions.map((d) => ({ user: d.name, mechanism: d.mechanism })),
          upsertions: req.upsertions.map((u) => ({
            user: u.name,
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt,
            saltedPassword: u.saltedPassword,
          })),
        },
        caller,
      );
      return {
        results: res.results.map((r) => ({
          user: r.user,
          errorCode: r.errorCode,
          errorMessage: r.errorMessage || null,
        })),
      };
    } catch (err) {
      const users = new Set([...req.deletions, ...req.upsertions].map((x) => x.name));
      return { results: [...users].map((user) => ({ user, ...errorFields(err) })) };
    }
  });
}
