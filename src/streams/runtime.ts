/**
 * MillraceStreams, as Kafka Streams' KafkaStreams: runs a topology as one instance of an
 * application (`applicationId` is its consumer group and the prefix of its internal topics).
 * Instances of one application share its partitions through the group; each runs a stream
 * thread (stream-thread.ts). On start the internal topics are created, with one partition per
 * task (as many as the input topics have): each store's compacted changelog
 * `<applicationId>-<store>-changelog` and each repartition topic `<applicationId>-<name>-repartition`;
 * an uncaught exception in a thread goes to the handler, which replaces the thread (its tasks
 * restored from their changelogs) or shuts the instance down.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MillraceError } from '../../protocol/errors.js';
import { Millrace, type ConsumerOptions, type MillraceOptions, type Serde } from '../client/index.js';
import type { KeyValueStore } from './stores.js';
import { StreamThread, type ProcessingGuarantee } from './stream-thread.js';
import { GlobalState } from './global-state.js';
import type { RestoreProgress } from './restore.js';
import type { Topology } from './topology.js';
import {
  InteractiveQueries,
  parseEndpoint,
  type KeyQueryMetadata,
  type ReadOnlySessionStore,
  type ReadOnlyWindowStore,
  type StreamsMetadata,
} from './queries.js';
import type { HostTasks, StreamsAssignmentInfo } from './assignor.js';
import { registerStreamsMetrics, type StreamsSnapshot } from './streams-metrics.js';
import { failOnInvalidTimestamp, type TimestampExtractor } from './timestamps.js';

export type { ProcessingGuarantee };

export interface StreamsConfig extends MillraceOptions {
  /** The application's id: its consumer group, and the prefix of its internal topics. */
  applicationId: string;
  /** Default at_least_once, as Kafka's. */
  processingGuarantee?: ProcessingGuarantee;
  /** How often offsets (and, exactly once, transactions) are committed: default 30000 ms, 100 ms exactly once. */
  commitIntervalMs?: number;
  /** Where persistent stores and the process id live (default: `<tmpdir>/millrace-streams`). */
  stateDir?: string;
  /** Replication factor of internal topics (default: the brokers' default). */
  replicationFactor?: number;
  /** The time records of sources without their own extractor count at (default: failOnInvalidTimestamp). */
  defaultTimestampExtractor?: TimestampExtractor;
  /** How often committed records of repartition topics are deleted (default 30000 ms, as Kafka's). */
  repartitionPurgeIntervalMs?: number;
  /** Standby replicas of each task's state on other instances (Kafka's num.standby.replicas; default 0). */
  numStandbyReplicas?: number;
  /**
   * `host:port` where this instance serves interactive queries (Kafka's application.server): the
   * group tells every instance which endpoint holds which tasks, for `queryMetadataForKey`.
   */
  applicationServer?: string;
  /** Group membership settings of the instance's consumer (Kafka's `consumer.`-prefixed configs). */
  consumer?: Pick<ConsumerOptions, 'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs'>;
}

/** Kafka's KafkaStreams.State. */
export type StreamsState = 'CREATED' | 'REBALANCING' | 'RUNNING' | 'PENDING_SHUTDOWN' | 'NOT_RUNNING' | 'ERROR';

/** What to do after an uncaught exception (Kafka's StreamThreadExceptionResponse). */
export type ExceptionResponse = 'REPLACE_THREAD' | 'SHUTDOWN_CLIENT';

const APPLICATION_ID = /^[a-zA-Z0-9._-]+$/;
const REPLACE_BACKOFF_MS = 200;
const REPLACE_BACKOFF_MAX_MS = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class MillraceStreams {
  private readonly client: Millrace;
  private readonly config: Required<
    Pick<StreamsConfig, 'processingGuarantee' | 'commitIntervalMs' | 'stateDir' | 'numStandbyReplicas'>
  >;
  /** Every endpoint's tasks, as the last rebalance assigned them. */
  private hosts: HostTasks[] = [];
  private readonly queries: InteractiveQueries;
  private thread: StreamThread | null = null;
  /** The global stores, read whole by this instance. */
  private readonly global: GlobalState;
  private threadIndex = 0;
  private current: StreamsState = 'CREATED';
  private readonly stateListeners: Array<(next: StreamsState, previous: StreamsState) => void> = [];
  private restoreListener: ((p: RestoreProgress & { taskId: string }) => void) | null = null;
  private exceptionHandler: (err: Error) => ExceptionResponse = () => 'SHUTDOWN_CLIENT';
  private partitions = new Map<string, number>();
  private readonly appDir: string;
  /** The instance's id, kept in its state directory (Kafka's process id): its threads' transactional ids. */
  private processId = '';
  private replaced = 0;
  /** Counts of threads that ended, so totals run across replacements. */
  private readonly retired = { processedRecords: 0, commits: 0, standbyRecords: 0 };
  /** Restoration, by task and store: records restored so far and still to restore. */
  private readonly restores = new Map<string, { restored: number; remaining: number }>();
  private restoredRecords = 0;
  private unregisterMetrics: (() => void) | null = null;
  /** Threads replaced in a row without one commit between them. */
  private failedInARow = 0;

  constructor(
    private readonly topology: Topology,
    private readonly options: StreamsConfig,
  ) {
    if (typeof options.applicationId !== 'string' || !APPLICATION_ID.test(options.applicationId))
      throw new MillraceError(
        'INVALID_CONFIG',
        `applicationId must be letters, digits, '.', '_' or '-', got '${String(options.applicationId)}'`,
      );
    const guarantee = options.processingGuarantee ?? 'at_least_once';
    if (guarantee !== 'at_least_once' && guarantee !== 'exactly_once_v2')
      throw new MillraceError(
        'INVALID_CONFIG',
        `processingGuarantee must be at_least_once or exactly_once_v2, got '${String(guarantee)}'`,
      );
    if (topology.sourceTopics.length === 0) throw new MillraceError('INVALID_CONFIG', 'the topology reads no topic');
    const standbys = options.numStandbyReplicas ?? 0;
    if (!Number.isInteger(standbys) || standbys < 0)
      throw new MillraceError('INVALID_CONFIG', `numStandbyReplicas must be a non-negative integer, got ${standbys}`);
    if (options.applicationServer !== undefined) parseEndpoint(options.applicationServer);
    this.config = {
      processingGuarantee: guarantee,
      commitIntervalMs: options.commitIntervalMs ?? (guarantee === 'exactly_once_v2' ? 100 : 30_000),
      stateDir: options.stateDir ?? path.join(os.tmpdir(), 'millrace-streams'),
      numStandbyReplicas: standbys,
    };
    this.appDir = path.join(this.config.stateDir, options.applicationId);
    topology.setApplicationId(options.applicationId);
    this.client = new Millrace(options);
    this.queries = new InteractiveQueries({
      topology,
      globalStores: () => this.global.stores,
      localStores: (name) => [...(this.thread?.stores(name).values() ?? [])],
      hosts: () => this.hosts,
      partitionCount: (topic) => this.partitions.get(topic),
    });
    this.global = new GlobalState(
      this.client,
      topology.globalStores,
      guarantee === 'exactly_once_v2' ? 'read_committed' : 'read_uncommitted',
      path.join(this.appDir, 'global'),
    );
  }

  /** A global store's reader failed: the instance cannot serve its joins any more. */
  private async globalFailed(err: Error): Promise<void> {
    if (this.current === 'PENDING_SHUTDOWN' || this.current === 'NOT_RUNNING') return;
    this.options.logger?.error({ err }, 'global store reader failed');
    const thread = this.thread;
    this.thread = null;
    if (thread) await this.stopThread(thread, false);
    this.setState('ERROR');
    await this.client.close().catch(() => undefined);
  }

  get state(): StreamsState {
    return this.current;
  }

  /** Called on every state change (Kafka's setStateListener). */
  onStateChange(listener: (next: StreamsState, previous: StreamsState) => void): void {
    this.stateListeners.push(listener);
  }

  /** Progress of each store's restoration from its changelog (Kafka's StateRestoreListener). */
  setStateRestoreListener(listener: (progress: RestoreProgress & { taskId: string }) => void): void {
    this.restoreListener = listener;
  }

  /** Decides what follows an uncaught exception; default SHUTDOWN_CLIENT. */
  setUncaughtExceptionHandler(handler: (err: Error) => ExceptionResponse): void {
    this.exceptionHandler = handler;
  }

  private setState(next: StreamsState): void {
    const previous = this.current;
    if (previous === next) return;
    this.current = next;
    for (const l of this.stateListeners) l(next, previous);
  }

  /** The changelog topic of a store: `<applicationId>-<store>-changelog`. */
  changelogTopic(store: string): string {
    return `${this.options.applicationId}-${store}-changelog`;
  }

  /** Creates the internal topics, then joins the group and starts processing. */
  async start(): Promise<void> {
    if (this.current !== 'CREATED')
      throw new MillraceError('INVALID_REQUEST', `start() on an instance in state ${this.current}`);
    this.setState('REBALANCING');
    fs.mkdirSync(this.appDir, { recursive: true });
    this.processId = readProcessId(this.appDir);
    if (this.options.metrics)
      this.unregisterMetrics = registerStreamsMetrics(
        this.options.metrics.register,
        'millrace_streams_',
        { application_id: this.options.applicationId, instance: this.processId },
        () => this.snapshot(),
      );
    await this.createInternalTopics();
    await this.global.start((err) => void this.globalFailed(err));
    await this.startThread();
    this.setState('RUNNING');
  }

  private async createInternalTopics(): Promise<void> {
    const admin = this.client.admin();
    const described = await admin
      .describeTopics([
        ...this.topology.externalSourceTopics,
        ...this.topology.sinkTopics,
        ...this.topology.globalStores.map((g) => g.topic),
      ])
      .catch((err: unknown) => {
        throw new MillraceError(
          'UNKNOWN_TOPIC_OR_PARTITION',
          `the topology's topics must exist before start(): ${(err as Error).message}`,
        );
      });
    for (const t of described) this.partitions.set(t.name, t.partitions.length);
    // As many tasks as the input has partitions; internal topics have one partition per task.
    const tasks = Math.max(...this.topology.externalSourceTopics.map((t) => this.partitions.get(t) ?? 1));
    const internal = [
      ...this.topology.stores.map((s) => ({ topic: this.changelogTopic(s.name), policy: 'compact' })),
      ...this.topology.internalTopics.map((topic) => ({ topic, policy: 'delete' })),
    ];
    for (const { topic } of internal) this.partitions.set(topic, tasks);
    if (internal.length === 0) return;
    await admin.createTopics({
      topics: internal.map(({ topic, policy }) => ({
        topic,
        numPartitions: tasks,
        replicationFactor: this.options.replicationFactor ?? -1,
        configs: { 'cleanup.policy': policy },
      })),
    });
  }

  private async startThread(): Promise<void> {
    const name = `${this.options.applicationId}-${this.processId}-StreamThread-${++this.threadIndex}`;
    const thread = new StreamThread(this.client, this.topology, {
      applicationId: this.options.applicationId,
      name,
      processingGuarantee: this.config.processingGuarantee,
      commitIntervalMs: this.config.commitIntervalMs,
      consumer: this.options.consumer ?? {},
      stateDir: this.appDir,
      partitionCount: (topic) => this.partitions.get(topic) ?? 1,
      changelogTopic: (store) => this.changelogTopic(store),
      globalStores: this.global.stores,
      numStandbys: this.config.numStandbyReplicas,
      defaultTimestampExtractor: this.options.defaultTimestampExtractor ?? failOnInvalidTimestamp,
      repartitionPurgeIntervalMs: this.options.repartitionPurgeIntervalMs ?? 30_000,
      processId: this.processId,
      endpoint: this.options.applicationServer ?? null,
      onAssignmentInfo: (info: StreamsAssignmentInfo) => {
        this.hosts = info.hosts;
      },
      onRestore: (p) => {
        this.restoreProgress(p);
        this.restoreListener?.(p);
      },
      onError: (err) => void this.threadFailed(thread, err),
      log: (msg, fields) => this.options.logger?.info({ thread: name, ...fields }, msg),
    });
    this.thread = thread;
    await thread.start();
  }

  private restoreProgress(p: RestoreProgress & { taskId: string }): void {
    const id = `${p.taskId}/${p.store}`;
    const last = this.restores.get(id);
    // A new restoration of the task's store counts from 0 again.
    const before = last && p.restored >= last.restored ? last.restored : 0;
    this.restoredRecords += p.restored - before;
    const remaining = p.done ? 0 : Math.max(0, p.endOffset - p.startOffset - p.restored);
    this.restores.set(id, { restored: p.restored, remaining });
  }

  /** Stops a thread, keeping its counts in the instance's totals. */
  private async stopThread(thread: StreamThread, clean: boolean): Promise<void> {
    await thread.stop(clean);
    this.retired.processedRecords += thread.processedRecords;
    this.retired.commits += thread.commits;
    this.retired.standbyRecords += thread.standbyRecords;
  }

  /** What the Prometheus metrics report, at each scrape. */
  private snapshot(): StreamsSnapshot {
    const thread = this.thread;
    const tasks: Record<string, number> = {};
    for (const t of thread?.taskStates() ?? []) tasks[t.state] = (tasks[t.state] ?? 0) + 1;
    tasks.Standby = thread?.standbyTasks.length ?? 0;
    const storeEntries: Record<string, number> = {};
    for (const spec of this.topology.stores)
      for (const store of thread?.stores(spec.name).values() ?? [])
        if (isKeyValueStore(store))
          storeEntries[spec.name] = (storeEntries[spec.name] ?? 0) + store.approximateNumEntries();
    return {
      state: this.current,
      processedRecords: this.retired.processedRecords + (thread?.processedRecords ?? 0),
      commits: this.retired.commits + (thread?.commits ?? 0),
      standbyRecords: this.retired.standbyRecords + (thread?.standbyRecords ?? 0),
      restoredRecords: this.restoredRecords,
      restoreRemainingRecords: [...this.restores.values()].reduce((n, r) => n + r.remaining, 0),
      replacedThreads: this.replaced,
      tasks,
      storeEntries,
    };
  }

  private async threadFailed(thread: StreamThread, err: Error): Promise<void> {
    if (this.thread !== thread) return;
    this.options.logger?.error({ err }, 'stream thread failed');
    let response: ExceptionResponse;
    try {
      // The thread's tasks moved or its transaction cannot go on (Kafka's TaskMigratedException):
      // the runtime's own business, not the application's handler's. A new thread rejoins.
      response = isTaskMigrated(err) ? 'REPLACE_THREAD' : this.exceptionHandler(err);
    } catch {
      response = 'SHUTDOWN_CLIENT';
    }
    this.thread = null;
    await this.stopThread(thread, false);
    if (response === 'REPLACE_THREAD' && this.current === 'RUNNING') {
      this.replaced++;
      // Threads failing one after the other (a cluster that cannot take commits yet) are
      // replaced after a growing pause, so their group joins do not keep the group rebalancing.
      const failedInARow = thread.commits === 0 ? this.failedInARow + 1 : 1;
      this.failedInARow = failedInARow;
      await sleep(Math.min(REPLACE_BACKOFF_MAX_MS, REPLACE_BACKOFF_MS * 2 ** (failedInARow - 1)));
      if (this.current !== 'RUNNING') return;
      await this.startThread().catch((e: unknown) => this.threadFailed(this.thread!, e as Error));
      return;
    }
    this.setState('ERROR');
    await this.client.close().catch(() => undefined);
  }

  /**
   * A key-value store of this instance, for interactive queries: reads go to the local task
   * holding the key; a global store is whole here (queries.ts).
   */
  store<K, V>(name: string): Pick<KeyValueStore<K, V>, 'get' | 'all' | 'approximateNumEntries'> {
    return this.queries.store<K, V>(name);
  }

  /** A window store of this instance, for interactive queries (Kafka's ReadOnlyWindowStore). */
  windowStore<K, V>(name: string): ReadOnlyWindowStore<K, V> {
    return this.queries.windowStore<K, V>(name);
  }

  /** A session store of this instance, for interactive queries. */
  sessionStore<K, V>(name: string): ReadOnlySessionStore<K, V> {
    return this.queries.sessionStore<K, V>(name);
  }

  /** Which instance holds `key` in `storeName` (Kafka's queryMetadataForKey). */
  queryMetadataForKey<K>(storeName: string, key: K, keySerde: Serde<K>): KeyQueryMetadata {
    return this.queries.queryMetadataForKey(storeName, key, keySerde);
  }

  /** Every instance with an applicationServer, and what it holds (Kafka's metadataForAllStreamsClients). */
  metadataForAllStreamsClients(): StreamsMetadata[] {
    return this.queries.metadataForAllStreamsClients();
  }

  /** Records processed, commits, replaced threads and each task's state. */
  metrics(): {
    processedRecords: number;
    /** When the current thread began its first batch (performance.now() ms; null: not yet). */
    firstBatchAt: number | null;
    commits: number;
    replacedThreads: number;
    tasks: Array<{ taskId: string; state: string }>;
    standbyTasks: string[];
    /** Changelog records the current thread's standby tasks applied. */
    standbyRecords: number;
  } {
    return {
      processedRecords: this.thread?.processedRecords ?? 0,
      firstBatchAt: this.thread?.firstBatchAt ?? null,
      commits: this.thread?.commits ?? 0,
      replacedThreads: this.replaced,
      tasks: this.thread?.taskStates() ?? [],
      standbyTasks: (this.thread?.standbyTasks ?? []).map((p) => `0_${p}`),
      standbyRecords: this.thread?.standbyRecords ?? 0,
    };
  }

  /** Commits what was processed, leaves the group and closes the client. */
  async close(): Promise<void> {
    if (this.current === 'NOT_RUNNING') return;
    this.setState('PENDING_SHUTDOWN');
    const thread = this.thread;
    this.thread = null;
    if (thread) await this.stopThread(thread, true);
    this.unregisterMetrics?.();
    await this.global.stop();
    await this.client.close().catch(() => undefined);
    this.setState('NOT_RUNNING');
  }
}

const isKeyValueStore = (store: unknown): store is KeyValueStore<unknown, unknown> =>
  typeof (store as Partial<KeyValueStore<unknown, unknown>>).approximateNumEntries === 'function';

/** Errors that mean the thread's tasks went to another member, or its producer was fenced. */
const TASK_MIGRATED = new Set([
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'REBALANCE_IN_PROGRESS',
  'FENCED_INSTANCE_ID',
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTION_ABORTABLE',
]);

const isTaskMigrated = (err: Error): boolean => err instanceof MillraceError && TASK_MIGRATED.has(err.errorName);

/** The instance's process id, made once and kept in its state directory (as Kafka Streams keeps it). */
function readProcessId(dir: string): string {
  const file = path.join(dir, 'kafka-streams-process-metadata');
  try {
    const id = (JSON.parse(fs.readFileSync(file, 'utf8')) as { processId?: unknown }).processId;
    if (typeof id === 'string' && id) return id;
  } catch {
    // Missing or unreadable: a new id.
  }
  const id = randomUUID();
  fs.writeFileSync(file, JSON.stringify({ processId: id }));
  return id;
}
