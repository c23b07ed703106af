/**
 * The shipped Grafana dashboards against a real Prometheus (Debian's): it scrapes a cluster of
 * three brokers on loopback while records flow, and every panel query of every dashboard, with
 * the dashboard's variables filled in, must return at least one series.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { freePort } from '../../src/transport/free-port.js';
import { repoRoot } from '../harness/cli.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { tempDir } from '../harness/storage.js';

const dashboards = path.join(repoRoot, 'ops/grafana/dashboards');
const cluster = uniqueCluster('dash');
const dir = tempDir('millrace-prom-');
const brokers: TestBroker[] = [];
let prometheus: ChildProcess | null = null;
let promUrl = '';
let client: Millrace;

async function query(expr: string): Promise<unknown[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

beforeAll(async () => {
  for (const id of [1, 2, 3]) brokers.push(await startBroker(inject('natsUrl'), cluster, id));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: ['${path.join(repoRoot, 'ops/prometheus/alerts.yml')}']`,
      'scrape_configs:',
      '  - job_name: millrace',
      `    static_configs: [{ targets: [${brokers.map((b) => `'127.0.0.1:${b.broker.metricsPort}'`).join(', ')}] }]`,
    ].join('\n'),
  );
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  await waitFor('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok);
  client = new Millrace({ servers: inject('natsUrl'), cluster });
  await client.admin().createTopics({ topics: [{ topic: 'dash', numPartitions: 3, replicationFactor: 3 }] });
}, 90_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await client?.close();
  await stopAll(brokers);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('Grafana dashboards against a real Prometheus', () => {
  it('every panel query of every dashboard returns series', async () => {
    const producer = client.producer({ acks: 'all' });
    const files = fs.readdirSync(dashboards).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const exprs = files.flatMap((f) => {
      const d = JSON.parse(fs.readFileSync(path.join(dashboards, f), 'utf8')) as {
        panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
      };
      return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${f}: ${p.title}`, expr: t.expr })));
    });
    // The dashboard variables as Grafana fills them: the job, every broker, a rate window.
    const filled = (expr: string) =>
      expr.replaceAll('$job', 'millrace').replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m');
    const empty = new Set(exprs.map((e) => e.where));
    await waitFor(
      'a series for every panel',
      async () => {
        await producer.send({
          topic: 'dash',
          messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: 'v' })),
        });
        for (const e of exprs)
          if (empty.has(e.where) && (await query(filled(e.expr))).length > 0) empty.delete(e.where);
        return empty.size === 0;
      },
      60_000,
    ).catch(() => undefined);
    expect([...empty]).toEqual([]);
  }, 120_000);
});
