/**
 * A short run of every scenario in ops/chaos (every fault kind), as CI runs them: each must end
 * with a valid history. The long runs are `npm run chaos`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/chaos/runner.js';
import { loadScenario } from '../../src/chaos/scenario.js';
import { repoRoot } from '../harness/cli.js';

const dir = path.join(repoRoot, 'ops/chaos');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const SHORT_MS = 12_000;

describe('chaos scenarios, short runs', () => {
  for (const file of files) {
    it(`${path.basename(file, '.json')} keeps a valid history`, async () => {
      const scenario = loadScenario(path.join(dir, file));
      scenario.durationMs = SHORT_MS;
      // Faults by count too, so a slow start-up cannot leave a short run without one.
      scenario.faults.minCount = Math.max(scenario.faults.minCount, 1);
      const result = await runScenario(scenario);
      console.log(JSON.stringify({ scenario: result.scenario, faults: result.faults, counts: result.verdict.counts }));
      expect(result.faults.total).toBeGreaterThan(0);
      expect(result.verdict.counts.acknowledged).toBeGreaterThan(0);
      expect(result.verdict.examples).toEqual({});
      expect(result.verdict.valid).toBe(true);
      if (result.transactions) {
        console.log(JSON.stringify({ scenario: result.scenario, transactions: result.transactions.counts }));
        if (result.forensics.length > 0) console.log(result.forensics.join('\n'));
        expect(result.transactions.counts.committed).toBeGreaterThan(0);
        expect(result.transactions.counts.copied).toBeGreaterThan(0);
        expect(result.transactions.examples).toEqual({});
        expect(result.transactions.valid).toBe(true);
      }
      if (result.streams) {
        console.log(JSON.stringify({ scenario: result.scenario, streams: result.streams }));
        expect(result.streams.keys).toBeGreaterThan(0);
        expect(result.streams.wrong).toEqual([]);
        expect(result.streams.duplicatedOrSkipped).toEqual([]);
        expect(result.streams.valid).toBe(true);
      }
    });
  }
});
