/** What the admin, producer and consumer of one Millrace client share. */
import type { NatsConnection } from '@nats-io/transport-node';
import { MillraceError } from '../../protocol/errors.js';
import type { MetadataCache } from './metadata.js';

export interface ClientContext {
  cluster: string;
  clientId: string;
  requestTimeoutMs: number;
  connection(): Promise<NatsConnection>;
  metadata: MetadataCache;
  /** Retries retriable errors with backoff (refreshing metadata) until `deadlineMs` passes. */
  retry<T>(fn: () => Promise<T>, deadlineMs?: number): Promise<T>;
}

/** Whether the client's view of leaders is stale after `err` (protocol/errors.ts classifies it). */
export function needsMetadataRefresh(err: unknown): boolean {
  return err instanceof MillraceError && err.refreshMetadata;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
