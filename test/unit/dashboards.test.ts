/** The dashboards are generated: the JSON files are what ops/grafana/dashboards.mjs makes, and follow its rules. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without types
import { dashboards } from '../../ops/grafana/dashboards.mjs';
import { repoRoot } from '../harness/cli.js';

interface Panel {
  title: string;
  fieldConfig: { defaults: { unit?: string } };
  targets: Array<{ expr: string }>;
}
const generated = dashboards as Record<
  string,
  { uid: string; panels: Panel[]; templating: { list: Array<{ name: string }> } }
>;

describe('Grafana dashboards', () => {
  it('are the files in ops/grafana/dashboards (run npm run dashboards after editing the generator)', () => {
    const dir = path.join(repoRoot, 'ops/grafana/dashboards');
    expect(fs.readdirSync(dir).sort()).toEqual(
      Object.keys(generated)
        .map((n) => `${n}.json`)
        .sort(),
    );
    for (const [name, d] of Object.entries(generated))
      expect(JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'))).toEqual(d);
  });

  it('are templated by data source, job, cluster and broker, with a unit on every panel and $__rate_interval in rates', () => {
    for (const d of Object.values(generated)) {
      expect(d.templating.list.map((v) => v.name).slice(0, 4)).toEqual(['datasource', 'job', 'cluster', 'instance']);
      for (const p of d.panels) {
        expect(p.fieldConfig.defaults.unit, p.title).toBeTruthy();
        for (const t of p.targets) {
          expect(t.expr, p.title).toContain('job="$job"');
          for (const m of t.expr.matchAll(/\brate\([^[]*\[([^\]]+)\]/g)) expect(m[1], p.title).toBe('$__rate_interval');
        }
      }
    }
    expect(new Set(Object.values(generated).map((d) => d.uid)).size).toBe(Object.keys(generated).length);
  });
});
