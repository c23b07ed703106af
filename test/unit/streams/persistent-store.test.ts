import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringSerde } from '../../../src/client/index.js';
import { PersistentKeyValueStore } from '../../../src/streams/persistent-store.js';

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
