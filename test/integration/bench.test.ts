/**
 * Every `millrace bench` command runs to its end, prints its JSON and exits (issue 15 found one
 * that printed and then hung), with sizes small enough for CI. The figures themselves are the
 * benchmarks' business, not the tests'.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

async function bench(...args: string[]): Promise<Record<string, unknown>> {
  const r = await runCli(['bench', ...args], undefined, 110_000);
  expect(r.status, `bench ${args.join(' ')}: ${r.stderr.slice(-2_000)}`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('millrace bench', () => {
  const small = ['--records', '20000', '--partitions', '2'];

  it('produce runs its records through a cluster of its own, and exits', async () => {
    expect(await bench('produce', ...small)).toMatchObject({ bench: 'produce', recordsPerSec: expect.any(Number) });
  });

  it('consume reads them back, and exits', async () => {
    expect(await bench('consume', ...small)).toMatchObject({ bench: 'consume' });
  });

  it('e2e measures latency at an offered rate, and exits', async () => {
    expect(await bench('e2e', ...small, '--throughput', '5000')).toMatchObject({ bench: 'e2e' });
  });

  it('transactions compares a transactional producer with an idempotent one on three brokers, and exits', async () => {
    const result = await bench('transactions', ...small, '--commit-interval-ms', '50');
    expect(result).toMatchObject({ bench: 'transactions', transactionalOverIdempotent: expect.any(Number) });
    expect((result.transactional as { runs: Array<{ transactions: number }> }).runs[0]!.transactions).toBeGreaterThan(
      0,
    );
  });

  it('streams runs a MillraceStreams instance on mapValues and a persistent count, both guarantees, and exits', async () => {
    const result = await bench('streams', '--records', '20000', '--partitions', '2', '--keys', '100');
    const runs = result.runs as Array<{ workload: string; processingGuarantee: string; recordsPerSec: number }>;
    expect(runs.map((r) => `${r.workload} ${r.processingGuarantee}`)).toEqual([
      'map-values at_least_once',
      'map-values exactly_once_v2',
      'count at_least_once',
      'count exactly_once_v2',
    ]);
    for (const r of runs) expect(r.recordsPerSec).toBeGreaterThan(0);
  });

  it('failover measures the unavailability after a SIGKILL of the leader, and exits', async () => {
    const result = await bench('failover', '--duration-ms', '4000', '--kill-at-ms', '1500', '--rate', '2000');
    expect(result).toMatchObject({ bench: 'failover', failedSends: expect.any(Number) });
    expect(result.unavailabilityMs).toEqual(expect.any(Number));
  });

  it('kafka runs kcat against a Kafka listener, and exits', async () => {
    const result = await bench('kafka', '--records', '20000', '--partitions', '2');
    expect(result).toMatchObject({
      bench: 'kafka',
      produce: { recordsWritten: 20000 },
      consume: { recordsRead: 20000 },
    });
  });

  it('suite runs every figure beside its aim, and exits', async () => {
    const result = (await bench(
      'suite',
      '--records',
      '20000',
      '--latency-seconds',
      '1',
      '--failover-duration-ms',
      '3000',
      '--json',
    )) as { figures: Array<{ figure: string; value: number | null; met: boolean | null }> };
    expect(result.figures).toHaveLength(9);
    for (const f of result.figures) expect(f.value, f.figure).toEqual(expect.any(Number));
  });

  it('security measures produce without and with security through both doors, and exits', async () => {
    const result = (await bench('security', '--records', '20000', '--partitions', '2')) as {
      recordsPerSecond: Record<'plain' | 'secured', Record<'nats' | 'kafka', number>>;
      securedOverPlain: Record<'nats' | 'kafka', number>;
    };
    for (const side of ['plain', 'secured'] as const)
      for (const door of ['nats', 'kafka'] as const) expect(result.recordsPerSecond[side][door]).toBeGreaterThan(0);
    expect(result.securedOverPlain.nats).toBeGreaterThan(0);
    expect(result.securedOverPlain.kafka).toBeGreaterThan(0);
  });
});
