/**
 * A broker as a child process (`millrace broker`), started and awaited until it is running:
 * for the chaos launcher, and for tests that crash and restart brokers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MillraceError } from '../../protocol/errors.js';

const here = fileURLToPath(import.meta.url);
/** The built CLI, also when this module runs from TypeScript sources (tests). */
export const cliMain = here.endsWith('.ts')
  ? path.resolve(path.dirname(here), '../../dist/src/cli/main.js')
  : path.resolve(path.dirname(here), '../cli/main.js');

export interface BrokerProcess {
  id: number;
  child: ChildProcess;
  metricsPort: number;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals>;
  logs: string[];
}

export function spawnBroker(
  id: number,
  nats: string,
  cluster: string,
  dataDir: string,
  extraEnv: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<BrokerProcess> {
  if (!fs.existsSync(cliMain))
    return Promise.reject(new MillraceError('INVALID_REQUEST', `${cliMain} is missing: run 'npm run build' first`));
  const child = spawn(
    process.execPath,
    [
      cliMain,
      'broker',
      '--id',
      String(id),
      '--nats',
      nats,
      '--cluster',
      cluster,
      '--data-dir',
      dataDir,
      '--metrics-port',
      '0',
      ...extraArgs,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...extraEnv },
    },
  );
  const logs: string[] = [];
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  return new Promise((resolve, reject) => {
    let metricsPort = -1;
    let pending = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`broker ${id} did not start in 60 s:\n${logs.slice(-20).join('\n')}`));
    }, 60_000);
    child.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        logs.push(line);
        const m = /"metrics":"http:\/\/[^:]+:(\d+)\/metrics"/.exec(line);
        if (m) metricsPort = Number(m[1]);
        if (line.includes('"msg":"running"')) {
          clearTimeout(timer);
          resolve({ id, child, metricsPort, exited, logs });
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker ${id} exited (${code}) while starting:\n${logs.slice(-20).join('\n')}`));
    });
  });
}
