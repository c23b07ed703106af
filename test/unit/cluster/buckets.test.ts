import { describe, expect, it } from 'vitest';
import { jetStreamStarting } from '../../../src/cluster/buckets.js';

describe('opening the cluster buckets', () => {
  it('retries what JetStream answers while its cluster forms, and nothing else', () => {
    for (const message of [
      'TimeoutError: timeout',
      '503 no responders',
      'JetStream system temporarily unavailable',
      'insufficient resources',
      'no suitable peers for placement',
    ])
      expect(jetStreamStarting(new Error(message))).toBe(true);
    for (const message of ['stream name already in use with a different configuration', 'jetstream not enabled'])
      expect(jetStreamStarting(new Error(message))).toBe(false);
  });
});
