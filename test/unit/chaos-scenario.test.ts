import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario } from '../../src/chaos/scenario.js';
import { repoRoot } from '../harness/cli.js';

describe('chaos scenario files', () => {
  it('fills Kafka-like defaults around what a file says', () => {
    const s = parseScenario('{"name":"x","faults":{"kinds":["kill-broker"]}}', 'x.json');
    expect(s).toMatchObject({
      brokers: 3,
      natsNodes: 1,
      topic: { name: 'chaos', partitions: 6, replicationFactor: 3, minInsyncReplicas: 2 },
      workload: { producers: 2, consumers: 2 },
      faults: { kinds: ['kill-broker'], target: 'random', targetPartition: 0 },
    });
  });

  it('names what is wrong in a bad file', () => {
    expect(() => parseScenario('{', 'a.json')).toThrow(/a.json is not JSON/);
    expect(() => parseScenario('{"name":"x","faults":{"kinds":["meteor"]}}', 'b.json')).toThrow(
      /b.json: faults.kinds.0/,
    );
    expect(() => parseScenario('{"name":"x","natsNodes":2,"faults":{"kinds":["kill-nats"]}}', 'c.json')).toThrow(
      /natsNodes/,
    );
    expect(() => loadScenario('/nonexistent/scenario.json')).toThrow(/cannot read scenario/);
    expect(() => parseScenario('{"name":"x","faults":{"kinds":["kill-streams-instance"]}}', 'd.json')).toThrow(
      /faults.kinds: kill-streams-instance needs a streams workload/,
    );
  });

  it('every scenario in ops/chaos parses', () => {
    const dir = path.join(repoRoot, 'ops/chaos');
    const names = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(names.length).toBeGreaterThanOrEqual(8);
    for (const f of names) expect(loadScenario(path.join(dir, f)).name).toBe(path.basename(f, '.json'));
  });
});
