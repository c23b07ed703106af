/**
 * The streams chaos workload (Kafka's EOS test driver): numbered input keyed `k<v mod keys>` is
 * written at a steady rate while application instances (child processes, streams-app.ts)
 * aggregate it; a fault SIGKILLs an instance and starts its replacement after the fault's
 * duration. At the end the verifier reads input and outputs read_committed, recomputes every
 * aggregate from the input as written, and checks the outputs (streams-checker.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MillraceError } from '../../protocol/errors.js';
import { Millrace, type Producer } from '../client/index.js';
import type { ProcessingGuarantee } from '../streams/index.js';
import type { StreamsAppOptions } from './streams-app.js';
import {
  checkStreams,
  expectedAggregates,
  keyOfValue,
  outputsComplete,
  timestampOfValue,
  type Aggregate,
  type StreamsOutputs,
  type StreamsVerdict,
} from './streams-checker.js';

const here = fileURLToPath(import.meta.url);
/** The built application, also when this module runs from TypeScript sources (tests). */
const appScript = here.endsWith('.ts')
  ? path.resolve(path.dirname(here), '../../dist/src/chaos/streams-app.js')
  : path.resolve(path.dirname(here), 'streams-app.js');

export interface StreamsWorkloadOptions {
  servers: string[];
  cluster: string;
  /** Where the instances' state directories go. */
  dir: string;
  applicationId: string;
  guarantee: ProcessingGuarantee;
  instances: number;
  keys: number;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  /** Input records per second. */
  rate: number;
  log?: (line: string) => void;
}

const INPUT_CHUNK = 50;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class StreamsWorkload {
  private readonly client: Millrace;
  private readonly instances: Array<ChildProcess | null> = [];
  private producer: Producer | null = null;
  private producing: Promise<void> | null = null;
  private stopping = false;
  /** Input values sent (some may have failed: the verifier reads what the input holds). */
  written = 0;
  kills = 0;

  constructor(private readonly o: StreamsWorkloadOptions) {
    this.client = new Millrace({ servers: o.servers, cluster: o.cluster, requestTimeoutMs: 10_000 });
  }

  private topic(suffix: 'in' | 'agg' | 'wcount'): string {
    return `${this.o.applicationId}-${suffix}`;
  }

  /** Creates the input and output topics and starts the instances. */
  async start(): Promise<void> {
    if (!fs.existsSync(appScript))
      throw new MillraceError('INVALID_REQUEST', `the streams application is not built (${appScript}): npm run build`);
    await this.client.admin().createTopics({
      topics: (['in', 'agg', 'wcount'] as const).map((t) => ({
        topic: this.topic(t),
        numPartitions: this.o.partitions,
        replicationFactor: this.o.replicationFactor,
        configs: { 'min.insync.replicas': String(this.o.minInsyncReplicas) },
      })),
    });
    for (let i = 0; i < this.o.instances; i++) this.instances.push(await this.startInstance());
  }

  /** Starts an instance; resolves once it runs. */
  private async startInstance(): Promise<ChildProcess> {
    const options: StreamsAppOptions = {
      servers: this.o.servers,
      cluster: this.o.cluster,
      applicationId: this.o.applicationId,
      guarantee: this.o.guarantee,
      commitIntervalMs: this.o.guarantee === 'exactly_once_v2' ? 100 : 300,
      stateDir: fs.mkdtempSync(path.join(this.o.dir, 'streams-instance-')),
    };
    const child = spawn(process.execPath, [appScript, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => this.o.log?.(`streams instance: ${d.trimEnd()}`));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('a streams instance did not start within 60 s')), 60_000);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        if (d.includes('"running"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`a streams instance exited (${code}) before it ran`));
      });
    });
    return child;
  }

  /** Writes numbered input at the workload's rate until stopInput(). */
  startInput(): void {
    this.producer = this.client.producer({ lingerMs: 2 });
    const producer = this.producer;
    const pause = Math.max(1, Math.round((1000 * INPUT_CHUNK) / this.o.rate));
    this.producing = (async () => {
      while (!this.stopping) {
        const values = Array.from({ length: INPUT_CHUNK }, (_, i) => this.written + i);
        this.written += values.length;
        await producer
          .send({
            topic: this.topic('in'),
            messages: values.map((v) => ({
              key: keyOfValue(v, this.o.keys),
              value: String(v),
              timestamp: timestampOfValue(v),
            })),
          })
          // A failed send may or may not have landed: the verifier reads what the input holds.
          .catch((err: unknown) => this.o.log?.(`input send failed: ${(err as Error).message}`));
        await sleep(pause);
      }
    })();
  }

  async stopInput(): Promise<void> {
    this.stopping = true;
    await this.producing;
    await this.producer?.close();
  }

  /** SIGKILLs instance `index` (mod the count), and starts its replacement after `downMs`. */
  async killInstance(index: number, downMs: number): Promise<void> {
    const i = index % this.instances.length;
    const child = this.instances[i];
    if (child) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    this.instances[i] = null;
    this.kills++;
    await sleep(downMs);
    this.instances[i] = await this.startInstance();
  }

  /** Reads input and outputs read_committed until the outputs caught up (or `timeoutMs`), then checks them. */
  async verify(timeoutMs: number): Promise<StreamsVerdict> {
    const input = await this.readAll<number>(this.topic('in'), timeoutMs);
    const want = expectedAggregates([...input.values()].flat(), this.o.keys);
    const deadline = Date.now() + timeoutMs;
    const got: StreamsOutputs = { aggregates: new Map(), windows: new Map() };
    const agg = this.follow<Aggregate>(this.topic('agg'), got.aggregates);
    const windows = this.follow<number>(this.topic('wcount'), got.windows);
    try {
      while (!outputsComplete(want, got) && Date.now() < deadline) await sleep(200);
    } finally {
      await agg.stop();
      await windows.stop();
    }
    return checkStreams(this.o.guarantee, want, got);
  }

  /** A topic's records read_committed up to its current end, by key, in order. */
  private async readAll<T>(topic: string, timeoutMs: number): Promise<Map<string, T[]>> {
    const ends = await this.client.admin().fetchTopicOffsets(topic, -1, { isolationLevel: 'read_committed' });
    const out = new Map<string, T[]>();
    const reader = this.follow<T>(topic, out);
    const deadline = Date.now() + timeoutMs;
    try {
      while (Date.now() < deadline) {
        if (ends.every((e) => reader.position(e.partition) >= Number(e.offset))) return out;
        await sleep(100);
      }
      throw new MillraceError('REQUEST_TIMED_OUT', `could not read ${topic} to its end within ${timeoutMs} ms`);
    } finally {
      await reader.stop();
    }
  }

  /** Follows a topic from the start, read_committed, appending each record's value under its key. */
  private follow<T>(topic: string, into: Map<string, T[]>) {
    const consumer = this.client.consumer({ isolationLevel: 'read_committed', maxWaitMs: 200 });
    consumer.assign(
      Array.from({ length: this.o.partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' as const })),
    );
    const running = consumer.run({
      eachBatch: ({ batch }) => {
        for (const r of batch.records()) {
          const key = r.key()!.toString();
          const list = into.get(key) ?? [];
          list.push(JSON.parse(r.value()!.toString()) as T);
          into.set(key, list);
        }
      },
    });
    return {
      position: (partition: number): number => Number(consumer.position({ topic, partition }) ?? -1),
      stop: async () => {
        await consumer.close();
        await running.catch(() => undefined);
      },
    };
  }

  /** Stops the instances (SIGTERM, SIGKILL after 10 s) and the input. */
  async stop(): Promise<void> {
    if (!this.stopping) await this.stopInput().catch(() => undefined);
    await Promise.all(
      this.instances.map(async (child) => {
        if (!child || child.exitCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    await this.client.close();
  }
}
