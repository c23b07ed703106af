import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cliPath, runCli } from '../harness/cli.js';
import { startBroker, stopAll, uniqueCluster, type TestBroker } from '../harness/cluster.js';
import { tempDir } from '../harness/storage.js';

const cluster = uniqueCluster('cli');
const brokers: TestBroker[] = [];
let conn: string[];

beforeAll(async () => {
  brokers.push(
    await startBroker(inject('natsUrl'), cluster, 1, {
      groupInitialRebalanceDelayMs: 100,
      offsetsTopicPartitions: 5,
      defaultPartitions: 2,
    }),
  );
  conn = ['--nats', inject('natsUrl'), '--cluster', cluster];
});
afterAll(() => stopAll(brokers));

describe('millrace CLI against a running broker', () => {
  it('consumes as a group member, then lists, describes with lag, resets and deletes the group', async () => {
    expect((await runCli(['topic', 'create', 'grouped', '--partitions', '2', ...conn])).status).toBe(0);
    const input = Array.from({ length: 100 }, (_, i) => `v${i}`).join('\n') + '\n';
    // All in partition 0, so what the reset plans below print is known.
    expect((await runCli(['produce', 'grouped', '--acks', '1', '--partition', '0', ...conn], input)).status).toBe(0);
    const read = (extra: string[] = []) =>
      runCli([
        'consume',
        'grouped',
        '--group',
        'cli-g',
        '--from-beginning',
        '--max-messages',
        '100',
        ...extra,
        ...conn,
      ]);
    const first = await read();
    expect(first.stderr).toBe('');
    expect(first.stdout.trim().split('\n')).toHaveLength(100);
    expect((await runCli(['group', 'list', ...conn])).stdout).toMatch(/^cli-g\tEmpty\tconsumer$/m);
    const described = JSON.parse((await runCli(['group', 'describe', 'cli-g', '--json', ...conn])).stdout) as {
      state: string;
      partitions: Array<{ committed: string; logEnd: string; lag: string }>;
    };
    expect(described.state).toBe('Empty');
    expect(described.partitions.reduce((n, p) => n + Number(p.committed), 0)).toBe(100);
    expect(described.partitions.every((p) => p.lag === '0')).toBe(true);
    expect((await runCli(['group', 'describe', 'cli-g', ...conn])).stdout).toMatch(
      /TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG/,
    );
    const reset = (...args: string[]) => runCli(['group', 'reset-offsets', 'cli-g', ...args, ...conn]);
    // Without --execute, a plan and no change, as kafka-consumer-groups.
    const planned = await reset('--topic', 'grouped', '--to-earliest');
    expect(planned.stdout).toBe(
      'GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET\ncli-g\tgrouped\t0\t100\t0\ncli-g\tgrouped\t1\t-\t0\n',
    );
    expect(planned.stderr).toMatch(/dry run: no offsets changed; add --execute/);
    const committedNow = async () =>
      (
        JSON.parse((await runCli(['group', 'describe', 'cli-g', '--json', ...conn])).stdout) as {
          partitions: Array<{ partition: number; committed: string }>;
        }
      ).partitions.map((p) => p.committed);
    expect(await committedNow()).toEqual(['100']);
    // --to-offset is clamped to the log; --all-topics takes the topics the group committed.
    const toOffset = JSON.parse((await reset('--all-topics', '--to-offset', '70', '--execute', '--json')).stdout) as {
      executed: boolean;
      partitions: Array<{ offset: string }>;
    };
    expect(toOffset.executed).toBe(true);
    expect(toOffset.partitions.map((p) => p.offset)).toEqual(['70', '0']);
    expect((await reset('--topic', 'grouped', '--to-offset', '10', '--execute')).status).toBe(0);
    expect(await committedNow()).toEqual(['10', '0']);
    expect((await reset('--topic', 'grouped', '--shift-by', '-4', '--execute')).status).toBe(0);
    expect(await committedNow()).toEqual(['6', '0']);
    // Everything was written within the last hour: an hour back is the start of the log.
    expect((await reset('--topic', 'grouped', '--by-duration', 'PT1H', '--execute')).status).toBe(0);
    expect(await committedNow()).toEqual(['0', '0']);
    const badDuration = await reset('--topic', 'grouped', '--by-duration', '10 minutes');
    expect(badDuration.status).toBe(1);
    expect(badDuration.stderr).toMatch(/not an ISO 8601 duration such as PT30M/);
    const both = await runCli([
      'group',
      'reset-offsets',
      'cli-g',
      '--topic',
      'grouped',
      '--to-earliest',
      '--to-latest',
      ...conn,
    ]);
    expect(both.status).toBe(1);
    expect(both.stderr).toMatch(/exactly one of/);
    expect((await read()).stdout.trim().split('\n')).toHaveLength(100);
    expect((await runCli(['group', 'delete', 'cli-g', ...conn])).stdout).toContain('deleted group cli-g');
    expect((await runCli(['group', 'delete', 'cli-g', ...conn])).stderr).toMatch(/GROUP_ID_NOT_FOUND/);
  });

  it('creates, lists, describes and deletes topics', async () => {
    const created = await runCli([
      'topic',
      'create',
      'events',
      '--partitions',
      '3',
      '--config',
      'retention.ms=3600000',
      ...conn,
    ]);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain("created topic 'events' with 3 partitions");
    expect((await runCli(['topic', 'list', ...conn])).stdout.split('\n')).toContain('events');
    const described = (await runCli(['topic', 'describe', 'events', ...conn])).stdout;
    expect(described).toMatch(
      /Topic: events\tTopicId: [0-9a-f-]+\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=3600000/,
    );
    expect(described).toMatch(
      /Partition: 2\tLeader: 1\tLeaderEpoch: 0\tReplicas: 1\tIsr: 1\tStartOffset: 0\tHighWatermark: 0\tLogEndOffset: 0/,
    );
    const dup = await runCli(['topic', 'create', 'events', ...conn]);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    const bad = await runCli(['topic', 'create', 'bad/name', ...conn]);
    expect(bad.stderr).toMatch(/INVALID_TOPIC_EXCEPTION/);
    expect((await runCli(['topic', 'create', 'x', '--partitions', 'many', ...conn])).stderr).toMatch(
      /--partitions must be an integer/,
    );
    expect((await runCli(['topic', 'delete', 'events', ...conn])).stdout).toContain("deleted topic 'events'");
    // Without flags the brokers' num.partitions and default.replication.factor apply.
    expect((await runCli(['topic', 'create', 'defaulted', ...conn])).stdout).toBe(
      "created topic 'defaulted' with 2 partitions, replication factor 1\n",
    );
    expect((await runCli(['topic', 'add-partitions', 'defaulted', '--partitions', '5', ...conn])).stdout).toBe(
      "topic 'defaulted' now has 5 partitions\n",
    );
    const shrink = await runCli(['topic', 'add-partitions', 'defaulted', '--partitions', '3', ...conn]);
    expect(shrink.stderr).toMatch(/INVALID_PARTITIONS/);
  });

  it('alters topic configs and deletes records before an offset', async () => {
    expect(
      (await runCli(['topic', 'create', 'altered', '--partitions', '1', '--config', 'retention.ms=3600000', ...conn]))
        .status,
    ).toBe(0);
    const altered = await runCli([
      'topic',
      'alter',
      'altered',
      '--config',
      'segment.ms=600000',
      '--delete-config',
      'retention.ms',
      ...conn,
    ]);
    expect(altered.stderr).toBe('');
    expect(altered.stdout).toContain('segment.ms=600000 (topic)');
    expect(altered.stdout).toContain('retention.ms=604800000 (default)');
    const described = await runCli(['topic', 'describe', 'altered', ...conn]);
    expect(described.stdout).toMatch(/Configs: segment.ms=600000\n/);
    const bad = await runCli(['topic', 'alter', 'altered', '--config', 'retention.ms=soon', ...conn]);
    expect(bad.stderr).toMatch(/INVALID_CONFIG: altered: retention.ms=soon/);
    expect((await runCli(['topic', 'alter', 'altered', ...conn])).stderr).toMatch(/nothing to change/);
    const input = Array.from({ length: 20 }, (_, i) => `line-${i}`).join('\n') + '\n';
    expect((await runCli(['produce', 'altered', '--acks', '1', ...conn], input)).status).toBe(0);
    const deleted = await runCli(['topic', 'delete-records', 'altered', '--partition', '0', '--before', '15', ...conn]);
    expect(deleted.stdout).toContain('altered-0: records before 15 deleted');
    expect((await runCli(['topic', 'describe', 'altered', ...conn])).stdout).toMatch(
      /StartOffset: 15\tHighWatermark: 20/,
    );
    const past = await runCli(['topic', 'delete-records', 'altered', '--partition', '0', '--before', '99', ...conn]);
    expect(past.stderr).toMatch(/OFFSET_OUT_OF_RANGE/);
  });

  it('produces with headers, a partition and compression, and consumes through a format to the end', async () => {
    expect((await runCli(['topic', 'create', 'formatted', '--partitions', '3', ...conn])).status).toBe(0);
    const produced = await runCli(
      [
        'produce',
        'formatted',
        '--key-separator',
        ':',
        '--header',
        'source=cli',
        '--header',
        'trace=a=b',
        '--partition',
        '2',
        '--compression',
        'zstd',
        ...conn,
      ],
      'k1:one\nk2:two\n',
    );
    expect(produced.stderr).toBe('');
    // --exit-at-end stops at the end offsets read at start: no --max-messages needed.
    const consumed = await runCli([
      'consume',
      'formatted',
      '--from-beginning',
      '--exit-at-end',
      '--format',
      '%t/%p@%o %k=%s (%K,%S) [%h]\\n',
      ...conn,
    ]);
    expect(consumed.stderr).toBe('');
    expect(consumed.stdout).toBe(
      'formatted/2@0 k1=one (2,3) [source=cli,trace=a=b]\nformatted/2@1 k2=two (2,3) [source=cli,trace=a=b]\n',
    );
    // Nothing to read: it exits at once.
    const empty = await runCli(['consume', 'formatted', '--exit-at-end', ...conn]);
    expect(empty).toMatchObject({ status: 0, stdout: '' });
    const badHeader = await runCli(['produce', 'formatted', '--header', 'novalue', ...conn], 'x\n');
    expect(badHeader.stderr).toMatch(/--header 'novalue' is not key=value/);
  });

  it('produces lines from stdin and consumes them as JSON', async () => {
    expect((await runCli(['topic', 'create', 'lines', '--partitions', '2', ...conn])).status).toBe(0);
    const input = Array.from({ length: 300 }, (_, i) => `key${i % 5}:value ${i}`).join('\n') + '\n';
    const produced = await runCli(['produce', 'lines', '--key-separator', ':', '--acks', '1', ...conn], input);
    expect(produced.stderr).toBe('');
    expect(produced.stdout).toMatch(/produced 300 records \(\d+ bytes\) to 'lines' across 2 partitions/);
    const consumed = await runCli(['consume', 'lines', '--from-beginning', '--max-messages', '300', '--json', ...conn]);
    expect(consumed.status).toBe(0);
    const records = consumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; value: string; partition: number; offset: string });
    expect(records).toHaveLength(300);
    expect(new Set(records.map((r) => r.value)).size).toBe(300);
    const key0 = records.filter((r) => r.key === 'key0');
    expect(new Set(key0.map((r) => r.partition)).size).toBe(1);
    const one = await runCli([
      'consume',
      'lines',
      '--partition',
      '1',
      '--offset',
      '3',
      '--max-messages',
      '1',
      '--json',
      ...conn,
    ]);
    expect(JSON.parse(one.stdout)).toMatchObject({ partition: 1, offset: '3' });
  });

  it('reports cluster status', async () => {
    const status = JSON.parse((await runCli(['cluster', 'status', '--json', ...conn])).stdout) as {
      controllerId: number;
      brokers: unknown[];
      offlinePartitions: string[];
    };
    expect(status).toMatchObject({ controllerId: 1, brokers: [{ id: 1, fenced: false }], offlinePartitions: [] });
  });
});

describe('millrace dev --demo', () => {
  const runDemo = async (...extra: string[]): Promise<string> => {
    const child = spawn(process.execPath, [cliPath, 'dev', '--demo', '--demo-records', '2000', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/started nats-server with JetStream at nats:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/produced 2000 records/);
    expect(out).toMatch(/consumed 2000 records/);
    expect(out).toContain('stopped cleanly');
    return out;
  };

  it('starts its own nats-server and a broker, produces and consumes, and stops cleanly', async () => {
    await runDemo();
  });

  it('does the same with --secure: TLS and accounts from millrace auth, a SASL_SSL Kafka listener', async () => {
    const dataDir = tempDir('millrace-dev-secure-');
    const out = await runDemo('--secure', '--data-dir', dataDir);
    expect(out).toContain(`TLS and accounts from ${path.join(dataDir, 'auth')}`);
    expect(out).toMatch(/Kafka protocol listener \(SASL_SSL, SCRAM user 'admin'.*security\.protocol=SASL_SSL/);
    for (const file of [
      'nats.conf',
      'broker.nk',
      'clients/admin.nk',
      'tls/ca.pem',
      'tls/server.pem',
      'kafka-admin.password',
    ])
      expect(fs.existsSync(path.join(dataDir, 'auth', file)), file).toBe(true);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
