/**
 * The data directory's lock, as Kafka's `.lock`: a second broker on a directory in use stops
 * with an error naming the holder. Node has no flock, and a file's mtime or a pid cannot tell a
 * live holder from a dead one (a crashed broker restarted at once, pids inside containers); a
 * Unix socket can: the holder listens on `<dir>/.lock`, the kernel closes it when the holder
 * dies however it dies, and a newcomer that can connect knows the directory is taken. The holder
 * answers a connection with who it is. Paths too long for a socket address use an abstract one
 * named by the directory's real path (same host and network namespace only).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MillraceError } from '../../protocol/errors.js';

export const LOCK_FILE = '.lock';
/** sun_path holds 108 bytes with its terminator; keep a margin. */
const MAX_SOCKET_PATH = 100;

export interface DirLock {
  release(): Promise<void>;
}

function addressOf(dir: string): { address: string; file: string | null } {
  const file = path.join(dir, LOCK_FILE);
  if (Buffer.byteLength(file) <= MAX_SOCKET_PATH) return { address: file, file };
  const id = createHash('sha256').update(fs.realpathSync(dir)).digest('hex').slice(0, 40);
  return { address: `\0millrace-lock-${id}`, file: null };
}

/** Who holds the lock, if anyone: what the holder says on connect, or null when nobody listens. */
function holderOf(address: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect(address);
    let said = '';
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on('data', (d: Buffer) => (said += d.toString()));
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(said.trim() || 'another process');
    });
  });
}

function listen(address: string, owner: string): Promise<net.Server | 'in-use'> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.end(`${owner}\n`));
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve('in-use') : reject(err)));
    server.listen(address, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Locks `dir` (creating it) for broker `brokerId`; throws INVALID_CONFIG if another process holds it. */
export async function lockDataDir(dir: string, brokerId: number): Promise<DirLock> {
  fs.mkdirSync(dir, { recursive: true });
  const { address, file } = addressOf(dir);
  const owner = `broker ${brokerId} (pid ${process.pid} on ${os.hostname()})`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = await holderOf(address);
    if (holder !== null)
      throw new MillraceError(
        'INVALID_CONFIG',
        `data directory ${dir} is in use by ${holder}: stop that broker first, or give this one its own data directory`,
      );
    // Nobody listens: a socket file left there is a dead holder's.
    if (file) fs.rmSync(file, { force: true });
    let server: net.Server | 'in-use';
    try {
      server = await listen(address, owner);
    } catch (err) {
      throw new MillraceError('KAFKA_STORAGE_ERROR', `cannot lock data directory ${dir}: ${(err as Error).message}`);
    }
    if (server === 'in-use') continue; // another starter won the race: ask it who it is
    const held = server;
    return {
      release: () => new Promise<void>((resolve) => held.close(() => resolve())),
    };
  }
  throw new MillraceError('INVALID_CONFIG', `data directory ${dir} is being locked by another process`);
}
