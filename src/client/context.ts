/** What the admin, producer and consumer of one Millrace client share. */
import type { NatsConnection } from '@nats-io/transport-node';
import { MillraceError, type ErrorName } from '../../protocol/errors.js';
import { subjects, type BrokerApi } from '../../protocol/subjects.js';
import { exchange, request, type MessageSizes, type MessageType } from '../transport/rpc.js';
import type { ClientMetrics } from './client-metrics.js';
import { channels, traced, type Logger, type RequestPayload, type RequestTimeoutPayload } from './instrumentation.js';
import type { MetadataCache } from './metadata.js';

/** Where a component (producer, consumer, admin) hears of its own requests. */
export interface RequestReporter {
  request(payload: RequestPayload): void;
  timeout(payload: RequestTimeoutPayload): void;
}

export interface ClientContext {
  cluster: string;
  clientId: string;
  requestTimeoutMs: number;
  connection(): Promise<NatsConnection>;
  metadata: MetadataCache;
  /** Retries retriable errors with backoff (refreshing metadata) until `deadlineMs` passes. */
  retry<T>(fn: () => Promise<T>, deadlineMs?: number): Promise<T>;
  logger: Logger;
  metrics: ClientMetrics | null;
  reporter: RequestReporter | null;
}

/** The same client seen by one component: its requests are reported to it. */
export function forComponent(ctx: ClientContext, reporter: RequestReporter): ClientContext {
  return { ...ctx, reporter };
}

/**
 * A request to one broker's API, observed: the component's request events, the request-duration
 * metric and the `millrace:request` tracing channel. `raw` returns a reply that carries an error
 * code instead of throwing it (for replies with data beside the error).
 */
export async function callBroker<ReqI, Res>(
  ctx: ClientContext,
  broker: number,
  api: BrokerApi,
  requestType: MessageType<ReqI, unknown>,
  message: ReqI,
  responseType: MessageType<unknown, Res>,
  timeoutMs = ctx.requestTimeoutMs,
  raw = false,
): Promise<Res> {
  const nc = await ctx.connection();
  const subject = subjects.brokerApi(ctx.cluster, broker, api);
  if (!ctx.reporter && !ctx.metrics && !channels.request.hasSubscribers)
    return (raw ? exchange : request)(nc, subject, requestType, message, responseType, timeoutMs);
  const sizes: MessageSizes = { request: 0, response: 0 };
  const started = performance.now();
  let error: ErrorName | 'NONE' = 'NONE';
  try {
    return await traced(channels.request, { broker, apiName: api, clientId: ctx.clientId }, () =>
      (raw ? exchange : request)(nc, subject, requestType, message, responseType, timeoutMs, sizes),
    );
  } catch (err) {
    error = MillraceError.from(err).errorName;
    if (error === 'REQUEST_TIMED_OUT')
      ctx.reporter?.timeout({ broker, apiName: api, clientId: ctx.clientId, timeoutMs });
    throw err;
  } finally {
    const duration = performance.now() - started;
    ctx.metrics?.requestDuration.observe({ client_id: ctx.clientId, api, error }, duration / 1000);
    ctx.reporter?.request({
      broker,
      apiName: api,
      clientId: ctx.clientId,
      size: sizes.request,
      responseSize: sizes.response,
      duration,
      error,
    });
  }
}

/** Whether the client's view of leaders is stale after `err` (protocol/errors.ts classifies it). */
export function needsMetadataRefresh(err: unknown): boolean {
  return err instanceof MillraceError && err.refreshMetadata;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
