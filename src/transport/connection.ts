import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MillraceError } from '../../protocol/errors.js';
import { natsSecurityOptions, type NatsCredentials } from './security.js';

export interface NatsOptions {
  servers: string | string[];
  name: string;
  /** Authentication and TLS, where the server asks for them. */
  credentials?: NatsCredentials;
}

/**
 * Connects with the hot-path settings DESIGN.md asks for: no async stack traces, no echo of our
 * own messages, and reconnects forever (a broker outlives NATS restarts).
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const security = natsSecurityOptions(options.credentials);
  try {
    return await connect({
      ...security,
      servers: options.servers,
      name: options.name,
      noAsyncTraces: true,
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      timeout: 5_000,
    });
  } catch (err) {
    throw new MillraceError(
      'NETWORK_EXCEPTION',
      `cannot connect to NATS at ${String(options.servers)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** The largest message the server accepts (1 MiB by default). */
export function maxPayload(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1024 * 1024;
}
