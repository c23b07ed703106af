/**
 * A broker's Kafka listener: a TCP server bound before the broker registers (so it can advertise
 * the port it got), answering once the broker core is ready. Connections that arrive before
 * that are closed, and clients retry.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as tls from 'node:tls';
import { MillraceError } from '../../protocol/errors.js';
import type { Logger } from 'pino';
import type { KafkaListenerMetrics } from '../metrics/kafka.js';
import { KafkaConnection, type ConnectionLimits, type Door } from './connection.js';
import { ConnectionQuotas, type ConnectionCountLimits } from './connection-quotas.js';
import { defaultAdvertised, formatEndpoint, parseEndpoint, type Endpoint } from './endpoints.js';
import { newSession } from './sasl.js';

/** The listener's security: TLS (with client certificates asked or required) and SASL. */
export interface ListenerSecurity {
  protocol: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  tls?: { certFile: string; keyFile: string; caFile: string | null; clientAuth: 'none' | 'requested' | 'required' };
}

/** Kafka's default principal of a client certificate: its subject DN, most specific first (CN=alice,O=acme). */
function certificatePrincipal(socket: tls.TLSSocket): string | null {
  if (!socket.authorized) return null;
  const subject = socket.getPeerX509Certificate()?.subject;
  return subject ? `User:${subject.split('\n').reverse().join(',')}` : null;
}

function tlsOptions(security: ListenerSecurity): tls.TlsOptions {
  const t = security.tls;
  if (!t) throw new MillraceError('INVALID_CONFIG', `a ${security.protocol} listener needs a certificate and a key`);
  const read = (file: string, what: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new MillraceError(
        'INVALID_CONFIG',
        `cannot read the Kafka listener's ${what} ${file}: ${(err as Error).message}`,
      );
    }
  };
  if (t.clientAuth !== 'none' && !t.caFile)
    throw new MillraceError(
      'INVALID_CONFIG',
      `ssl.client.auth ${t.clientAuth} needs the CA client certificates are checked with`,
    );
  return {
    cert: read(t.certFile, 'certificate'),
    key: read(t.keyFile, 'key'),
    ...(t.caFile ? { ca: read(t.caFile, 'CA') } : {}),
    requestCert: t.clientAuth !== 'none',
    rejectUnauthorized: t.clientAuth === 'required',
  };
}

export class KafkaListener {
  private readonly connections = new Set<KafkaConnection>();
  private door: Door | null = null;
  private readonly quotas: ConnectionQuotas;

  private constructor(
    private readonly server: net.Server | tls.Server,
    readonly bound: Endpoint,
    /** What clients are told to connect to. */
    readonly advertised: string,
    private readonly limits: ConnectionLimits,
    counts: ConnectionCountLimits,
    private readonly metrics: KafkaListenerMetrics,
    private readonly logger: Logger,
    private readonly security: ListenerSecurity,
  ) {
    this.quotas = new ConnectionQuotas(counts);
    if (server instanceof tls.Server) {
      server.on('secureConnection', (socket: tls.TLSSocket) => this.accept(socket, certificatePrincipal(socket)));
      server.on('tlsClientError', (err, socket) =>
        this.logger.info(
          { err: err.message, remote: `${socket.remoteAddress}:${socket.remotePort}` },
          'TLS handshake failed',
        ),
      );
    } else server.on('connection', (socket) => this.accept(socket, null));
  }

  get saslRequired(): boolean {
    return this.security.protocol.startsWith('SASL_');
  }

  static async bind(options: {
    listener: string;
    advertised: string | null;
    limits: ConnectionLimits;
    /** max.connections and max.connections.per.ip (default: none). */
    quotas?: ConnectionCountLimits;
    metrics: KafkaListenerMetrics;
    logger: Logger;
    security?: ListenerSecurity;
  }): Promise<KafkaListener> {
    const { host, port } = parseEndpoint(options.listener);
    const security = options.security ?? { protocol: 'PLAINTEXT' };
    const secure = security.protocol === 'SSL' || security.protocol === 'SASL_SSL';
    const server = secure
      ? tls.createServer({ ...tlsOptions(security), noDelay: true })
      : net.createServer({ noDelay: true });
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
    logger.info({ listener: formatEndpoint(bound), advertised, security: security.protocol }, 'Kafka listener bound');
    const unlimited = { maxConnections: Infinity, maxConnectionsPerIp: Infinity, perIpOverrides: new Map() };
    return new KafkaListener(
      server,
      bound,
      advertised,
      options.limits,
      options.quotas ?? unlimited,
      options.metrics,
      logger,
      security,
    );
  }

  /** Starts answering requests. */
  serve(door: Door): void {
    this.door = door;
  }

  private accept(socket: net.Socket, certificatePrincipal: string | null): void {
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
    const session = newSession(ip, certificatePrincipal);
    const conn: KafkaConnection = new KafkaConnection(
      socket,
      door,
      this.limits,
      this.metrics,
      this.logger,
      session,
      this.saslRequired,
      () => {
        this.connections.delete(conn);
        this.quotas.release(ip);
        this.metrics.connections.dec();
      },
    );
    this.connections.add(conn);
  }

  async close(): Promise<void> {
    this.door = null;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.close('broker stopping', 'info');
    await closed;
  }
}
