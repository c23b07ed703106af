/** Starts brokers in this process against a test nats-server, each with its own data directory. */
import * as fs from 'node:fs';
import { pino } from 'pino';
import { Broker } from '../../src/broker/broker.js';
import { resolveBrokerConfig, type BrokerConfigInput } from '../../src/broker/config.js';
import { tempDir } from './storage.js';

let clusterCounter = 0;

/** A cluster name no other test uses: buckets and subjects are per cluster. */
export function uniqueCluster(prefix = 't'): string {
  return `${prefix}${process.pid}_${Date.now().toString(36)}_${clusterCounter++}`;
}

export interface TestBroker {
  broker: Broker;
  dataDir: string;
}

export async function startBroker(
  nats: string,
  cluster: string,
  id: number,
  overrides: Partial<BrokerConfigInput> = {},
  dataDir = tempDir(`millrace-b${id}-`),
): Promise<TestBroker> {
  const config = resolveBrokerConfig({
    id,
    nats,
    cluster,
    dataDir,
    metricsPort: 0,
    heartbeatIntervalMs: 200,
    sessionTimeoutMs: 2_000,
    controllerLeaseMs: 2_000,
    ...overrides,
  });
  const broker = await Broker.start(config, pino({ level: process.env.MILLRACE_TEST_LOG ?? 'silent' }));
  return { broker, dataDir };
}

/** Broker settings for group tests: one offsets partition, short delays and sessions. */
export const QUICK_GROUPS = {
  offsetsTopicPartitions: 1,
  groupInitialRebalanceDelayMs: 100,
  groupMinSessionTimeoutMs: 500,
} as const;

export async function stopAll(brokers: TestBroker[], removeData = true): Promise<void> {
  await Promise.allSettled(brokers.map((b) => b.broker.stop()));
  if (removeData) for (const b of brokers) fs.rmSync(b.dataDir, { recursive: true, force: true });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
