/**
 * Starts a local nats-server with JetStream on a free loopback port: for `millrace dev` and for
 * tests. The port is chosen by the server (-p -1) and read from its log, so there is no race
 * between picking a port and binding it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { MillraceError } from '../../protocol/errors.js';

export interface NatsServerHandle {
  url: string;
  port: number;
  process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface NatsServerOptions {
  storeDir: string;
  /** Fixed port, e.g. to restart a server where clients expect it; default: any free port. */
  port?: number;
  binary?: string;
  startTimeoutMs?: number;
  /** A node of a NATS cluster (JetStream replicated over its routes). */
  cluster?: { name: string; serverName: string; port: number; routes: number[] };
  /** A configuration file (accounts, users, JetStream: `millrace auth init` writes one); storeDir is then its. */
  configFile?: string;
}

export const NATS_INSTALL_HINT =
  'nats-server was not found on PATH. Install it (Debian/Ubuntu: apt-get install nats-server; macOS: brew install nats-server), ' +
  'or point Millrace at a running server with --nats nats://host:4222.';

export function natsServerAvailable(binary = 'nats-server'): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

export function startNatsServer(options: NatsServerOptions): Promise<NatsServerHandle> {
  const binary = options.binary ?? 'nats-server';
  if (!natsServerAvailable(binary)) return Promise.reject(new MillraceError('BROKER_NOT_AVAILABLE', NATS_INSTALL_HINT));
  fs.mkdirSync(options.storeDir, { recursive: true });
  // A configuration file names its own JetStream store (the server refuses it twice).
  const args = [
    ...(options.configFile ? ['-c', options.configFile] : ['-js', '-sd', options.storeDir]),
    ...['-a', '127.0.0.1', '-p', String(options.port ?? -1)],
  ];
  const c = options.cluster;
  if (c) {
    args.push('--server_name', c.serverName, '--cluster_name', c.name, '--cluster', `nats://127.0.0.1:${c.port}`);
    args.push('--routes', c.routes.map((p) => `nats://127.0.0.1:${p}`).join(','));
    // Clients learn no other node's address: a fault proxy in front of a client stays in its path.
    args.push('--no_advertise=true');
  }
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server did not start within ${options.startTimeoutMs ?? 10_000} ms:\n${log}`));
    }, options.startTimeoutMs ?? 10_000);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with code ${code} before it was ready:\n${log}`));
    };
    child.once('exit', onExit);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (log.length < 64 * 1024) log += chunk;
      const match = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
      if (!match) return;
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      clearTimeout(timer);
      child.off('exit', onExit);
      const port = Number(match[1]);
      resolve({
        url: `nats://127.0.0.1:${port}`,
        port,
        process: child,
        stop: (signal: NodeJS.Signals = 'SIGTERM') =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
            child.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            child.kill(signal);
          }),
      });
    });
  });
}
