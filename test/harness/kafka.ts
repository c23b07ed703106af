/** Speaks the Kafka protocol over a raw socket with Millrace's own codec: for what no client library sends. */
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import {
  Reader,
  Writer,
  decodeMessage,
  encodeMessage,
  writeRequestHeader,
  type KafkaApi,
  type Loose,
  type MessageOf,
} from '../../protocol/kafka/index.js';
import { waitFor } from './cluster.js';

/** A raw client connection: frames out, whole response frames in, and whether the broker closed it. */
export class RawKafkaClient {
  private readonly socket: net.Socket;
  private buffered = Buffer.alloc(0);
  readonly frames: Buffer[] = [];
  closed = false;
  private waiters: Array<() => void> = [];

  constructor(endpoint: string) {
    const at = endpoint.lastIndexOf(':');
    this.socket = net.connect(Number(endpoint.slice(at + 1)), endpoint.slice(0, at));
    this.socket.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const size = this.buffered.readInt32BE(0);
        this.frames.push(this.buffered.subarray(4, 4 + size));
        this.buffered = this.buffered.subarray(4 + size);
      }
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined);
  }

  ready(): Promise<void> {
    return new Promise((resolve) => this.socket.once('connect', () => resolve()));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `count` frames have arrived or the connection closed (false), within `timeoutMs`. */
  async until(count: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < count && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames.length >= count;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  end(): void {
    this.socket.destroy();
  }
}

export function frame<A extends KafkaApi>(
  api: A,
  version: number,
  correlationId: number,
  body: Loose<MessageOf<A['request']>>,
): Buffer {
  const w = new Writer();
  writeRequestHeader(w, api, { apiVersion: version, correlationId, clientId: 'raw' });
  encodeMessage(api.request, version, body, w);
  const payload = Buffer.concat(w.finish());
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
}

/** One request and its decoded response (response header v0 or v1 as the API version has it). */
export async function kafkaRequest<A extends KafkaApi>(
  endpoint: string,
  api: A,
  version: number,
  body: Loose<MessageOf<A['request']>>,
): Promise<MessageOf<A['response']>> {
  const c = new RawKafkaClient(endpoint);
  try {
    await c.ready();
    c.send(frame(api, version, 1, body));
    await waitFor(`${api.name} v${version} answered`, () => c.frames.length === 1 || c.closed);
    if (c.frames.length === 0) throw new Error(`${api.name} v${version}: the broker closed the connection`);
    // Response header v1 (a tagged section after the correlation id) for flexible versions, never for ApiVersions.
    const flexibleHeader =
      api.name !== 'ApiVersions' && api.response.flexible.min <= version && version <= api.response.flexible.max;
    return decodeMessage(api.response, version, new Reader(c.frames[0]!, flexibleHeader ? 5 : 4)) as MessageOf<
      A['response']
    >;
  } finally {
    c.end();
  }
}

/** Runs kcat against `bootstrap`; resolves with its output (bounded in time). */
export function runKcat(
  bootstrap: string,
  args: string[],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', bootstrap, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** Runs a long-lived kcat (a group member) until its stderr matches `until` (or 30 s pass); resolves with its stderr. */
export function runKcatUntil(bootstrap: string, args: string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', bootstrap, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (until.test(stderr)) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(stderr);
    });
  });
}
