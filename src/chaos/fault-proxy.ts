/**
 * A TCP proxy on loopback between NATS clients and a nats-server that injects faults: cut every
 * connection (a network partition) and heal it, delay traffic both ways (order kept), and drop
 * replies to requests (server-to-client messages on `_INBOX.` subjects) while letting requests
 * through: the fault that makes a client retry something that was done. It reads the NATS
 * protocol only as far as framing needs (MSG / HMSG sizes); everything else passes untouched.
 */
import * as net from 'node:net';

export interface FaultProxyOptions {
  /** The nats-servers to forward to: each connection goes to the next one that accepts it. */
  targets: Array<{ host: string; port: number }>;
  /** Seed for the drop and jitter choices, so a run can be repeated. */
  seed?: number;
  host?: string;
}

export interface FaultProxyStats {
  connections: number;
  droppedReplies: number;
  forwardedReplies: number;
  cuts: number;
}

/** mulberry32: a small seeded generator, enough for fault choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CRLF = Buffer.from('\r\n');

/**
 * Splits the server's byte stream into protocol frames. Each complete frame is passed to
 * `frame` with the subject when it is a message (MSG / HMSG), else null.
 */
class ServerFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly frame: (bytes: Buffer, subject: string | null) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    for (;;) {
      const eol = this.pending.indexOf(CRLF, pos);
      if (eol < 0) break;
      const line = this.pending.toString('latin1', pos, eol);
      let end = eol + 2;
      let subject: string | null = null;
      if (line.startsWith('MSG ') || line.startsWith('HMSG ')) {
        const parts = line.split(' ');
        const size = Number(parts[parts.length - 1]);
        end = eol + 2 + size + 2;
        if (end > this.pending.length) break;
        subject = parts[1] ?? '';
      }
      // A view: `pending` is replaced, never written to, so the frame's bytes stay as they are.
      this.frame(this.pending.subarray(pos, end), subject);
      pos = end;
    }
    this.pending = pos >= this.pending.length ? Buffer.alloc(0) : Buffer.from(this.pending.subarray(pos));
  }
}

interface Link {
  client: net.Socket;
  server: net.Socket;
}

export class FaultProxy {
  private readonly server: net.Server;
  private readonly links = new Set<Link>();
  private readonly random: () => number;
  private isCut = false;
  private delayMs = 0;
  private jitterMs = 0;
  private replyDropRate = 0;
  private nextTarget = 0;
  readonly stats: FaultProxyStats = { connections: 0, droppedReplies: 0, forwardedReplies: 0, cuts: 0 };

  private constructor(
    private readonly options: FaultProxyOptions,
    readonly port: number,
    server: net.Server,
  ) {
    this.server = server;
    this.random = seededRandom(options.seed ?? 1);
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, options.host ?? '127.0.0.1', () => resolve());
    });
    const proxy = new FaultProxy(options, (server.address() as net.AddressInfo).port, server);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  get url(): string {
    return `nats://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** Drops every connection and refuses new ones until `heal()`: a network partition. */
  partition(): void {
    this.isCut = true;
    this.stats.cuts++;
    for (const link of this.links) this.disconnect(link);
  }

  heal(): void {
    this.isCut = false;
  }

  /** Delays every chunk, both ways, by `ms` plus up to `jitterMs`; order is kept. */
  delay(ms: number, jitterMs = 0): void {
    this.delayMs = ms;
    this.jitterMs = jitterMs;
  }

  /** Drops this fraction of replies (messages to `_INBOX.` subjects) on their way to the client. */
  dropReplies(rate: number): void {
    this.replyDropRate = rate;
  }

  /** Removes every fault. */
  clear(): void {
    this.heal();
    this.delay(0);
    this.dropReplies(0);
  }

  private accept(client: net.Socket): void {
    if (this.isCut) {
      client.destroy();
      return;
    }
    this.stats.connections++;
    client.pause();
    client.on('error', () => client.destroy());
    // NATS servers speak first, so nothing from the client is lost while a dead server is skipped.
    const { targets } = this.options;
    const first = this.nextTarget++;
    const attempt = (n: number): void => {
      if (n >= targets.length || client.destroyed) {
        client.destroy();
        return;
      }
      const t = targets[(first + n) % targets.length]!;
      const server = net.connect(t.port, t.host);
      const failed = (): void => {
        server.destroy();
        attempt(n + 1);
      };
      server.once('error', failed);
      server.once('connect', () => {
        server.off('error', failed);
        this.link(client, server);
        client.resume();
      });
    };
    attempt(0);
  }

  private link(client: net.Socket, server: net.Socket): void {
    const link: Link = { client, server };
    this.links.add(link);
    client.setNoDelay(true);
    server.setNoDelay(true);
    const toServer = this.pipe(server);
    const toClient = this.pipe(client);
    const reader = new ServerFrameReader((bytes, subject) => {
      if (subject !== null && subject.startsWith('_INBOX.')) {
        if (this.replyDropRate > 0 && this.random() < this.replyDropRate) {
          this.stats.droppedReplies++;
          return;
        }
        this.stats.forwardedReplies++;
      }
      toClient(bytes);
    });
    client.on('data', (chunk: Buffer) => toServer(chunk));
    server.on('data', (chunk: Buffer) => reader.push(chunk));
    for (const s of [client, server]) {
      s.on('error', () => this.disconnect(link));
      s.on('close', () => this.disconnect(link));
    }
  }

  /**
   * A writer that applies the current delay. Chunks wait in one FIFO per direction, so bytes
   * are never reordered (TCP does not reorder; a proxy that did would corrupt the stream).
   */
  private pipe(to: net.Socket): (chunk: Buffer) => void {
    const queue: Array<{ at: number; chunk: Buffer }> = [];
    let timer: NodeJS.Timeout | null = null;
    const flush = (): void => {
      timer = null;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.at <= now) {
        const { chunk } = queue.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.at - now);
    };
    return (chunk) => {
      if (this.delayMs === 0 && this.jitterMs === 0 && queue.length === 0) {
        to.write(chunk);
        return;
      }
      const last = queue.at(-1)?.at ?? 0;
      queue.push({ at: Math.max(Date.now() + this.delayMs + this.random() * this.jitterMs, last), chunk });
      timer ??= setTimeout(flush, queue[0]!.at - Date.now());
    };
  }

  private disconnect(link: Link): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.server.destroy();
  }

  async close(): Promise<void> {
    for (const link of this.links) this.disconnect(link);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
