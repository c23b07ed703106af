/**
 * A broker's Kafka listener: a TCP server bound before the broker registers (so it can advertise
 * the port it got), answering once the broker core is ready. Connections that arrive before
 * that are closed, and clients retry.
 */
import * as net from 'node:net';
import * as os from 'node:os';
import type { Logger } from 'pino';
import type { KafkaListenerMetrics } from '../metrics/kafka.js';
import { KafkaConnection, type ConnectionLimits, type Door } from './connection.js';
import { ConnectionQuotas, type ConnectionCountLimits } from './connection-quotas.js';
import { defaultAdvertised, formatEndpoint, parseEndpoint, type Endpoint } from './endpoints.js';

export class KafkaListener {
  private readonly connections = new Set<KafkaConnection>();
  private door: Door | null = null;
  private readonly quotas: ConnectionQuotas;

  private constructor(
    private readonly server: net.Server,
    readonly bound: Endpoint,
    /** What clients are told to connect to. */
    readonly advertised: string,
    private readonly limits: ConnectionLimits,
    counts: ConnectionCountLimits,
    private readonly metrics: KafkaListenerMetrics,
    private readonly logger: Logger,
  ) {
    this.quotas = new ConnectionQuotas(counts);
    server.on('connection', (socket) => this.accept(socket));
  }

  static async bind(options: {
    listener: string;
    advertised: string | null;
    limits: ConnectionLimits;
    /** max.connections and max.connections.per.ip (default: none). */
    quotas?: ConnectionCountLimits;
    metrics: KafkaListenerMetrics;
    logger: Logger;
  }): Promise<KafkaListener> {
    const { host, port } = parseEndpoint(options.listener);
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    const bound = { host, port: address.port };
    const logger = options.logger.child({ component: 'kafka-listener' });
    const advertised = options.advertised ?? defaultAdvertised(bound, os.hostname());
    logger.info({ listener: formatEndpoint(bound), advertised }, 'Kafka listener bound');
    const unlimited = { maxConnections: Infinity, maxConnectionsPerIp: Infinity, perIpOverrides: new Map() };
    return new KafkaListener(
      server,
      bound,
      advertised,
      options.limits,
      options.quotas ?? unlimited,
      options.metrics,
      logger,
    );
  }

  /** Starts answering requests. */
  serve(door: Door): void {
    this.door = door;
  }

  private accept(socket: net.Socket): void {
    const door = this.door;
    if (!door) {
      this.logger.info(
        { remote: `${socket.remoteAddress}:${socket.remotePort}` },
        'broker still starting: connection closed',
      );
      socket.destroy();
      return;
    }
    const ip = socket.remoteAddress ?? '';
    const admission = this.quotas.admit(ip);
    if (!admission.admitted) {
      this.metrics.refused.inc({ reason: admission.reason });
      this.logger.warn(
        { remote: `${ip}:${socket.remotePort}`, limit: admission.limit },
        `connection closed: ${admission.reason.replaceAll('_', '.')} reached`,
      );
      socket.destroy();
      return;
    }
    this.metrics.connections.inc();
    const conn: KafkaConnection = new KafkaConnection(socket, door, this.limits, this.metrics, this.logger, () => {
      this.connections.delete(conn);
      this.quotas.release(ip);
      this.metrics.connections.dec();
    });
    this.connections.add(conn);
  }

  async close(): Promise<void> {
    this.door = null;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.close('broker stopping', 'info');
    await closed;
  }
}
