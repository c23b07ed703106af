/**
 * Kafka's client quotas as names on the wire: the entity types a quota applies to and the quota
 * keys Millrace enforces (DescribeClientQuotas / AlterClientQuotas carry the same strings).
 */

export const QUOTA_ENTITY_TYPES = ['user', 'client-id'] as const;
export type QuotaEntityType = (typeof QUOTA_ENTITY_TYPES)[number];

export const QUOTA_KEYS = ['producer_byte_rate', 'consumer_byte_rate', 'request_percentage'] as const;
export type QuotaKey = (typeof QUOTA_KEYS)[number];

/** One part of a quota entity: a user or client id by name, or the default (name null). */
export interface QuotaEntityPart {
  entityType: QuotaEntityType;
  entityName: string | null;
}

/** DescribeClientQuotas match types. */
export const QuotaMatch = { EXACT: 0, DEFAULT: 1, ANY: 2 } as const;
