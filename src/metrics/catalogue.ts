/**
 * The broker's metrics: one prom-client registry per broker (several brokers may share a
 * process in tests and `millrace dev`). Names are millrace_*, in base units, with Kafka's
 * meanings where Kafka has the metric.
 */
import * as http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { logFiles } from '../storage/file-handles.js';
import type { CleanResult } from '../storage/cleaner.js';
import type { ErrorName } from '../../protocol/errors.js';

export interface PartitionGauges {
  topic: string;
  partition: number;
  size: number;
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
  leader: boolean;
  replicas: number;
  isr: number;
  minInsync: number;
  /** As follower: the leader's log end minus this log's end at the last fetch; -1 as leader. */
  followerLag: number;
  segments: number;
}

/** What only the active controller sees whole: partitions without a leader, and per topic those led by another than their preferred replica. */
export interface ControllerGauges {
  offline: number;
  notOnPreferredLeader: Map<string, number>;
}

export interface GroupGauges {
  group: string;
  state: string;
  members: number;
}

export interface GroupLag {
  group: string;
  topic: string;
  partition: number;
  lag: number;
}

const GROUP_STATES = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'];

const ELECTION_REASONS = [
  'fenced',
  'controlled_shutdown',
  'broker_returned',
  'preferred',
  'unclean',
  'reassignment',
] as const;
export type ElectionReason = (typeof ELECTION_REASONS)[number];

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'api' | 'error'>;
  readonly requestSeconds: Histogram<'api'>;
  readonly messagesIn: Counter<'topic'>;
  readonly bytesIn: Counter<'topic'>;
  readonly duplicateBatches: Counter<'topic'>;
  readonly quotaThrottle: Counter<'door' | 'quota'>;
  readonly messagesOut: Counter<'topic'>;
  readonly bytesOut: Counter<'topic'>;
  readonly activeController: Gauge;
  readonly isrShrinks: Counter;
  readonly isrExpands: Counter;
  readonly leaderElections: Counter<'reason'>;
  readonly groupRebalances: Counter<'group'>;
  private readonly cleanerRuns: Counter;
  private readonly cleanerRecordsRemoved: Counter;
  private readonly cleanerBytesRead: Counter;
  private readonly cleanerBytesWritten: Counter;
  private readonly cleanerLastRunSeconds: Gauge;
  private readonly cleanerMaxDirtyRatio: Gauge;

  constructor(
    info: { brokerId: number; cluster: string; rack: string | null; version: string },
    partitions: () => PartitionGauges[],
    /** Groups this broker coordinates, and the lag of their committed offsets. */
    groups: () => GroupGauges[],
    groupLag: () => GroupLag[],
    /** The active controller's view (null elsewhere). */
    controllerView: () => ControllerGauges | null = () => null,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'millrace_' });
    this.requests = new Counter({
      name: 'millrace_requests_total',
      help: 'Requests handled, by API and error code name (NONE when it succeeded)',
      labelNames: ['api', 'error'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'millrace_request_duration_seconds',
      help: 'Time from receiving a request to sending its reply, long-poll waits included',
      labelNames: ['api'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.messagesIn = new Counter({
      name: 'millrace_messages_in_total',
      help: 'Records appended as leader',
      labelNames: ['topic'],
      registers,
    });
    this.bytesIn = new Counter({
      name: 'millrace_bytes_in_total',
      help: 'Record batch bytes appended as leader',
      labelNames: ['topic'],
      registers,
    });
    this.quotaThrottle = new Counter({
      name: 'millrace_client_quota_throttle_seconds_total',
      help: 'Time clients were told to wait for exceeding a client quota, by door and quota',
      labelNames: ['door', 'quota'],
      registers,
    });
    this.duplicateBatches = new Counter({
      name: 'millrace_producer_duplicate_batches_total',
      help: 'Retried batches of idempotent producers recognised as already written (answered, not appended)',
      labelNames: ['topic'],
      registers,
    });
    this.messagesOut = new Counter({
      name: 'millrace_messages_out_total',
      help: 'Records returned by fetches (whole batches)',
      labelNames: ['topic'],
      registers,
    });
    this.bytesOut = new Counter({
      name: 'millrace_bytes_out_total',
      help: 'Record batch bytes returned by fetches',
      labelNames: ['topic'],
      registers,
    });
    this.activeController = new Gauge({
      name: 'millrace_active_controller',
      help: '1 when this broker is the active controller',
      registers,
    });
    new Gauge({
      name: 'millrace_broker_info',
      help: 'Broker identity (value 1)',
      labelNames: ['broker_id', 'cluster', 'rack', 'version'],
      registers,
    }).set(
      { broker_id: String(info.brokerId), cluster: info.cluster, rack: info.rack ?? '', version: info.version },
      1,
    );
    this.isrShrinks = new Counter({
      name: 'millrace_isr_shrinks_total',
      help: 'ISR shrinks committed for partitions this broker leads',
      registers,
    });
    this.isrExpands = new Counter({
      name: 'millrace_isr_expands_total',
      help: 'ISR expansions committed for partitions this broker leads',
      registers,
    });
    this.leaderElections = new Counter({
      name: 'millrace_leader_elections_total',
      help: 'Leader changes made by this broker as controller, by reason',
      labelNames: ['reason'],
      registers,
    });
    // Every reason from the start, at 0: a dashboard or alert sees the series before the first election.
    for (const reason of ELECTION_REASONS) this.leaderElections.inc({ reason }, 0);
    this.cleanerRuns = new Counter({
      name: 'millrace_log_cleaner_runs_total',
      help: 'Compaction passes that cleaned a log',
      registers,
    });
    this.cleanerRecordsRemoved = new Counter({
      name: 'millrace_log_cleaner_records_removed_total',
      help: 'Records compaction removed (superseded, and expired tombstones)',
      registers,
    });
    this.cleanerBytesRead = new Counter({
      name: 'millrace_log_cleaner_bytes_read_total',
      help: 'Bytes the cleaner read',
      registers,
    });
    this.cleanerBytesWritten = new Counter({
      name: 'millrace_log_cleaner_bytes_written_total',
      help: 'Bytes of cleaned segments the cleaner wrote',
      registers,
    });
    this.cleanerLastRunSeconds = new Gauge({
      name: 'millrace_log_cleaner_last_run_seconds',
      help: 'Duration of the last compaction pass',
      registers,
    });
    this.cleanerMaxDirtyRatio = new Gauge({
      name: 'millrace_log_cleaner_max_dirty_ratio',
      help: 'Largest uncleaned share of a compacted log, at the last pass',
      registers,
    });
    this.groupRebalances = new Counter({
      name: 'millrace_consumer_group_rebalances_total',
      help: 'Rebalances started, for groups this broker coordinates',
      labelNames: ['group'],
      registers,
    });
    new Gauge({
      name: 'millrace_consumer_group_members',
      help: 'Members of each group this broker coordinates',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of groups()) this.set({ group: g.group }, g.members);
      },
    });
    new Gauge({
      name: 'millrace_consumer_group_state',
      help: "1 for each coordinated group's current state (Empty, PreparingRebalance, CompletingRebalance, Stable)",
      labelNames: ['group', 'state'],
      registers,
      collect() {
        this.reset();
        for (const g of groups())
          for (const s of GROUP_STATES) this.set({ group: g.group, state: s }, s === g.state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'millrace_consumer_group_lag',
      help: 'High watermark minus committed offset, per partition of each coordinated group (refreshed every 5 s)',
      labelNames: ['group', 'topic', 'partition'],
      registers,
      collect() {
        this.reset();
        for (const l of groupLag()) this.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, l.lag);
      },
    });
    new Gauge({
      name: 'millrace_under_replicated_partitions',
      help: 'Partitions led here whose ISR is smaller than their replica set',
      registers,
      collect() {
        this.set(partitions().filter((p) => p.leader && p.isr < p.replicas).length);
      },
    });
    new Gauge({
      name: 'millrace_under_min_isr_partitions',
      help: 'Partitions led here whose ISR is below min.insync.replicas (acks=all fails)',
      registers,
      collect() {
        this.set(partitions().filter((p) => p.leader && p.isr < p.minInsync).length);
      },
    });
    new Gauge({
      name: 'millrace_offline_partitions',
      help: 'Partitions without a leader (reported by the active controller, 0 elsewhere)',
      registers,
      collect() {
        this.set(controllerView()?.offline ?? 0);
      },
    });
    new Gauge({
      name: 'millrace_partitions_not_on_preferred_leader',
      help: 'Partitions of each topic led by another broker than their preferred (first) replica (reported by the active controller)',
      labelNames: ['topic'],
      registers,
      collect() {
        this.reset();
        for (const [topic, n] of controllerView()?.notOnPreferredLeader ?? []) this.set({ topic }, n);
      },
    });
    const perPartition = (name: string, help: string, pick: (p: PartitionGauges) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'partition'],
        registers,
        collect() {
          this.reset();
          for (const p of partitions()) this.set({ topic: p.topic, partition: String(p.partition) }, pick(p));
        },
      });
    };
    perPartition('millrace_log_size_bytes', 'Bytes of the partition log on disk', (p) => p.size);
    perPartition('millrace_log_start_offset', 'First offset of the partition log', (p) => p.logStartOffset);
    perPartition('millrace_log_end_offset', 'Offset after the last record of the partition log', (p) => p.logEndOffset);
    perPartition('millrace_high_watermark', 'High watermark of the partition', (p) => p.highWatermark);
    perPartition(
      'millrace_follower_lag_offsets',
      "As follower: offsets behind the leader's log end at the last fetch (-1 as leader)",
      (p) => p.followerLag,
    );
    perPartition('millrace_log_segments', 'Segments of the partition log', (p) => p.segments);
    new Gauge({
      name: 'millrace_log_open_files',
      help: 'Log segment and index files held open (a least-recently-used pool bounds them)',
      registers,
      collect() {
        this.set(logFiles.size);
      },
    });
    let evictionsCounted = 0;
    new Counter({
      name: 'millrace_log_file_evictions_total',
      help: 'Log files closed by the open-file pool to stay within its bound (reopened on next use)',
      registers,
      collect() {
        this.inc(logFiles.evictions - evictionsCounted);
        evictionsCounted = logFiles.evictions;
      },
    });
    new Gauge({
      name: 'millrace_partitions',
      help: 'Partition replicas hosted by this broker',
      registers,
      collect() {
        this.set(partitions().length);
      },
    });
    new Gauge({
      name: 'millrace_leader_partitions',
      help: 'Partitions this broker leads',
      registers,
      collect() {
        this.set(partitions().filter((p) => p.leader).length);
      },
    });
  }

  observeRequest(api: string, error: ErrorName | 'NONE', seconds: number): void {
    this.requests.inc({ api, error });
    this.requestSeconds.observe({ api }, seconds);
  }

  /**
   * Serves GET /metrics, /health (200 while the process serves HTTP) and /ready (200 once
   * `readiness` says so, else 503 with its reason), for probes and container health checks;
   * resolves with the bound port.
   */
  serve(
    port: number,
    host: string,
    readiness: () => { ready: boolean; reason: string } = () => ({ ready: true, reason: 'ready' }),
  ): Promise<{ port: number; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.url === '/health') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      }
      if (req.url === '/ready') {
        const r = readiness();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${r.reason}\n`);
        return;
      }
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found: try /metrics, /health or /ready\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(String(err)),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const address = server.address();
        resolve({
          port: typeof address === 'object' && address ? address.port : port,
          close: () => new Promise((done) => server.close(() => done())),
        });
      });
    });
  }

  /** Records a compaction pass. */
  cleaned(result: CleanResult, maxDirtyRatio: number): void {
    this.cleanerRuns.inc();
    this.cleanerRecordsRemoved.inc(result.recordsRemoved);
    this.cleanerBytesRead.inc(result.bytesRead);
    this.cleanerBytesWritten.inc(result.bytesWritten);
    this.cleanerLastRunSeconds.set(result.ms / 1000);
    this.cleanerMaxDirtyRatio.set(maxDirtyRatio);
  }
}
