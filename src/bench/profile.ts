/**
 * CPU profiles of a benchmark: the client's (this process, through the inspector, over the
 * benchmark only) and each broker's (started with --cpu-prof while the benchmark runs; a broker
 * writes its profile when it exits, so it covers the broker's whole life, start-up included).
 * Open them in Chrome DevTools or any .cpuprofile viewer.
 */
import * as fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import * as path from 'node:path';

const BROKER_ARGS = 'MILLRACE_BENCH_BROKER_NODE_ARGS';

/** Runs `work`, writing profiles to `<dir>/<name>/` when `dir` is given. */
export async function profiled<T>(dir: string | undefined, name: string, work: () => Promise<T>): Promise<T> {
  if (!dir) return work();
  const out = path.resolve(dir, name);
  fs.mkdirSync(out, { recursive: true });
  const before = process.env[BROKER_ARGS];
  process.env[BROKER_ARGS] = `${before ?? ''} --cpu-prof --cpu-prof-dir=${out}`.trim();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    fs.writeFileSync(path.join(out, 'client.cpuprofile'), JSON.stringify(profile));
    session.disconnect();
    if (before === undefined) delete process.env[BROKER_ARGS];
    else process.env[BROKER_ARGS] = before;
  }
}
