import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringSerde } from '../../../src/client/index.js';
import { PersistentKeyValueStore } from '../../../src/streams/persistent-store.js';
import { PersistentSessionStore, PersistentWindowStore } from '../../../src/streams/persistent-windowed.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function open(stateDir: string, logged: Array<[string, string | null]> = []) {
  return new PersistentKeyValueStore<string, number>('counts', stringSerde(), undefined, {
    changelog: (k, v) => logged.push([k.toString(), v === null ? null : v.toString()]),
    stateDir,
  });
}

describe('persistent key-value store (LMDB)', () => {
  it('reads its own writes, logs each, keeps what was flushed across a reopen and drops what was not', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-store-'));
    dirs.push(dir);
    const logged: Array<[string, string | null]> = [];
    const store = open(dir, logged);
    store.put('b', 2);
    store.put('a', 1);
    store.put('c', 3);
    store.delete('c');
    expect(store.get('a')).toBe(1);
    expect(store.all()).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(store.approximateNumEntries()).toBe(2);
    expect(logged).toEqual([
      ['b', '2'],
      ['a', '1'],
      ['c', '3'],
      ['c', null],
    ]);
    await store.flush();
    store.put('a', 10); // not flushed: a dirty close drops it
    await store.close();

    const reopened = open(dir);
    expect(reopened.all()).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    reopened.wipe();
    expect(reopened.all()).toEqual([]);
    await reopened.close();
  });

  it('restores changelog records (tombstones too), written to disk by flush', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-store-'));
    dirs.push(dir);
    const store = open(dir);
    store.restore(Buffer.from('x'), Buffer.from('5'));
    store.restore(Buffer.from('y'), Buffer.from('6'));
    store.restore(Buffer.from('x'), null);
    await store.flush();
    expect(store.get('y')).toBe(6);
    expect(store.get('x')).toBeUndefined();
    await store.close();
  });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'millrace-store-'));
  dirs.push(dir);
  return dir;
}

describe('persistent window store (LMDB)', () => {
  const openWindows = (stateDir: string, logged: Buffer[] = []) =>
    new PersistentWindowStore<string, number>('w', stringSerde(), 100, undefined, {
      changelog: (k) => logged.push(k),
      stateDir,
    });

  it("fetches a key's windows in time order (negative starts too), never another key's, across a reopen", async () => {
    const dir = tempDir();
    const logged: Buffer[] = [];
    const store = openWindows(dir, logged);
    store.put('a', 20, 2);
    store.put('a', -10, 1);
    store.put('ab', 0, 9); // 'a' is its prefix
    await store.flush();
    store.put('a', 30, 3); // cached, read with what is on disk
    expect(store.fetch('a', -50, 50)).toEqual([
      [-10, 1],
      [20, 2],
      [30, 3],
    ]);
    expect(store.fetch('a', 0, 25)).toEqual([[20, 2]]);
    expect(store.get('ab', 0)).toBe(9);
    // Logged in Kafka's window key: the key's bytes, then the start as a signed 8-byte number.
    expect(logged[1]!.subarray(0, 1).toString()).toBe('a');
    expect(logged[1]!.readBigInt64BE(1)).toBe(-10n);
    await store.close(); // 30 was not flushed: dropped
    const reopened = openWindows(dir);
    expect(reopened.fetch('a', -50, 50)).toEqual([
      [-10, 1],
      [20, 2],
    ]);
    await reopened.close();
  });

  it('hides and sweeps windows past retention, and restores from changelog keys', async () => {
    const store = openWindows(tempDir());
    store.put('k', 0, 1);
    store.put('k', 150, 2);
    await store.flush();
    store.expire(160); // retention 100: the window at 0 is gone
    expect(store.fetch('k', 0, 200)).toEqual([[150, 2]]);
    expect(store.get('k', 0)).toBeUndefined();
    const key = Buffer.alloc(9);
    key.write('r');
    key.writeBigInt64BE(140n, 1);
    store.restore(key, Buffer.from('7'));
    await store.flush();
    expect(store.get('r', 140)).toBe(7);
    await store.close();
  });
});

describe('persistent session store (LMDB)', () => {
  const openSessions = (stateDir: string) =>
    new PersistentSessionStore<string, number>('s', stringSerde(), undefined, 50, { changelog: null, stateDir });

  it('finds overlapping sessions, forgets removed ones, keeps flushed ones across a reopen', async () => {
    const dir = tempDir();
    const store = openSessions(dir);
    store.put('k', { start: 0, end: 10, value: 2 });
    store.put('k', { start: 30, end: 40, value: 3 });
    store.put('kk', { start: 0, end: 100, value: 9 });
    await store.flush();
    store.remove('k', { start: 0, end: 10 });
    store.put('k', { start: 0, end: 40, value: 6 });
    expect(store.find('k', 5, 35)).toEqual([
      { start: 0, end: 40, value: 6 },
      { start: 30, end: 40, value: 3 },
    ]);
    expect(store.find('k', 41, 90)).toEqual([]);
    await store.flush();
    await store.close();
    const reopened = openSessions(dir);
    const byKey = (a: [string, { start: number }], b: [string, { start: number }]) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1].start - b[1].start;
    expect(reopened.all().sort(byKey)).toEqual([
      ['k', { start: 0, end: 40, value: 6 }],
      ['k', { start: 30, end: 40, value: 3 }],
      ['kk', { start: 0, end: 100, value: 9 }],
    ]);
    reopened.expire(130); // retention 50: sessions ending before 80 are gone
    expect(reopened.all()).toEqual([['kk', { start: 0, end: 100, value: 9 }]]);
    await reopened.close();
  });
});
