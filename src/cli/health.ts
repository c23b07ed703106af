/**
 * `millrace health`: asks a broker's metrics port for /ready (or /health with --live) and exits
 * 0 or 1. The container image's HEALTHCHECK runs this file directly, so it imports nothing but
 * Node's own modules: a probe every few seconds must not load the whole CLI.
 */
import { pathToFileURL } from 'node:url';

export interface HealthProbe {
  ok: boolean;
  /** The endpoint's own words ("ready", "not ready: ...") or why it could not be asked. */
  detail: string;
}

export async function probeHealth(url: string, timeoutMs = 2_000): Promise<HealthProbe> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { ok: res.ok, detail: (await res.text()).trim() };
  } catch (err) {
    return { ok: false, detail: `${url}: ${(err as Error).message}` };
  }
}

/** The endpoint to probe: --url, else 127.0.0.1 on MILLRACE_METRICS_PORT (9100 in the image). */
export function healthUrl(options: { url?: string; live?: boolean }, env: NodeJS.ProcessEnv): string {
  if (options.url) return options.url;
  const port = env.MILLRACE_METRICS_PORT || '9100';
  return `http://127.0.0.1:${port}/${options.live ? 'health' : 'ready'}`;
}

export async function runHealth(options: { url?: string; live?: boolean }): Promise<number> {
  const probe = await probeHealth(healthUrl(options, process.env));
  (probe.ok ? process.stdout : process.stderr).write(`${probe.detail}\n`);
  return probe.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = await runHealth({ live: process.argv.includes('--live') });
