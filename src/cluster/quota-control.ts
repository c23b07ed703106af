/**
 * Client quotas in the metadata log, as Kafka's ClientQuotaControlManager: one record per entity
 * (user, client id, or both; a part may be the default of its type) with its quota values; and
 * the lookup every broker makes, in Kafka's order of precedence. Pure functions of the image.
 */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { QUOTA_ENTITY_TYPES, QUOTA_KEYS, QuotaMatch, type QuotaKey } from '../../protocol/quota.js';
import type { MetadataImage } from './image.js';
import { del, keys, put, type MetadataRecord, type QuotaRecord } from './records.js';
import type { ControlResult } from './replication-control.js';

type Entity = QuotaRecord['entity'];

/** An entity from the wire, validated and in its stored order (user before client-id). */
export function entityOf(parts: readonly millrace.IQuotaEntityPart[]): Entity {
  const entity = parts.map((p) => {
    const entityType = p.entityType ?? '';
    if (!(QUOTA_ENTITY_TYPES as readonly string[]).includes(entityType))
      throw new MillraceError('INVALID_REQUEST', `quota entity type '${entityType}' is not user or client-id`);
    if (!p.isDefault && !p.entityName)
      throw new MillraceError('INVALID_REQUEST', `a ${entityType} quota entity needs a name, or the default`);
    return { entityType: entityType as Entity[number]['entityType'], entityName: p.isDefault ? null : p.entityName! };
  });
  if (entity.length === 0) throw new MillraceError('INVALID_REQUEST', 'a quota entity needs a user or a client-id');
  if (new Set(entity.map((e) => e.entityType)).size !== entity.length)
    throw new MillraceError('INVALID_REQUEST', 'a quota entity names each type once');
  return entity.sort((a, b) => a.entityType.localeCompare(b.entityType)).reverse();
}

export const entityParts = (entity: Entity): millrace.IQuotaEntityPart[] =>
  entity.map((e) => ({ entityType: e.entityType, entityName: e.entityName ?? '', isDefault: e.entityName === null }));

export function alterQuotas(
  image: MetadataImage,
  req: millrace.IAlterQuotasRequest,
): ControlResult<millrace.IAlterQuotasResponse> {
  const records: MetadataRecord[] = [];
  const results = (req.entries ?? []).map((e) => {
    try {
      const entity = entityOf(e.entity ?? []);
      const key = keys.quota(entity);
      const values: Partial<Record<QuotaKey, number>> = { ...image.quotas.get(key)?.values };
      for (const op of e.ops ?? []) {
        const name = op.key ?? '';
        if (!(QUOTA_KEYS as readonly string[]).includes(name))
          throw new MillraceError('INVALID_REQUEST', `quota '${name}' is not one of ${QUOTA_KEYS.join(', ')}`);
        if (op.remove) delete values[name as QuotaKey];
        else {
          const value = op.value ?? 0;
          if (!Number.isFinite(value) || value <= 0)
            throw new MillraceError('INVALID_REQUEST', `quota ${name} must be a positive number, got ${value}`);
          values[name as QuotaKey] = value;
        }
      }
      if (!req.validateOnly) records.push(Object.keys(values).length ? put(key, { entity, values }) : del(key));
      return { errorCode: 0, entity: entityParts(entity) };
    } catch (err) {
      return { ...errorFields(err), entity: e.entity ?? [] };
    }
  });
  return { records: req.validateOnly ? [] : records, response: { results }, elections: [] };
}

/** DescribeClientQuotas: the entities every component matches (strict: and no other parts). */
export function describeQuotas(image: MetadataImage, req: millrace.IDescribeQuotasRequest): millrace.IQuotaEntry[] {
  const components = req.components ?? [];
  return [...image.quotas.values()]
    .filter((r) => {
      if (req.strict && r.entity.length !== components.length) return false;
      return components.every((c) => {
        const part = r.entity.find((e) => e.entityType === c.entityType);
        if (!part) return false;
        if (c.matchType === QuotaMatch.DEFAULT) return part.entityName === null;
        if (c.matchType === QuotaMatch.ANY) return true;
        return part.entityName === (c.match ?? '');
      });
    })
    .map((r) => ({
      entity: entityParts(r.entity),
      values: Object.entries(r.values).map(([key, value]) => ({ key, value })),
    }));
}

/**
 * The quota `key` of a user and client id, in Kafka's order (user and client, user and default
 * client, user, default user and client, default user and default client, default user, client,
 * default client); with the entity it came from, its defaults filled in with the names: clients
 * sharing that entity share one rate.
 */
export function quotaFor(
  quotas: ReadonlyMap<string, QuotaRecord>,
  user: string,
  clientId: string,
  key: QuotaKey,
): { bound: number; bucket: string } | null {
  const U = (name: string | null) => ({ entityType: 'user' as const, entityName: name });
  const C = (name: string | null) => ({ entityType: 'client-id' as const, entityName: name });
  const order: Entity[] = [
    [U(user), C(clientId)],
    [U(user), C(null)],
    [U(user)],
    [U(null), C(clientId)],
    [U(null), C(null)],
    [U(null)],
    [C(clientId)],
    [C(null)],
  ];
  for (const entity of order) {
    const bound = quotas.get(keys.quota(entity))?.values[key];
    if (bound === undefined) continue;
    const named = entity.map((e) => (e.entityType === 'user' ? user : clientId));
    return { bound, bucket: `${entity.map((e) => e.entityType).join('+')}:${named.join('\0')}` };
  }
  return null;
}
