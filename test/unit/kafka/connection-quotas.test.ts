import { describe, expect, it } from 'vitest';
import { ConnectionQuotas, parseIpOverrides } from '../../../src/kafka/connection-quotas.js';

describe('Kafka connection limits', () => {
  it('admits up to the per-address limit, with overrides, and up to the total', () => {
    const q = new ConnectionQuotas({
      maxConnections: 4,
      maxConnectionsPerIp: 2,
      perIpOverrides: parseIpOverrides('10.0.0.9:3, [::1]:0'),
    });
    expect(q.admit('10.0.0.1')).toEqual({ admitted: true });
    expect(q.admit('10.0.0.1')).toEqual({ admitted: true });
    expect(q.admit('10.0.0.1')).toEqual({ admitted: false, reason: 'max_connections_per_ip', limit: 2 });
    expect(q.admit('::1')).toEqual({ admitted: false, reason: 'max_connections_per_ip', limit: 0 });
    expect(q.admit('10.0.0.9')).toEqual({ admitted: true });
    expect(q.admit('10.0.0.9')).toEqual({ admitted: true });
    expect(q.admit('10.0.0.9')).toEqual({ admitted: false, reason: 'max_connections', limit: 4 });
    q.release('10.0.0.1');
    expect(q.admit('10.0.0.9')).toEqual({ admitted: true });
    expect(q.admit('10.0.0.1')).toEqual({ admitted: false, reason: 'max_connections', limit: 4 });
  });

  it("parses Kafka's override format and refuses what is not host:count", () => {
    expect([...parseIpOverrides('a.example:10,127.0.0.1:200,[::1]:5')]).toEqual([
      ['a.example', 10],
      ['127.0.0.1', 200],
      ['::1', 5],
    ]);
    expect(parseIpOverrides('')).toEqual(new Map());
    expect(() => parseIpOverrides('127.0.0.1')).toThrow(/host:count/);
    expect(() => parseIpOverrides('h:-1')).toThrow(/host:count/);
  });
});
