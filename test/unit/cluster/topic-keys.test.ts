import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { topicNameProblem } from '../../../protocol/topics.js';
import { keys, topicKeyPart, topicOfKeyPart } from '../../../src/cluster/records.js';

/** What NATS accepts as a KV key: its characters, no empty token, no '.' at either end. */
const validKvKey = (key: string) =>
  /^[-/=.\w]+$/.test(key) && !key.startsWith('.') && !key.endsWith('.') && !key.includes('..');

describe('topic names in metadata keys', () => {
  it('gives every legal topic name a valid, reversible key; other names keep their own', () => {
    const legal = fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/).filter((n) => topicNameProblem(n) === null);
    fc.assert(
      fc.property(legal, fc.nat({ max: 99_999 }), (name, partition) => {
        expect(validKvKey(keys.topic(name))).toBe(true);
        expect(validKvKey(keys.partition(name, partition))).toBe(true);
        expect(topicOfKeyPart(topicKeyPart(name))).toBe(name);
      }),
    );
    expect(keys.topic('orders.eu')).toBe('topic.orders.eu');
    expect(keys.topic('a..b')).toBe('topic.a=2E=2Eb');
    expect(keys.partition('.hidden', 3)).toBe('partition.=2Ehidden.3');
  });

  it('refuses names that could escape a data directory or a subject', () => {
    for (const bad of ['', '.', '..', '../x', 'a/b', 'a b', '*', '>', 'a\0b', 'x'.repeat(250), 'ü'])
      expect(topicNameProblem(bad), JSON.stringify(bad)).not.toBeNull();
  });
});
