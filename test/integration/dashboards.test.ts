/**
 * The shipped Grafana dashboards and alert rules against a real Prometheus (Debian's): it scrapes
 * three brokers on loopback while records flow through both doors and a consumer group lags.
 * Every panel query of every dashboard, with the dashboard's variables filled in, must return at
 * least one series; then a broker crashes, and the broker-down and under-replicated alerts must
 * fire, and resolve once it is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace, type Consumer } from '../../src/client/index.js';
import { freePort } from '../../src/transport/free-port.js';
import { repoRoot } from '../harness/cli.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { tempDir } from '../harness/storage.js';

const dashboards = path.join(repoRoot, 'ops/grafana/dashboards');
const cluster = uniqueCluster('dash');
const dir = tempDir('millrace-prom-');
const brokers: TestBroker[] = [];
const metricsPorts: number[] = [];
let prometheus: ChildProcess | null = null;
let promUrl = '';
let client: Millrace;
let laggard: Consumer | null = null;
const withKafka = { kafkaListener: '127.0.0.1:0' };

async function query(expr: string): Promise<unknown[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data!.result;
}

/** Alerts by name and state (pending, firing), as Prometheus evaluates the shipped rules. */
async function alerts(): Promise<Array<{ name: string; state: string }>> {
  const body = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
    data: { alerts: Array<{ labels: { alertname: string }; state: string }> };
  };
  return body.data.alerts.map((a) => ({ name: a.labels.alertname, state: a.state }));
}

beforeAll(async () => {
  for (const id of [1, 2, 3]) {
    const b = await startBroker(inject('natsUrl'), cluster, id, withKafka);
    brokers.push(b);
    metricsPorts.push(b.broker.metricsPort);
  }
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  // The shipped rules with every `for` cut to 2 s: the expressions are what this proves (promtool
  // unit tests cover the durations), and a test cannot wait five minutes.
  const rules = fs.readFileSync(path.join(repoRoot, 'ops/prometheus/alerts.yml'), 'utf8');
  fs.writeFileSync(path.join(dir, 'alerts.yml'), rules.replace(/^(\s+)for: \S+$/gm, '$1for: 2s'));
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: ['${path.join(dir, 'alerts.yml')}']`,
      'scrape_configs:',
      '  - job_name: millrace',
      `    static_configs: [{ targets: [${metricsPorts.map((p) => `'127.0.0.1:${p}'`).join(', ')}] }]`,
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
  await laggard?.close();
  await client?.close();
  await stopAll(brokers);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('Grafana dashboards and alert rules against a real Prometheus', () => {
  it('every panel query of every dashboard returns series', async () => {
    const producer = client.producer({ acks: 'all' });
    const kafka = new Kafka({
      clientId: 'dash',
      brokers: brokers.map((b) => b.broker.kafkaEndpoint!),
      logLevel: logLevel.NOTHING,
    });
    const kafkaProducer = kafka.producer();
    const kafkaAdmin = kafka.admin();
    await Promise.all([kafkaProducer.connect(), kafkaAdmin.connect()]);
    // A group that reads slowly while records keep coming: its lag grows.
    laggard = client.consumer({ groupId: 'dash-laggards' });
    laggard.subscribe({ topics: ['dash'], fromBeginning: true });
    void laggard.run({ eachMessage: () => new Promise((resolve) => setTimeout(resolve, 100)) }).catch(() => undefined);

    const files = fs.readdirSync(dashboards).filter((f) => f.endsWith('.json'));
    expect(files.length).toBe(7);
    const exprs = files.flatMap((f) => {
      const d = JSON.parse(fs.readFileSync(path.join(dashboards, f), 'utf8')) as {
        panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
      };
      return d.panels.flatMap((p) =>
        (p.targets ?? []).map((t, i) => ({ where: `${f}: ${p.title} #${i}`, expr: t.expr })),
      );
    });
    // The dashboard variables as Grafana fills them: the job, the cluster, every broker, topic
    // and group, a rate window.
    const filled = (expr: string) =>
      expr
        .replaceAll('$job', 'millrace')
        .replaceAll('$cluster', cluster)
        .replaceAll(/\$(instance|topic|group)\b/g, '.*')
        .replaceAll('$__rate_interval', '1m');
    const empty = new Set(exprs.map((e) => e.where));
    try {
      await waitFor(
        'a series for every panel',
        async () => {
          const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
          await producer.send({ topic: 'dash', messages });
          await kafkaProducer.send({ topic: 'dash', messages });
          // Requests that fail, on each door: the error panels must have something to show.
          await client
            .admin()
            .deleteTopics({ topics: ['no-such-topic'] })
            .catch(() => undefined);
          await kafkaAdmin.deleteTopics({ topics: ['no-such-topic'] }).catch(() => undefined);
          for (const e of exprs)
            if (empty.has(e.where) && (await query(filled(e.expr))).length > 0) empty.delete(e.where);
          return empty.size === 0;
        },
        90_000,
      ).catch(() => undefined);
    } finally {
      await Promise.allSettled([kafkaProducer.disconnect(), kafkaAdmin.disconnect(), producer.close()]);
    }
    expect([...empty]).toEqual([]);
  }, 150_000);

  it('fires the broker-down and under-replicated alerts when a broker crashes, and resolves them when it returns', async () => {
    const victim = brokers[2]!;
    await victim.broker.crash();
    const firing = async () => new Set((await alerts()).filter((a) => a.state === 'firing').map((a) => a.name));
    await waitFor(
      'MillraceBrokerDown and MillraceUnderReplicatedPartitions firing',
      async () => {
        const now = await firing();
        return now.has('MillraceBrokerDown') && now.has('MillraceUnderReplicatedPartitions');
      },
      60_000,
    );
    // Back on the same metrics port, so the scrape target is the same.
    brokers[2] = await startBroker(
      inject('natsUrl'),
      cluster,
      3,
      { ...withKafka, metricsPort: metricsPorts[2] },
      victim.dataDir,
    );
    await waitFor(
      'both alerts resolved',
      async () => {
        const now = await firing();
        return !now.has('MillraceBrokerDown') && !now.has('MillraceUnderReplicatedPartitions');
      },
      90_000,
    );
  }, 200_000);
});
