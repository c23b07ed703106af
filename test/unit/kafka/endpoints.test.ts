import { describe, expect, it } from 'vitest';
import { defaultAdvertised, formatEndpoint, parseEndpoint } from '../../../src/kafka/endpoints.js';

describe('Kafka endpoints', () => {
  it('round-trips IPv4, names and bracketed IPv6', () => {
    for (const text of ['127.0.0.1:9092', 'broker-1:19092', '[::1]:9093'])
      expect(formatEndpoint(parseEndpoint(text))).toBe(text);
  });

  it('advertises the bound address, or the host name for a wildcard bind', () => {
    expect(defaultAdvertised({ host: '127.0.0.1', port: 9092 }, 'box')).toBe('127.0.0.1:9092');
    expect(defaultAdvertised({ host: '0.0.0.0', port: 9092 }, 'broker-2')).toBe('broker-2:9092');
    expect(defaultAdvertised({ host: '::', port: 9094 }, 'broker-3')).toBe('broker-3:9094');
    expect(defaultAdvertised({ host: '::1', port: 9095 }, 'box')).toBe('[::1]:9095');
  });
});
