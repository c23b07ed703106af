/** Vitest globalSetup: one nats-server with JetStream on a free loopback port for a test project. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNatsServer } from '../../src/transport/nats-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-nats-'));
  const server = await startNatsServer({ storeDir });
  project.provide('natsUrl', server.url);
  return async () => {
    await server.stop();
    fs.rmSync(storeDir, { recursive: true, force: true });
  };
}
