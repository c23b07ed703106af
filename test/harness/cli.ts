/** Runs the built `millrace` command as a child process. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'dist/src/cli/main.js');

export function requireBuild(): void {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' (npm test does it first)`);
}

export function runCli(args: string[], input?: string): SpawnSyncReturns<string> {
  requireBuild();
  return spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', input, timeout: 60_000 });
}
