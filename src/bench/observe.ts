/**
 * Where a benchmark's time goes, process by process: CPU use of the client, each broker and the
 * nats-server over the benchmark's window, and for the Node processes their event-loop delay and
 * garbage-collection time. Brokers are read from their own Prometheus endpoint (prom-client's
 * default metrics, whose event-loop histogram restarts at every scrape); CPU comes from
 * /proc/<pid>/stat (Linux; null elsewhere). The client observes itself.
 */
import * as fs from 'node:fs';
import { PerformanceObserver, constants, monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface ProcessLoad {
  process: string;
  /** CPU time over wall time, in percent of one core. */
  cpuPercent: number | null;
  /** Event-loop delay over the window (Node processes): how late a 10 ms timer fired. */
  eventLoopDelayMs: { p50: number; p99: number; max: number } | null;
  /** Garbage collection time over the window, by kind (Node processes). */
  gcMs: { minor: number; major: number; incremental: number } | null;
}

export interface ObservedProcess {
  name: string;
  pid: number;
  /** The process's Prometheus endpoint, for a broker. */
  metricsUrl?: string;
}

const TICKS_PER_SECOND = 100;

/** utime + stime of a process in seconds, or null when /proc cannot tell. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

const round = (n: number): number => +n.toFixed(1);

/** Both the client's monitor and prom-client's sample with a 10 ms timer; the figures are its lateness. */
const RESOLUTION_MS = 10;
const late = (ms: number): number => round(Math.max(0, ms - RESOLUTION_MS));

/** The figures a broker's endpoint gives: GC seconds by kind, and the event-loop delay since the last scrape. */
async function scrape(
  url: string,
): Promise<{ gc: Record<string, number>; lag: ProcessLoad['eventLoopDelayMs'] } | null> {
  try {
    const text = await (await fetch(url)).text();
    const gc: Record<string, number> = {};
    for (const m of text.matchAll(/^millrace_nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([\d.e+-]+)$/gm))
      gc[m[1]!] = Number(m[2]);
    const seconds = (name: string) =>
      Number(new RegExp(`^millrace_nodejs_eventloop_lag_${name}_seconds ([\\d.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
    const lag = {
      p50: late(seconds('p50') * 1000),
      p99: late(seconds('p99') * 1000),
      max: late(seconds('max') * 1000),
    };
    return { gc, lag: Number.isNaN(lag.p99) ? null : lag };
  } catch {
    return null;
  }
}

function gcDelta(before: Record<string, number>, after: Record<string, number>): NonNullable<ProcessLoad['gcMs']> {
  const ms = (kind: string) => round(((after[kind] ?? 0) - (before[kind] ?? 0)) * 1000);
  return { minor: ms('minor'), major: ms('major'), incremental: ms('incremental') };
}

/** Observes the client (this process) and `others` from now until `stop()`. */
export async function observeLoad(others: ObservedProcess[]): Promise<{ stop: () => Promise<ProcessLoad[]> }> {
  const started = performance.now();
  const cpuBefore = new Map(others.map((p) => [p.pid, cpuSeconds(p.pid)]));
  const scrapesBefore = new Map(
    await Promise.all(others.map(async (p) => [p.pid, p.metricsUrl ? await scrape(p.metricsUrl) : null] as const)),
  );
  const clientCpu = process.cpuUsage();
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loop.enable();
  const clientGc = { minor: 0, major: 0, incremental: 0 };
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) clientGc.minor += e.duration;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) clientGc.major += e.duration;
      else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) clientGc.incremental += e.duration;
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  return {
    stop: async () => {
      const wallSeconds = (performance.now() - started) / 1000;
      loop.disable();
      gcObserver.disconnect();
      const used = process.cpuUsage(clientCpu);
      const client: ProcessLoad = {
        process: 'client',
        cpuPercent: round(((used.user + used.system) / 1e6 / wallSeconds) * 100),
        eventLoopDelayMs: {
          p50: late(loop.percentile(50) / 1e6),
          p99: late(loop.percentile(99) / 1e6),
          max: late(loop.max / 1e6),
        },
        gcMs: { minor: round(clientGc.minor), major: round(clientGc.major), incremental: round(clientGc.incremental) },
      };
      const rest = await Promise.all(
        others.map(async (p): Promise<ProcessLoad> => {
          const before = cpuBefore.get(p.pid);
          const after = cpuSeconds(p.pid);
          const scraped = p.metricsUrl ? await scrape(p.metricsUrl) : null;
          const earlier = scrapesBefore.get(p.pid);
          return {
            process: p.name,
            cpuPercent: before != null && after != null ? round(((after - before) / wallSeconds) * 100) : null,
            eventLoopDelayMs: scraped?.lag ?? null,
            gcMs: scraped && earlier ? gcDelta(earlier.gc, scraped.gc) : null,
          };
        }),
      );
      return [client, ...rest];
    },
  };
}
