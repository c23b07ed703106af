/**
 * The shipped alert rules and scrape example, checked by Prometheus's own promtool (Debian's
 * `prometheus` package): the rules parse, and every alert's unit test in alerts.test.yml passes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/cli.js';

const dir = path.join(repoRoot, 'ops/prometheus');
const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });

describe('Prometheus alert rules', () => {
  it('parse, with a scrape example that loads them', () => {
    const rules = promtool('check', 'rules', 'alerts.yml');
    expect(rules.stderr + rules.stdout).toMatch(/SUCCESS: 15 rules found/);
    expect(rules.status).toBe(0);
    expect(promtool('check', 'config', 'prometheus.yml').status).toBe(0);
  });

  it('each fire on the series that should raise them, and only then (promtool test rules)', () => {
    const alerts = [...fs.readFileSync(path.join(dir, 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map(
      (m) => m[1],
    );
    const tests = fs.readFileSync(path.join(dir, 'alerts.test.yml'), 'utf8');
    for (const a of alerts) expect(tests, `${a} has no unit test`).toContain(`alertname: ${a}\n`);
    const run = promtool('test', 'rules', 'alerts.test.yml');
    expect(run.stdout + run.stderr).toContain('SUCCESS');
    expect(run.status).toBe(0);
  });
});
