import { describe, expect, it } from 'vitest';
import { ClientQuotas, SampledRate } from '../../../src/broker/client-quotas.js';
import { alterQuotas, describeQuotas, quotaFor } from '../../../src/cluster/quota-control.js';
import { emptyImage, replayAll, type MetadataImage } from '../../../src/cluster/image.js';
import { ErrorCodes } from '../../../protocol/errors.js';

const part = (entityType: string, name: string | null) => ({
  entityType,
  entityName: name ?? '',
  isDefault: name === null,
});

function imageWith(
  ...entries: Array<{ entity: ReturnType<typeof part>[]; set: Record<string, number> }>
): MetadataImage {
  const res = alterQuotas(emptyImage, {
    entries: entries.map((e) => ({
      entity: e.entity,
      ops: Object.entries(e.set).map(([key, value]) => ({ key, value })),
    })),
  });
  expect(res.response.results!.every((r) => r.errorCode === 0)).toBe(true);
  return replayAll(emptyImage, res.records, 1);
}

describe('quota control', () => {
  it('stores, describes and removes quotas; refuses unknown keys, bad values and bad entities', () => {
    const image = imageWith(
      { entity: [part('user', 'alice')], set: { producer_byte_rate: 1000 } },
      { entity: [part('client-id', null), part('user', null)], set: { consumer_byte_rate: 5000 } },
    );
    expect(describeQuotas(image, { components: [] })).toHaveLength(2);
    expect(
      describeQuotas(image, { components: [{ entityType: 'user', matchType: 0, match: 'alice' }], strict: true }),
    ).toEqual([{ entity: [part('user', 'alice')], values: [{ key: 'producer_byte_rate', value: 1000 }] }]);
    expect(describeQuotas(image, { components: [{ entityType: 'user', matchType: 1 }], strict: true })).toEqual([]);
    expect(describeQuotas(image, { components: [{ entityType: 'user', matchType: 1 }] })).toHaveLength(1);
    const bad = alterQuotas(image, {
      entries: [
        { entity: [part('user', 'x')], ops: [{ key: 'bogus_rate', value: 1 }] },
        { entity: [part('user', 'x')], ops: [{ key: 'producer_byte_rate', value: -5 }] },
        { entity: [part('group', 'x')], ops: [{ key: 'producer_byte_rate', value: 1 }] },
        { entity: [], ops: [] },
      ],
    });
    expect(bad.records).toEqual([]);
    expect(bad.response.results!.map((r) => r.errorCode)).toEqual(Array(4).fill(ErrorCodes.INVALID_REQUEST.code));
    const removed = alterQuotas(image, {
      entries: [{ entity: [part('user', 'alice')], ops: [{ key: 'producer_byte_rate', remove: true }] }],
    });
    expect(replayAll(image, removed.records, 10).quotas.size).toBe(1);
  });

  it("resolves a client's quota in Kafka's order of precedence, sharing a user quota among its clients", () => {
    const image = imageWith(
      { entity: [part('user', null)], set: { producer_byte_rate: 100 } },
      { entity: [part('user', 'alice')], set: { producer_byte_rate: 200 } },
      { entity: [part('user', 'alice'), part('client-id', 'etl')], set: { producer_byte_rate: 300 } },
      { entity: [part('client-id', 'tool')], set: { producer_byte_rate: 400 } },
    );
    const q = (user: string, client: string) => quotaFor(image.quotas, user, client, 'producer_byte_rate');
    expect(q('alice', 'etl')!.bound).toBe(300);
    expect(q('alice', 'web')!.bound).toBe(200);
    expect(q('alice', 'web')!.bucket).toBe(q('alice', 'app')!.bucket);
    expect(q('bob', 'tool')!.bound).toBe(100); // the default user comes before a client id alone
    expect(q('bob', 'x')!.bucket).not.toBe(q('carol', 'x')!.bucket); // the default user: one rate per user
    expect(quotaFor(image.quotas, 'alice', 'etl', 'consumer_byte_rate')).toBeNull();
  });
});

describe('client quota enforcement (simulated clock)', () => {
  it('measures a rate over whole windows, at least windows - 1 of them', () => {
    const rate = new SampledRate({ windows: 11, windowMs: 1000 }, 0);
    rate.record(10_000, 0);
    expect(rate.measure(0)).toEqual({ perSecond: 1000, spanMs: 10_000 });
    rate.record(10_000, 20_000);
    expect(rate.measure(20_000).perSecond).toBe(1000); // the first sample has aged out
  });

  it('throttles a client over its quota in proportion, at most the quota window, and not once the rate falls', () => {
    let now = 0;
    const image = imageWith({ entity: [part('user', 'alice')], set: { producer_byte_rate: 1000 } });
    const quotas = new ClientQuotas(
      () => image.quotas,
      { windows: 11, windowMs: 1000 },
      () => now,
    );
    expect(quotas.record('producer_byte_rate', 'alice', 'c', 5_000)).toBe(0); // 500 B/s
    expect(quotas.record('producer_byte_rate', 'alice', 'c', 10_000)).toBe(5_000); // 1500 B/s: half over, x10 s
    expect(quotas.record('producer_byte_rate', 'alice', 'c', 1_000_000)).toBe(11_000); // capped
    expect(quotas.record('producer_byte_rate', 'bob', 'c', 1_000_000)).toBe(0); // no quota
    now = 30_000;
    expect(quotas.record('producer_byte_rate', 'alice', 'c', 100)).toBe(0);
  });

  it('counts request_percentage as handler time: 1 percent is 10 ms per second', () => {
    const now = 0;
    const image = imageWith({ entity: [part('client-id', null)], set: { request_percentage: 10 } });
    const quotas = new ClientQuotas(
      () => image.quotas,
      { windows: 11, windowMs: 1000 },
      () => now,
    );
    expect(quotas.record('request_percentage', 'u', 'c', 1_000)).toBe(0); // 100 ms/s = 10 %
    expect(quotas.record('request_percentage', 'u', 'c', 1_000)).toBe(10_000); // 20 %: double, x10 s
  });
});
