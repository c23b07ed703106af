/**
 * ops/compose/cluster.yml on a real Docker engine: three clustered NATS servers, three brokers and
 * Prometheus with the shipped rules (Debian's Prometheus in a locally made image: no registry
 * here; Grafana's image cannot be had at all, so its service is not started). Every host port is
 * a free one, given through the file's variables.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Millrace } from '../../src/client/index.js';
import { freePort } from '../../src/transport/free-port.js';
import { VERSION } from '../../src/version.js';
import { repoRoot } from '../harness/cli.js';
import { waitFor } from '../harness/cluster.js';
import { readFromEarliest } from '../harness/read.js';

const run = promisify(execFile);
const docker = inject('docker');
const file = path.join(repoRoot, 'ops/compose/cluster.yml');
const project = `millrace-test-${process.pid}`;
const SERVICES = ['nats-1', 'nats-2', 'nats-3', 'broker-1', 'broker-2', 'broker-3', 'prometheus'];

/** `docker compose` where the plugin is installed, else Debian's `docker-compose`. */
async function composeCommand(): Promise<string[]> {
  try {
    await run('docker', ['compose', 'version']);
    return ['docker', 'compose'];
  } catch {
    return ['docker-compose'];
  }
}

describe.skipIf(!docker.available)('the compose cluster', () => {
  const ports: Record<string, string> = {};
  let compose: (args: string[]) => Promise<string>;
  let client: Millrace;

  beforeAll(async () => {
    for (const name of [
      'NATS_PORT',
      'PROMETHEUS_PORT',
      ...[1, 2, 3].flatMap((b) => [`BROKER_${b}_KAFKA_PORT`, `BROKER_${b}_METRICS_PORT`]),
    ])
      ports[name] = String(await freePort());
    const [bin, ...pre] = await composeCommand();
    const env = {
      ...process.env,
      ...ports,
      MILLRACE_VERSION: VERSION,
      PROMETHEUS_IMAGE: `millrace-prometheus:${VERSION}`,
    };
    compose = async (args) =>
      (await run(bin!, [...pre, '-f', file, '-p', project, ...args], { env, timeout: 120_000 })).stdout;
    await compose(['up', '-d', ...SERVICES]);
    for (const b of [1, 2, 3]) {
      const ready = `http://127.0.0.1:${ports[`BROKER_${b}_METRICS_PORT`]}/ready`;
      // Bounded: a connection docker-proxy accepts before the broker listens may never be answered.
      const probe = () => fetch(ready, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      await waitFor(`broker-${b} ready`, async () => (await probe())?.ok, 60_000);
    }
    client = new Millrace({ servers: `nats://127.0.0.1:${ports.NATS_PORT}`, cluster: 'millrace' });
  });

  afterAll(async () => {
    await client?.close();
    await compose?.(['down', '-v', '--remove-orphans']);
  });

  it('serves the SDK through the clustered NATS and Kafka clients on the published ports', async () => {
    await client.admin().createTopics({ topics: [{ topic: 'compose', numPartitions: 3 }] });
    const [topic] = await client.admin().describeTopics(['compose']);
    expect(topic!.partitions.map((p) => p.replicas.length)).toEqual([3, 3, 3]);
    await client.producer({ acks: 'all' }).send({
      topic: 'compose',
      messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });
    expect(await readFromEarliest(client, 'compose', 3, 30)).toHaveLength(30);
    // kcat (librdkafka) is told each broker at its published address.
    const { stdout } = await run('kcat', ['-b', `127.0.0.1:${ports.BROKER_1_KAFKA_PORT}`, '-L', '-t', 'compose']);
    for (const b of [1, 2, 3]) expect(stdout).toContain(`broker ${b} at 127.0.0.1:${ports[`BROKER_${b}_KAFKA_PORT`]}`);
  });

  it('has Prometheus scraping every broker with the alert rules loaded', async () => {
    const prom = `http://127.0.0.1:${ports.PROMETHEUS_PORT}`;
    await waitFor(
      'three broker targets up',
      async () => {
        const body = (await (await fetch(`${prom}/api/v1/targets`)).json()) as {
          data: { activeTargets: Array<{ health: string }> };
        };
        return body.data.activeTargets.filter((t) => t.health === 'up').length === 3;
      },
      60_000,
    );
    const rules = (await (await fetch(`${prom}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: unknown[] }> };
    };
    expect(rules.data.groups.flatMap((g) => g.rules).length).toBeGreaterThan(0);
  });
});
