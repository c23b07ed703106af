import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaderEpochCache, UNDEFINED_EPOCH } from '../../../src/storage/index.js';
import { tempDir } from '../../harness/storage.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function cache(): LeaderEpochCache {
  const d = tempDir();
  dirs.push(d);
  return new LeaderEpochCache(d);
}

describe('LeaderEpochCache', () => {
  it('answers OffsetsForLeaderEpoch as Kafka does', () => {
    const c = cache();
    c.assign(2, 10);
    c.assign(4, 30);
    c.assign(5, 50);
    const leo = 70;
    expect(c.endOffsetFor(5, leo)).toEqual({ epoch: 5, endOffset: 70 }); // latest: log end
    expect(c.endOffsetFor(4, leo)).toEqual({ epoch: 4, endOffset: 50 });
    expect(c.endOffsetFor(3, leo)).toEqual({ epoch: 2, endOffset: 30 }); // unknown epoch: the floor's, ending at the next
    expect(c.endOffsetFor(1, leo)).toEqual({ epoch: 1, endOffset: 10 }); // older than any: ends where the first begins
    expect(c.endOffsetFor(6, leo)).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: -1 });
    expect(c.endOffsetFor(UNDEFINED_EPOCH, leo)).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: -1 });
    expect(c.epochForOffset(29)).toBe(2);
    expect(c.epochForOffset(30)).toBe(4);
  });

  it('ignores stale epochs, drops contradicted entries, and persists in Kafka format', () => {
    const c = cache();
    c.assign(1, 0);
    c.assign(3, 20);
    c.assign(2, 25);
    c.assign(3, 40);
    expect(c.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 3, startOffset: 20 },
    ]);
    c.assign(4, 15); // a new leader whose log ends before epoch 3 began
    expect(c.all).toEqual([
      { epoch: 1, startOffset: 0 },
      { epoch: 4, startOffset: 15 },
    ]);
    expect(fs.readFileSync(c.file, 'utf8')).toBe('0\n2\n1 0\n4 15\n');
    expect(new LeaderEpochCache(path.dirname(c.file)).all).toEqual(c.all);
  });

  it('truncates from the end and from the start', () => {
    const c = cache();
    c.assign(1, 0);
    c.assign(2, 10);
    c.assign(3, 20);
    c.truncateFromStart(15);
    expect(c.all).toEqual([
      { epoch: 2, startOffset: 15 },
      { epoch: 3, startOffset: 20 },
    ]);
    c.truncateFromEnd(20);
    expect(c.all).toEqual([{ epoch: 2, startOffset: 15 }]);
  });
});
