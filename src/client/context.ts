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

/** Errors after which the client's view of leaders is stale. */
export const METADATA_ERRORS = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'NETWORK_EXCEPTION',
  'NOT_CONTROLLER',
]);

export function needsMetadataRefresh(err: unknown): boolean {
  return err instanceof MillraceError && METADATA_ERRORS.has(err.errorName);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
