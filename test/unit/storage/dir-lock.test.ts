import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../../../src/storage/dir-lock.js';
import { waitFor } from '../../harness/cluster.js';
import { tempDir } from '../../harness/storage.js';

const dirs: string[] = [];
const newDir = (prefix = 'millrace-lock-') => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('data directory lock', () => {
  it('refuses a second holder, naming the first, and admits one once released', async () => {
    const dir = newDir();
    const first = await lockDataDir(dir, 1);
    await expect(lockDataDir(dir, 2)).rejects.toThrow(
      new RegExp(`data directory ${dir} is in use by broker 1 \\(pid ${process.pid} on .+\\): stop that broker first`),
    );
    await first.release();
    const again = await lockDataDir(dir, 2);
    await again.release();
  });

  it('takes over from a holder that died without releasing (SIGKILL)', async () => {
    const dir = newDir();
    const socket = path.join(dir, LOCK_FILE);
    const holder = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer((s) => s.end('broker 7\\n')).listen(${JSON.stringify(socket)})`,
    ]);
    await waitFor('the other process holds the lock', () => fs.existsSync(socket));
    await expect(lockDataDir(dir, 1)).rejects.toThrow(/in use by broker 7/);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.on('exit', resolve));
    expect(fs.existsSync(socket)).toBe(true); // left behind by the dead holder
    const lock = await lockDataDir(dir, 1);
    await lock.release();
  });

  it('locks a directory whose path is too long for a socket file', async () => {
    const dir = path.join(newDir(), 'x'.repeat(60), 'y'.repeat(60));
    const lock = await lockDataDir(dir, 1);
    await expect(lockDataDir(dir, 2)).rejects.toThrow(/in use by broker 1/);
    await lock.release();
  });
});
