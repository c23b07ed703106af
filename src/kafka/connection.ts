/**
 * One Kafka client connection: size-prefixed frames in, answered in order, one at a time (as a
 * Kafka broker mutes a connection while a request is in flight, so a pipelining client still
 * sees its requests handled in the order sent). The frame size is checked before anything is
 * allocated for it; a malformed frame, an unknown API or an unsupported version closes this
 * connection with a logged reason and never touches another.
 */
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  KafkaCodecError,
  Reader,
  Writer,
  apis,
  decodeMessage,
  encodeMessage,
  readRequestHeader,
  writeResponseHeader,
  type KafkaApi,
  type RequestHeader,
} from '../../protocol/kafka/index.js';
import { inRange } from '../../protocol/kafka/schema.js';
import { ErrorCodes, errorNameOf } from '../../protocol/errors.js';
import type { KafkaListenerMetrics } from '../metrics/kafka.js';
import type { KafkaSession } from './sasl.js';

/** Answers a decoded request for a connection's session; null sends nothing back (Produce with acks=0). */
export type RequestHandler = (
  api: KafkaApi,
  header: RequestHeader,
  body: Record<string, unknown>,
  session: KafkaSession,
) => Promise<Record<string, unknown> | null>;

/** What a client may send on a SASL listener before it has authenticated; also what quotas do not count. */
const BEFORE_AUTHENTICATION = new Set([apis.ApiVersions.key, apis.SaslHandshake.key, apis.SaslAuthenticate.key]);
const EXEMPT_FROM_QUOTAS = BEFORE_AUTHENTICATION;

/** The APIs a listener serves, and how it answers them. */
export interface Door {
  handle: RequestHandler;
  served: ReadonlyMap<number, KafkaApi>;
  /** A bare SASL token (after a SaslHandshake v0): the answer, or why authentication failed. */
  saslToken?: (session: KafkaSession, token: Buffer) => Buffer | { failed: string };
  /** The wait a request owes its client's quotas (ms; 0 within them). */
  throttle?: (
    api: KafkaApi,
    clientId: string,
    session: KafkaSession,
    use: { requestBytes: number; response: Record<string, unknown> | null; handlerMs: number },
  ) => number;
}

export interface ConnectionLimits {
  /** socket.request.max.bytes */
  maxRequestBytes: number;
  /** connections.max.idle.ms */
  idleMs: number;
}

/** Frames read ahead of the one being handled, at most: past it the socket stops reading. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

export class KafkaConnection {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly frames: Buffer[] = [];
  private queuedBytes = 0;
  private busy = false;
  private closed = false;
  private idleTimer: NodeJS.Timeout | null = null;
  /** A throttled client's next request waits until then (KIP-219: the broker mutes the channel). */
  private mutedUntil = 0;
  readonly remote: string;

  constructor(
    private readonly socket: Socket,
    private readonly door: Door,
    private readonly limits: ConnectionLimits,
    private readonly metrics: KafkaListenerMetrics,
    private readonly logger: Logger,
    /** Who the client is; on a SASL listener, not authenticated yet. */
    private readonly session: KafkaSession,
    /** Whether requests other than ApiVersions and SASL's wait for authentication. */
    private readonly saslRequired: boolean,
    private readonly onClose: () => void,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.logger.debug({ err, remote: this.remote }, 'Kafka connection error'));
    socket.on('close', () => {
      this.closed = true;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.onClose();
    });
    this.touch();
  }

  /** Closes the connection, saying why in the log. */
  close(reason: string, level: 'info' | 'warn' = 'warn'): void {
    if (this.closed) return;
    this.closed = true;
    this.logger[level]({ remote: this.remote, reason }, 'closing Kafka connection');
    this.socket.destroy();
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => this.close(`idle for ${this.limits.idleMs} ms (connections.max.idle.ms)`, 'info'),
      this.limits.idleMs,
    );
    this.idleTimer.unref();
  }

  private receive(chunk: Buffer): void {
    this.metrics.bytesIn.inc(chunk.length);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= 4) {
      const size = this.peekSize();
      if (size < 0 || size > this.limits.maxRequestBytes) {
        this.close(`request of ${size} bytes: more than socket.request.max.bytes ${this.limits.maxRequestBytes}`);
        return;
      }
      if (this.pendingBytes < 4 + size) break;
      const frame = this.take(4 + size).subarray(4);
      this.frames.push(frame);
      this.queuedBytes += frame.length;
    }
    if (this.queuedBytes > MAX_QUEUED_BYTES) this.socket.pause();
    void this.pump();
  }

  private peekSize(): number {
    const first = this.pending[0]!;
    if (first.length >= 4) return first.readInt32BE(0);
    return Buffer.concat(this.pending, 4).readInt32BE(0);
  }

  /** The next `n` pending bytes: a view when one chunk holds them, else one copy. */
  private take(n: number): Buffer {
    this.pendingBytes -= n;
    const first = this.pending[0]!;
    if (first.length >= n) {
      if (first.length === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.pending[0]!;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.pending.shift();
      else this.pending[0] = c.subarray(k);
    }
    return out;
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.frames.length > 0 && !this.closed) {
        const frame = this.frames.shift()!;
        this.queuedBytes -= frame.length;
        if (this.queuedBytes <= MAX_QUEUED_BYTES && this.socket.isPaused()) this.socket.resume();
        this.touch();
        const muted = this.mutedUntil - Date.now();
        if (muted > 0) await delay(muted);
        await this.serve(frame);
      }
    } catch (err) {
      // Nothing a request does may take the broker down: this connection ends, with the reason logged.
      this.logger.error({ err, remote: this.remote }, 'Kafka connection failed');
      this.close(`internal error: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async serve(frame: Buffer): Promise<void> {
    if (this.session.bareTokens && !this.session.authenticated) return this.bareToken(frame);
    const started = process.hrtime.bigint();
    const r = new Reader(frame);
    let header: RequestHeader;
    let api: KafkaApi;
    let body: Record<string, unknown>;
    try {
      const read = readRequestHeader(r);
      header = read;
      const served = this.door.served.get(header.apiKey);
      if (!served) return this.close(`API key ${header.apiKey} is not served here`);
      if (this.saslRequired && !this.session.authenticated && !BEFORE_AUTHENTICATION.has(served.key))
        return this.close(`${served.name} before SASL authentication: authenticate first`);
      api = served;
      if (!inRange(api.request.versions, header.apiVersion)) {
        // KIP-511: an ApiVersions this broker cannot parse still gets the supported versions, as v0.
        if (api.key === apis.ApiVersions.key)
          return this.reply(api, 0, header.correlationId, {
            errorCode: ErrorCodes.UNSUPPORTED_VERSION.code,
            apiKeys: apiVersionsOf(this.door),
          });
        return this.close(`${api.name} v${header.apiVersion} is not supported (${rangeOf(api)})`);
      }
      body = decodeMessage(api.request, header.apiVersion, r) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof KafkaCodecError) return this.close(`malformed request: ${err.message}`);
      throw err;
    }
    const label = { api: api.name, version: String(header.apiVersion) };
    let response: Record<string, unknown> | null;
    try {
      response = await this.door.handle(api, header, body, this.session);
    } catch (err) {
      this.metrics.errors.inc({ ...label, error: 'UNKNOWN_SERVER_ERROR' });
      this.logger.error(
        { err, api: api.name, version: header.apiVersion, remote: this.remote },
        'Kafka request failed',
      );
      return this.close(`${api.name} failed: ${(err as Error).message}`);
    }
    this.metrics.requests.inc(label);
    if (response) forEachError(response, (code) => this.metrics.errors.inc({ ...label, error: errorNameOf(code) }));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.seconds.observe({ api: api.name }, seconds);
    if (!EXEMPT_FROM_QUOTAS.has(api.key)) {
      const wait =
        this.door.throttle?.(api, header.clientId ?? '', this.session, {
          requestBytes: frame.length,
          response,
          handlerMs: seconds * 1000,
        }) ?? 0;
      if (wait > 0) {
        this.mutedUntil = Date.now() + wait;
        if (response) response.throttleTimeMs = Math.max(wait, Number(response.throttleTimeMs ?? 0));
      }
    }
    if (response !== null) this.reply(api, header.apiVersion, header.correlationId, response);
    const last = this.session.closeAfterReply;
    if (last !== null && !this.closed) {
      // The reply says why: it is flushed before the connection ends.
      this.closed = true;
      this.logger.warn({ remote: this.remote, reason: last }, 'closing Kafka connection');
      this.socket.end();
    }
  }

  /** A SASL token outside any request (SaslHandshake v0): answered as a bare frame, a failure closes. */
  private bareToken(token: Buffer): void {
    const answer = this.door.saslToken?.(this.session, token) ?? { failed: 'this listener has no SASL' };
    if (!Buffer.isBuffer(answer)) return this.close(`SASL authentication failed: ${answer.failed}`);
    const prefix = Buffer.allocUnsafe(4);
    prefix.writeInt32BE(answer.length, 0);
    this.socket.write(Buffer.concat([prefix, answer]));
    this.metrics.bytesOut.inc(answer.length + 4);
  }

  private reply(api: KafkaApi, version: number, correlationId: number, response: Record<string, unknown>): void {
    if (this.closed) return;
    const w = new Writer();
    writeResponseHeader(w, api, version, correlationId);
    encodeMessage(api.response, version, response, w);
    const chunks = w.finish();
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const prefix = Buffer.allocUnsafe(4);
    prefix.writeInt32BE(size, 0);
    this.socket.cork();
    this.socket.write(prefix);
    for (const c of chunks) this.socket.write(c);
    this.socket.uncork();
    this.metrics.bytesOut.inc(size + 4);
  }
}

/** Calls `found` with every non-zero errorCode in a response, at any depth. */
function forEachError(value: unknown, found: (code: number) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) forEachError(v, found);
    return;
  }
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'errorCode' && typeof v === 'number' && v !== 0) found(v);
    else if (typeof v === 'object') forEachError(v, found);
  }
}

const rangeOf = (api: KafkaApi): string => `versions ${api.request.versions.min}-${api.request.versions.max}`;

/** The ApiVersions list: each API served and its versions. */
export function apiVersionsOf(door: Door): Array<{ apiKey: number; minVersion: number; maxVersion: number }> {
  return [...door.served.values()].map((a) => ({
    apiKey: a.key,
    minVersion: a.request.versions.min,
    maxVersion: a.request.versions.max,
  }));
}
