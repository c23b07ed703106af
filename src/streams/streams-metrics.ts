/**
 * Streams metrics in the application's prom-client registry (the `metrics` option the client
 * takes), as Kafka Streams reports its thread, task and state metrics: records processed,
 * commits, standby and restored records, replaced threads, tasks by state, records left to
 * restore, entries of key-value stores and the instance's state. Everything is read from the
 * runtime when the registry is scraped, so the data path pays nothing for it.
 */
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';

/** What the runtime reports at each scrape (totals since the instance started). */
export interface StreamsSnapshot {
  state: string;
  processedRecords: number;
  commits: number;
  standbyRecords: number;
  restoredRecords: number;
  restoreRemainingRecords: number;
  replacedThreads: number;
  /** Task counts by state, standby tasks as 'Standby'. */
  tasks: Record<string, number>;
  /** Entries of each key-value store across the instance's tasks. */
  storeEntries: Record<string, number>;
}

export const STREAMS_STATES = ['CREATED', 'REBALANCING', 'RUNNING', 'PENDING_SHUTDOWN', 'NOT_RUNNING', 'ERROR'];
const TASK_STATES = ['Created', 'Restoring', 'Running', 'Suspended', 'Closed', 'Standby'];

type PromClient = typeof import('prom-client');
const requireCjs = createRequire(import.meta.url);

/**
 * Registers the metrics of one instance: `snapshot` is called at each scrape. Returns a function
 * removing the instance's series (on close). Instances sharing a registry share the metrics,
 * labelled by application id and instance (its process id).
 */
export function registerStreamsMetrics(
  register: Registry,
  prefix: string,
  labels: { application_id: string; instance: string },
  snapshot: () => StreamsSnapshot,
): () => void {
  const prom = requireCjs('prom-client') as PromClient;
  const sources = sourcesOf(register, prefix);
  sources.set(labels.instance, { labels, snapshot });
  if (!register.getSingleMetric(`${prefix}records_processed_total`)) define(prom, register, prefix, sources);
  return () => sources.delete(labels.instance);
}

interface Source {
  labels: { application_id: string; instance: string };
  snapshot: () => StreamsSnapshot;
}

/** The instances reporting into one registry under one prefix. */
const registries = new WeakMap<Registry, Map<string, Map<string, Source>>>();

function sourcesOf(register: Registry, prefix: string): Map<string, Source> {
  let byPrefix = registries.get(register);
  if (!byPrefix) registries.set(register, (byPrefix = new Map()));
  let sources = byPrefix.get(prefix);
  if (!sources) byPrefix.set(prefix, (sources = new Map()));
  return sources;
}

function define(prom: PromClient, register: Registry, prefix: string, sources: Map<string, Source>): void {
  const registers = [register];
  const base = ['application_id', 'instance'] as const;
  // Totals are reported as counters, set from the runtime's own counts at each scrape.
  const total = (name: string, help: string, pick: (s: StreamsSnapshot) => number): void => {
    new prom.Counter({
      name: prefix + name,
      help,
      labelNames: base,
      registers,
      collect() {
        this.reset();
        for (const { labels, snapshot } of sources.values()) this.inc(labels, pick(snapshot()));
      },
    });
  };
  total('records_processed_total', 'Records the instance processed.', (s) => s.processedRecords);
  total('commits_total', 'Commits (at_least_once) or committed transactions (exactly_once_v2).', (s) => s.commits);
  total('standby_records_total', 'Changelog records standby tasks applied.', (s) => s.standbyRecords);
  total('restored_records_total', 'Changelog records restored into active tasks.', (s) => s.restoredRecords);
  total('thread_replacements_total', 'Stream threads replaced after a failure.', (s) => s.replacedThreads);
  /** A gauge set at each scrape: `values` gives each instance's series, by the value of `label`. */
  const gauge = (
    name: string,
    help: string,
    label: string | null,
    values: (s: StreamsSnapshot) => Record<string, number>,
  ): void => {
    new prom.Gauge({
      name: prefix + name,
      help,
      labelNames: label === null ? base : [...base, label],
      registers,
      collect() {
        this.reset();
        for (const { labels, snapshot } of sources.values())
          for (const [key, n] of Object.entries(values(snapshot())))
            this.set(label === null ? labels : { ...labels, [label]: key }, n);
      },
    });
  };
  gauge('restore_remaining_records', 'Changelog records still to restore before tasks can run.', null, (s) => ({
    '': s.restoreRemainingRecords,
  }));
  gauge('tasks', 'Tasks of the instance by state (standby tasks as Standby).', 'state', (s) =>
    Object.fromEntries(TASK_STATES.map((state) => [state, s.tasks[state] ?? 0])),
  );
  gauge(
    'store_entries',
    "Entries of each key-value store across the instance's tasks.",
    'store',
    (s) => s.storeEntries,
  );
  gauge('state', 'The instance state (1 for the current one), as KafkaStreams.State.', 'state', (s) =>
    Object.fromEntries(STREAMS_STATES.map((state) => [state, state === s.state ? 1 : 0])),
  );
}
