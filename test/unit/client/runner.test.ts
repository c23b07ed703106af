import { describe, expect, it } from 'vitest';
import { Instrumentation } from '../../../src/client/instrumentation.js';
import { backoffMs, offsetsByTopic, retryPolicy } from '../../../src/client/runner.js';

describe("the consumer's failure policy", () => {
  it('backs off exponentially from initialRetryTimeMs up to maxRetryTimeMs, jittered by 20%', () => {
    const policy = retryPolicy({ initialRetryTimeMs: 100, maxRetryTimeMs: 1_000, multiplier: 3 });
    const at = (attempt: number, random: number) => backoffMs(policy, attempt, () => random);
    expect([1, 2, 3, 4].map((a) => at(a, 0.5))).toEqual([100, 300, 900, 1_000]);
    expect(at(1, 0)).toBe(80);
    expect(at(1, 1)).toBe(120);
    expect(at(10, 1)).toBe(1_200);
  });

  it("defaults as kafkajs's, and refuses settings that cannot work", async () => {
    const policy = retryPolicy();
    expect(policy).toMatchObject({ retries: 5, initialRetryTimeMs: 300, maxRetryTimeMs: 30_000, multiplier: 2 });
    expect(await policy.restartOnFailure(new Error('x'))).toBe(true);
    for (const bad of [
      { retries: -1 },
      { retries: 1.5 },
      { initialRetryTimeMs: 10, maxRetryTimeMs: 5 },
      { multiplier: 0.5 },
    ])
      expect(() => retryPolicy(bad)).toThrow(expect.objectContaining({ errorName: 'INVALID_CONFIG' }));
  });

  it('groups positions by topic as kafkajs reports offsets', () => {
    expect(
      offsetsByTopic([
        { topic: 'a', partition: 0, offset: 5 },
        { topic: 'b', partition: 1, offset: 7 },
        { topic: 'a', partition: 2, offset: 9 },
      ]),
    ).toEqual({
      topics: [
        {
          topic: 'a',
          partitions: [
            { partition: 0, offset: 5n },
            { partition: 2, offset: 9n },
          ],
        },
        { topic: 'b', partitions: [{ partition: 1, offset: 7n }] },
      ],
    });
  });
});

describe('instrumentation events', () => {
  it('calls listeners with the envelope, removes them, and logs one that throws without stopping the others', () => {
    const logged: unknown[] = [];
    const ignore = () => undefined;
    const events = new Instrumentation<{ 'x.happened': { n: number } }>({
      error: (obj) => void logged.push(obj),
      warn: ignore,
      info: ignore,
      debug: ignore,
    });
    const seen: Array<{ type: string; payload: { n: number } }> = [];
    events.on('x.happened', () => {
      throw new Error('listener bug');
    });
    const off = events.on('x.happened', (e) => void seen.push({ type: e.type, payload: e.payload }));
    events.emit('x.happened', { n: 1 });
    off();
    events.emit('x.happened', { n: 2 });
    expect(seen).toEqual([{ type: 'x.happened', payload: { n: 1 } }]);
    expect(logged).toHaveLength(2);
  });
});
