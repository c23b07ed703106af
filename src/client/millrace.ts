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
import { ClientMetrics } from './client-metrics.js';
import { silentLogger, type Logger } from './instrumentation.js';
import type { ConsumerOptions, MillraceOptions, ProducerOptions } from './types.js';

export class Millrace {
  private nc: Promise<NatsConnection> | null = null;
  private closed = false;
  private readonly ctx: ClientContext;
  private readonly closables: Array<{ close(): Promise<void> }> = [];
  private readonly logger: Logger;

  constructor(options: MillraceOptions) {
    if (!CLUSTER_NAME.test(options.cluster ?? '')) {
      throw new MillraceError(
        'INVALID_CONFIG',
        `cluster '${options.cluster}' must be 1-64 letters, digits, '_' or '-'`,
      );
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const logger = options.logger ?? silentLogger;
    this.logger = logger;
    const connection = (): Promise<NatsConnection> => {
      if (this.closed) return Promise.reject(new MillraceError('INVALID_REQUEST', 'this Millrace client is closed'));
      this.nc ??= connectNats({
        servers: options.servers,
        name: options.clientId ?? 'millrace-client',
        credentials: options.credentials,
      }).then(
        (nc) => {
          void this.watchConnection(nc);
          return nc;
        },
        (err: unknown) => {
          this.nc = null;
          logger.error({ err, servers: options.servers }, 'cannot connect to NATS');
          throw err;
        },
      );
      return this.nc;
    };
    const metadata = new MetadataCache(connection, options.cluster, requestTimeoutMs);
    this.ctx = {
      cluster: options.cluster,
      clientId: options.clientId ?? 'millrace-client',
      requestTimeoutMs,
      connection,
      metadata,
      logger,
      metrics: options.metrics ? new ClientMetrics(options.metrics) : null,
      reporter: null,
      async retry<T>(fn: () => Promise<T>, deadlineMs = requestTimeoutMs): Promise<T> {
        const deadline = Date.now() + deadlineMs;
        for (let attempt = 0; ; attempt++) {
          try {
            return await fn();
          } catch (err) {
            const retriable = err instanceof MillraceError && err.retriable;
            if (!retriable || Date.now() >= deadline) throw err;
            logger.debug({ err, attempt }, 'retrying a request');
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

  producer<K = Buffer | string, V = Buffer | string>(options: ProducerOptions<K, V> = {}): Producer<K, V> {
    const p = new Producer<K, V>(this.ctx, options);
    this.closables.push(p);
    return p;
  }

  consumer<K = Buffer, V = Buffer>(options: ConsumerOptions<K, V> = {}): Consumer<K, V> {
    const c = new Consumer<K, V>(this.ctx, options);
    this.closables.push(c);
    return c;
  }

  /** Logs the connection's drops and reconnects: nats.js reconnects by itself. */
  private async watchConnection(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.logger.warn({ server: s.server }, 'disconnected from NATS; reconnecting');
      else if (s.type === 'reconnect') this.logger.info({ server: s.server }, 'reconnected to NATS');
      else if (s.type === 'error') this.logger.error({ err: s.error }, 'NATS connection error');
    }
  }

  /** Flushes producers, stops consumers and closes the connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.closables.map((c) => c.close()));
    this.closed = true;
    if (this.nc) await (await this.nc).close();
    this.nc = null;
  }
}
