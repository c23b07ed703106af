import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogManager, logConfig, type Log } from '../../src/storage/index.js';
import { repoRoot, requireBuild } from '../harness/cli.js';
import { recordsIn, tempDir } from '../harness/storage.js';

const writer = path.join(repoRoot, 'test/harness/log-writer.mjs');
const dir = tempDir('millrace-chaos-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Starts the writer; resolves once it has acknowledged `minAcks` appends, with the last acked offset. */
function runWriter(
  minAcks: number,
  stop: 'SIGKILL' | 'SIGTERM',
  extraDelayMs: number,
): Promise<{ lastAcked: number; startedAt: number; cleanBefore: boolean; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, String(16 * 1024)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastAcked = -1;
    let acks = 0;
    let startedAt = -1;
    let cleanBefore = false;
    let closed = false;
    let signalled = false;
    let pending = '';
    const timeout = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer made ${acks} acks in 60 s`));
    }, 60_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [word, a, b] = line.split(' ');
        if (word === 'started') {
          startedAt = Number(a);
          cleanBefore = b === 'true';
        } else if (word === 'acked') {
          lastAcked = Number(a);
          acks++;
        } else if (word === 'closed') closed = true;
      }
      if (acks >= minAcks && !signalled) {
        signalled = true;
        setTimeout(() => child.kill(stop), extraDelayMs);
      }
    });
    child.on('exit', () => {
      clearTimeout(timeout);
      resolve({ lastAcked, startedAt, cleanBefore, closed });
    });
  });
}

function offsetsIn(log: Log): number[] {
  const values: number[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const recs = recordsIn(log.read(offset, 1 << 20).records).filter((r) => r.offset >= offset);
    for (const r of recs) {
      // Each record's value names the offset it was acknowledged at.
      expect(r.value!.toString().replace(/\.+$/, '')).toBe(`v${r.offset}`);
      values.push(r.offset);
    }
    offset = recs.at(-1)!.offset + 1;
  }
  return values;
}

describe('storage under process crashes', () => {
  it('keeps every acknowledged record at its offset through repeated SIGKILL and a SIGTERM', async () => {
    requireBuild();
    let expectedStart = 0;
    const rounds: Array<{ stop: 'SIGKILL' | 'SIGTERM'; delay: number }> = [
      { stop: 'SIGKILL', delay: 0 },
      { stop: 'SIGKILL', delay: 3 },
      { stop: 'SIGKILL', delay: 11 },
      { stop: 'SIGTERM', delay: 5 },
      { stop: 'SIGKILL', delay: 1 },
      { stop: 'SIGKILL', delay: 7 },
    ];
    let previousStop: 'SIGKILL' | 'SIGTERM' | null = null;
    for (const round of rounds) {
      const result = await runWriter(200, round.stop, round.delay);
      // The writer resumed exactly where the previous run's log ended.
      expect(result.startedAt).toBe(expectedStart);
      expect(result.cleanBefore).toBe(previousStop === 'SIGTERM');
      expect(result.closed).toBe(round.stop === 'SIGTERM');

      const manager = LogManager.open({
        dataDir: dir,
        configFor: () => logConfig({ segmentBytes: 16 * 1024, indexIntervalBytes: 512, retentionMs: -1 }),
      });
      expect(manager.hadCleanShutdown).toBe(round.stop === 'SIGTERM');
      const log = manager.get({ topic: 'chaos', partition: 0 })!;
      expect(log.logEndOffset).toBeGreaterThan(result.lastAcked);
      const offsets = offsetsIn(log);
      expect(offsets).toEqual(Array.from({ length: log.logEndOffset }, (_, i) => i));
      expectedStart = log.logEndOffset;
      previousStop = round.stop;
      // After a crash, leave the log as found (no checkpoints, no marker) so the next writer
      // recovers from scratch again; after a clean stop, close cleanly.
      if (round.stop === 'SIGTERM') await manager.close();
    }
  });
});
