/**
 * Vitest globalSetup for the containers project: is a Docker engine reachable, and are the
 * images of this version there? A missing image is built with `npm run image` (CI builds them
 * before the tests). Without an engine the tests skip, except under CI, where that fails the run.
 */
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { VERSION } from '../../src/version.js';

declare module 'vitest' {
  export interface ProvidedContext {
    docker: { available: boolean; reason: string };
  }
}

const IMAGES = [`millrace:${VERSION}`, `millrace-nats:${VERSION}`, `millrace-prometheus:${VERSION}`];

function docker(args: string[]): boolean {
  try {
    execFileSync('docker', args, { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

export default function setup(project: TestProject): void {
  if (!docker(['info'])) {
    const reason = 'no Docker engine answers `docker info` (start dockerd)';
    if (process.env.CI) throw new Error(`containers tests: ${reason}`);
    process.stderr.write(`containers tests skipped: ${reason}\n`);
    project.provide('docker', { available: false, reason });
    return;
  }
  if (!IMAGES.every((image) => docker(['image', 'inspect', image]))) {
    process.stderr.write(`containers tests: building ${IMAGES.join(' and ')} with npm run image\n`);
    execFileSync('npm', ['run', 'image', '--silent'], { stdio: 'inherit', timeout: 600_000 });
  }
  project.provide('docker', { available: true, reason: '' });
}
