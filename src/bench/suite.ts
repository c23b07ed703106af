/**
 * `npm run bench` (`millrace bench suite`): every figure of the performance issue in one run,
 * side by side with its aim, as a table and as JSON. Each figure starts a cluster of its own.
 */
import { jetstreamCompare } from './compare.js';
import type { ProcessLoad } from './observe.js';
import { profiled } from './profile.js';
import { failoverBench, plainProduce, runWorkload, type FailoverVictim, type WorkloadOptions } from './workloads.js';

export interface SuiteFigure {
  figure: string;
  value: number | null;
  unit: string;
  /** The aim, as a bound the value must reach (at least, for rates; at most, for times). */
  aim: number | null;
  met: boolean | null;
}

export interface SuiteOptions {
  /** Records of the throughput figures (the e2e and failover figures run for a time instead). */
  records: number;
  /** Seconds of the latency figure at 20,000 records/s. */
  latencySeconds: number;
  failoverDurationMs: number;
  /** Writes CPU profiles of client and brokers per figure under this directory. */
  cpuProfDir?: string;
}

/** The comparisons' producer (plainProduce), 100 B records over 8 partitions, with the figure's own settings. */
const workload = (o: Partial<WorkloadOptions> & Pick<WorkloadOptions, 'records'>): WorkloadOptions => ({
  ...plainProduce({ records: o.records, recordSize: 100, partitions: 8 }, true),
  ...o,
});

const figure = (name: string, value: number | null, unit: string, aim: number | null, atMost = false): SuiteFigure => ({
  figure: name,
  value,
  unit,
  aim,
  met: value === null || aim === null ? null : atMost ? value <= aim : value >= aim,
});

export async function benchSuite(o: SuiteOptions): Promise<{ figures: SuiteFigure[]; runs: Record<string, unknown> }> {
  const step = (what: string) => process.stderr.write(`bench suite: ${what}\n`);
  step('produce, 1 broker, acks=1');
  const prof = <T>(name: string, work: () => Promise<T>) => profiled(o.cpuProfDir, name, work);
  const produce = await prof('produce', () => runWorkload('produce', workload({ records: o.records }), { brokers: 1 }));
  step('consume, 1 broker');
  const consume = await prof('consume', () => runWorkload('consume', workload({ records: o.records }), { brokers: 1 }));
  step('produce, 3 brokers, RF 3, acks=all');
  const replicated = await prof('replicated', () =>
    runWorkload('produce', workload({ records: o.records, replicationFactor: 3, acks: 'all' }), { brokers: 3 }),
  );
  step('end-to-end latency at 20,000 records/s, RF 3, acks=all');
  const e2e = await prof('e2e', () =>
    runWorkload(
      'e2e',
      workload({ records: 20_000 * o.latencySeconds, replicationFactor: 3, acks: 'all', throughput: 20_000 }),
      { brokers: 3 },
    ),
  );
  const failoverRun = (victim: FailoverVictim) =>
    failoverBench({
      durationMs: o.failoverDurationMs,
      killAtMs: Math.round(o.failoverDurationMs * 0.3),
      rate: 10_000,
      victim,
    });
  step('failover after a SIGKILL of a leader');
  const failover = await prof('failover', () => failoverRun('leader'));
  step('failover after a SIGKILL of a leader that is the controller');
  const controllerFailover = await prof('controller-failover', () => failoverRun('controller'));
  step('JetStream comparison');
  const compare = await jetstreamCompare({ records: o.records, recordSize: 100, partitions: 8, window: 2048 });
  const latency = (e2e.endToEndLatencyMs ?? {}) as { p50?: number; p99?: number; p999?: number };
  const figures = [
    figure('produce, 1 broker, acks=1, 100 B, 8 partitions', produce.recordsPerSec as number, 'records/s', 1_500_000),
    figure('consume, same', consume.recordsPerSec as number, 'records/s', 3_000_000),
    figure('produce, 3 brokers, RF 3, acks=all', replicated.recordsPerSec as number, 'records/s', 600_000),
    figure('end-to-end latency p50, 20k records/s, RF 3, acks=all', latency.p50 ?? null, 'ms', null),
    figure('end-to-end latency p99', latency.p99 ?? null, 'ms', 10, true),
    figure('end-to-end latency p99.9', latency.p999 ?? null, 'ms', 25, true),
    figure('unavailability after SIGKILL of a leader', failover.unavailabilityMs as number, 'ms', 1_000, true),
    figure(
      'the same when the leader is the controller',
      controllerFailover.unavailabilityMs as number,
      'ms',
      1_000,
      true,
    ),
    figure('Millrace over JetStream, acknowledged produce', compare.ratio as number, 'x', null),
  ];
  return { figures, runs: { produce, consume, replicated, e2e, failover, controllerFailover, compare } };
}

/** The figures as a table: figure, value, aim, met. */
export function suiteTable(figures: SuiteFigure[]): string {
  const rows = figures.map((f) => [
    f.figure,
    f.value === null ? 'n/a' : `${f.value.toLocaleString('en-US')} ${f.unit}`,
    f.aim === null ? '' : `${f.unit === 'ms' ? '<=' : '>='} ${f.aim.toLocaleString('en-US')} ${f.unit}`,
    f.met === null ? '' : f.met ? 'met' : 'not met',
  ]);
  return renderTable(['figure', 'value', 'aim', ''], rows);
}

/** Columns padded to their widest cell, a rule under the header. */
function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Where each run's time went: CPU per process, and event-loop delay and GC of the Node ones. */
export function loadTable(runs: Record<string, unknown>): string {
  const rows: string[][] = [];
  for (const [run, result] of Object.entries(runs)) {
    const load = (result as { load?: ProcessLoad[] }).load;
    for (const l of load ?? [])
      rows.push([
        run,
        l.process,
        l.cpuPercent === null ? 'n/a' : `${l.cpuPercent}%`,
        l.eventLoopDelayMs ? `${l.eventLoopDelayMs.p99} / ${l.eventLoopDelayMs.max} ms` : '',
        l.gcMs ? `${l.gcMs.minor} / ${+(l.gcMs.major + l.gcMs.incremental).toFixed(1)} ms` : '',
      ]);
  }
  return renderTable(['run', 'process', 'CPU', 'event-loop delay p99 / max', 'GC minor / major'], rows);
}
