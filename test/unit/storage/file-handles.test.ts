import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileHandlePool } from '../../../src/storage/file-handles.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function files(n: number): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-fh-'));
  dirs.push(dir);
  return Array.from({ length: n }, (_, i) => path.join(dir, `f${i}`));
}

describe('open file pool', () => {
  it('keeps at most maxOpen descriptors, closing the least recently used, and reopens on use', () => {
    const pool = new FileHandlePool(3);
    const handles = files(5).map((f) => pool.handle(f));
    handles.forEach((h, i) => h.use((fd) => fs.writeSync(fd, Buffer.from(`file ${i}`), 0, undefined, 0)));
    expect(pool.size).toBe(3);
    expect(handles.map((h) => h.isOpen)).toEqual([false, false, true, true, true]);
    expect(pool.evictions).toBe(2);
    // Using h2 makes h3 the least recently used: opening h0 again evicts h3.
    handles[2]!.use(() => undefined);
    const text = handles[0]!.use((fd) => {
      const buf = Buffer.alloc(6);
      fs.readSync(fd, buf, 0, 6, 0);
      return buf.toString();
    });
    expect(text).toBe('file 0');
    expect(handles.map((h) => h.isOpen)).toEqual([true, false, true, false, true]);
  });

  it('never closes a descriptor under an operation in flight', async () => {
    const pool = new FileHandlePool(1);
    const [a, b] = files(2).map((f) => pool.handle(f));
    let release: () => void = () => undefined;
    const held = a!.useAsync(() => new Promise<void>((r) => (release = r)));
    b!.use(() => undefined);
    expect(a!.isOpen).toBe(true);
    expect(pool.size).toBe(2);
    release();
    await held;
    b!.use(() => undefined);
    expect(a!.isOpen).toBe(false);
    expect(pool.size).toBe(1);
  });
});
