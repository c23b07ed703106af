/** The SDK's entry point: one NATS connection shared by an admin, producers and consumers. */
import type { NatsConnection } from '@nats-io/transport-node';
import { MillraceError } from '../../protocol/errors.js';
import { CLUSTER_NAME } from '../../protocol/subjects.js';
import { connectNats } from '../transport/connection.js';
import { Admin } from './admin.js';
import { Consumer } from './consumer.js';
import { needsMetadataRefresh, sleep, type ClientContext } from './context.js';
import { MetadataCache } from './metadata.js';
import { Producer } from './producer.js';
import type { ConsumerOptions, MillraceOptions, ProducerOptions } from './types.js';

export class Millrace {
  private nc: Promise<NatsConnection> | null = null;
  private closed = false;
  private readonly ctx: ClientContext;
  private readonly closables: Array<{ close(): Promise<void> }> = [];

  constructor(options: MillraceOptions) {
    if (!CLUSTER_NAME.test(options.cluster ?? '')) {
      throw new MillraceError(
        'INVALID_CONFIG',
        `cluster '${options.cluster}' must be 1-64 letters, digits, '_' or '-'`,
      );
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const connection = (): Promise<NatsConnection> => {
      if (this.closed) return Promise.reject(new MillraceError('INVALID_REQUEST', 'this Millrace client is closed'));
      this.nc ??= connectNats({
        servers: options.servers,
        name: options.clientId ?? 'millrace-client',
        credentials: options.credentials,
      }).catch((err: unknown) => {
        this.nc = null;
        throw err;
      });
      return this.nc;
    };
    const metadata = new MetadataCache(connection, options.cluster, requestTimeoutMs);
    this.ctx = {
      cluster: options.cluster,
      clientId: options.clientId ?? 'millrace-client',
      requestTimeoutMs,
      connection,
      metadata,
      async retry<T>(fn: () => Promise<T>, deadlineMs = requestTimeoutMs): Promise<T> {
        const deadline = Date.now() + deadlineMs;
        for (let attempt = 0; ; attempt++) {
          try {
            return await fn();
          } catch (err) {
            const retriable = err instanceof MillraceError && err.retriable;
            if (!retriable || Date.now() >= deadline) throw err;
            if (needsMetadataRefresh(err)) await metadata.refresh().catch(() => undefined);
            await sleep(Math.min(50 * 2 ** attempt, 1_000));
          }
        }
      },
    };
  }

  admin(): Admin {
    return new Admin(this.ctx);
  }

  producer(options: ProducerOptions = {}): Producer {
    const p = new Producer(this.ctx, options);
    this.closables.push(p);
    return p;
  }

  consumer(options: ConsumerOptions = {}): Consumer {
    const c = new Consumer(this.ctx, options);
    this.closables.push(c);
    return c;
  }

  /** Flushes producers, stops consumers and closes the connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.closables.map((c) => c.close()));
    this.closed = true;
    if (this.nc) await (await this.nc).close();
    this.nc = null;
  }
}
