/**
 * What the SDK tells the application about itself: a pino-compatible logger (silent unless one is
 * given), instrumentation events per producer, consumer and admin (kafkajs's names and payload
 * envelope, so existing listeners port over), and `node:diagnostics_channel` tracing channels
 * that tracing tools subscribe to without the application wiring anything.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type { ErrorName } from '../../protocol/errors.js';

/** The subset of pino's API the SDK calls: pino, or anything with these four methods. */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const ignore = (): void => undefined;
export const silentLogger: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore };

/** What every listener receives, as kafkajs's InstrumentationEvent. */
export interface InstrumentationEvent<T> {
  id: number;
  type: string;
  timestamp: number;
  payload: T;
}

export interface RequestPayload {
  /** The broker asked, or null for the metadata subject any broker answers. */
  broker: number | null;
  apiName: string;
  clientId: string;
  /** Bytes of the request and of its reply (0 when none came). */
  size: number;
  responseSize: number;
  /** Milliseconds from send to reply or failure. */
  duration: number;
  /** The error the request ended with, 'NONE' when it succeeded. */
  error: ErrorName | 'NONE';
}

export interface RequestTimeoutPayload {
  broker: number | null;
  apiName: string;
  clientId: string;
  timeoutMs: number;
}

export type ProducerEvents = {
  'producer.connect': Record<string, never>;
  'producer.disconnect': Record<string, never>;
  'producer.network.request': RequestPayload;
  'producer.network.request_timeout': RequestTimeoutPayload;
};

export type AdminEvents = {
  'admin.network.request': RequestPayload;
  'admin.network.request_timeout': RequestTimeoutPayload;
};

export interface BatchPayload {
  topic: string;
  partition: number;
  highWatermark: bigint;
  /** Records between the batch's last offset and the high watermark. */
  offsetLag: bigint;
  batchSize: number;
  firstOffset: bigint | null;
  lastOffset: bigint;
}

export type ConsumerEvents = {
  'consumer.connect': Record<string, never>;
  'consumer.disconnect': Record<string, never>;
  'consumer.stop': Record<string, never>;
  'consumer.network.request': RequestPayload;
  'consumer.network.request_timeout': RequestTimeoutPayload;
  'consumer.group_join': {
    groupId: string;
    memberId: string;
    leaderId: string;
    isLeader: boolean;
    groupProtocol: string;
    generationId: number;
    memberAssignment: Record<string, number[]>;
    /** Milliseconds the join and sync took. */
    duration: number;
  };
  'consumer.rebalancing': { groupId: string; memberId: string };
  'consumer.heartbeat': { groupId: string; memberId: string; groupGenerationId: number };
  'consumer.commit_offsets': {
    groupId: string;
    memberId: string;
    groupGenerationId: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
  };
  'consumer.crash': { error: Error; groupId: string | null; restart: boolean };
  'consumer.start_batch_process': BatchPayload;
  'consumer.end_batch_process': BatchPayload & { duration: number };
};

/** kafkajs's `consumer.events`, `producer.events` and `admin.events`. */
export const CONSUMER_EVENTS = {
  CONNECT: 'consumer.connect',
  DISCONNECT: 'consumer.disconnect',
  STOP: 'consumer.stop',
  REQUEST: 'consumer.network.request',
  REQUEST_TIMEOUT: 'consumer.network.request_timeout',
  GROUP_JOIN: 'consumer.group_join',
  REBALANCING: 'consumer.rebalancing',
  HEARTBEAT: 'consumer.heartbeat',
  COMMIT_OFFSETS: 'consumer.commit_offsets',
  CRASH: 'consumer.crash',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
} as const satisfies Record<string, keyof ConsumerEvents>;

export const PRODUCER_EVENTS = {
  CONNECT: 'producer.connect',
  DISCONNECT: 'producer.disconnect',
  REQUEST: 'producer.network.request',
  REQUEST_TIMEOUT: 'producer.network.request_timeout',
} as const satisfies Record<string, keyof ProducerEvents>;

export const ADMIN_EVENTS = {
  REQUEST: 'admin.network.request',
  REQUEST_TIMEOUT: 'admin.network.request_timeout',
} as const satisfies Record<string, keyof AdminEvents>;

type Listener<T> = (event: InstrumentationEvent<T>) => void;

let nextEventId = 0;

/** A typed event emitter: `on` returns the function that removes the listener, as kafkajs's. */
export class Instrumentation<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly logger: Logger) {}

  on<K extends keyof Events & string>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** A listener that throws is logged and does not stop the others, nor the SDK. */
  emit<K extends keyof Events & string>(type: K, payload: Events[K]): void {
    const set = this.listeners.get(type);
    if (!set || set.size === 0) return;
    const event: InstrumentationEvent<Events[K]> = { id: nextEventId++, type, timestamp: Date.now(), payload };
    for (const listener of set) {
      try {
        (listener as Listener<Events[K]>)(event);
      } catch (err) {
        this.logger.error({ err, event: type }, 'an instrumentation listener threw');
      }
    }
  }
}

/**
 * Tracing channels (`node:diagnostics_channel`): each publishes start, end, asyncStart, asyncEnd
 * and error with a context object, the shape OpenTelemetry and APM agents subscribe to.
 * - `millrace:request`: every request to a broker ({ broker, apiName, clientId }).
 * - `millrace:producer:send`: each `send` ({ topic, messages, clientId }).
 * - `millrace:consumer:process`: each call of `eachMessage` ({ topic, partition, message }) or
 *   `eachBatch` ({ topic, partition, batch }).
 */
export const channels = {
  request: tracingChannel<object, object>('millrace:request'),
  send: tracingChannel<object, object>('millrace:producer:send'),
  process: tracingChannel<object, object>('millrace:consumer:process'),
};

/** Runs `fn` inside a tracing channel when something subscribes to it, else just runs it. */
export function traced<T>(
  channel: (typeof channels)[keyof typeof channels],
  context: object,
  fn: () => Promise<T>,
): Promise<T> {
  return channel.hasSubscribers ? channel.tracePromise(fn, context) : fn();
}
