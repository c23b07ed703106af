import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLEAN_SHUTDOWN_MARKER,
  LogManager,
  RECOVERY_POINT_CHECKPOINT,
  logConfig,
  segmentFileName,
  type Log,
} from '../../../src/storage/index.js';
import { batchOf, sequenceNumbers, tempDir } from '../../harness/storage.js';

const T0 = 1_700_000_000_000;
const tp = { topic: 'payments.eu-west', partition: 3 };
const dirs: string[] = [];
const managers: LogManager[] = [];
const config = logConfig({ segmentBytes: 4096, indexIntervalBytes: 256, retentionMs: -1 });

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close().catch(() => undefined);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

function open(dir: string): LogManager {
  const m = LogManager.open({ dataDir: dir, configFor: () => config });
  managers.push(m);
  return m;
}

/**
 * Opens a manager, writes `batches` batches of 5 records, and leaves without closing: the
 * process "dies" with no clean-shutdown marker and no flushed indexes or checkpoints.
 */
function writeAndCrash(dir: string, batches: number): { log: Log; batchEnds: number[] } {
  const m = LogManager.open({ dataDir: dir, configFor: () => config });
  const log = m.getOrCreate(tp);
  const batchEnds: number[] = [];
  for (let i = 0; i < batches; i++)
    batchEnds.push(log.appendAsLeader(batchOf(i * 5, 5, T0 + i, 'none', 30), 1).lastOffset + 1);
  return { log, batchEnds };
}

function readAll(log: Log): number[] {
  const out: number[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, 1 << 20);
    const seqs = sequenceNumbers(records).filter((n) => n >= offset);
    out.push(...seqs);
    offset = seqs.at(-1)! + 1;
  }
  return out;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const partitionDir = (dir: string): string => path.join(dir, 'payments.eu-west-3');
const segmentFiles = (dir: string, suffix: string): string[] =>
  fs
    .readdirSync(partitionDir(dir))
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(partitionDir(dir), f));

describe('clean shutdown and reopen', () => {
  it('writes the marker and checkpoints, and reopens with the same log and no rebuild', async () => {
    const dir = dataDir();
    const m = LogManager.open({ dataDir: dir, configFor: () => config });
    const log = m.getOrCreate(tp);
    for (let i = 0; i < 60; i++) log.appendAsLeader(batchOf(i * 5, 5, T0 + i * 5, 'none', 30), 2);
    const segments = log.segmentCount;
    await m.close();
    expect(fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_MARKER))).toBe(true);
    expect(fs.readFileSync(path.join(dir, RECOVERY_POINT_CHECKPOINT), 'utf8')).toBe('0\n1\npayments.eu-west 3 300\n');
    const indexBytes = segmentFiles(dir, '.index').map((f) => fs.statSync(f).size);
    expect(indexBytes.some((n) => n > 0)).toBe(true);

    const again = open(dir);
    expect(again.hadCleanShutdown).toBe(true);
    expect(fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_MARKER))).toBe(false);
    const reopened = again.get(tp)!;
    expect(reopened.logEndOffset).toBe(300);
    expect(reopened.recoveryPoint).toBe(300);
    expect(reopened.segmentCount).toBe(segments);
    expect(readAll(reopened)).toEqual(range(300));
    expect(reopened.offsetForTimestamp(T0 + 151)).toEqual({ offset: 151, timestamp: T0 + 151 });
    expect(reopened.leaderEpochCache.all).toEqual([{ epoch: 2, startOffset: 0 }]);
    reopened.appendAsLeader(batchOf(300, 5), 3);
    expect(readAll(reopened)).toEqual(range(305));
  });
});

describe('recovery after an unclean stop', () => {
  it('keeps everything that reached the file and rebuilds the unflushed indexes', () => {
    const dir = dataDir();
    writeAndCrash(dir, 80);
    const m = open(dir);
    expect(m.hadCleanShutdown).toBe(false);
    const log = m.get(tp)!;
    expect(log.logEndOffset).toBe(400);
    expect(readAll(log)).toEqual(range(400));
    // Batch i holds timestamps T0+i .. T0+i+4: T0+40 first appears as the last record of batch 36.
    expect(log.offsetForTimestamp(T0 + 40)).toEqual({ offset: 184, timestamp: T0 + 40 });
  });

  it('truncates a torn last batch and keeps every batch before it', () => {
    const dir = dataDir();
    writeAndCrash(dir, 80);
    const last = segmentFiles(dir, '.log').at(-1)!;
    fs.truncateSync(last, fs.statSync(last).size - 17);
    const log = open(dir).get(tp)!;
    expect(log.logEndOffset).toBe(395);
    expect(readAll(log)).toEqual(range(395));
    expect(log.appendAsLeader(batchOf(395, 5), 1).firstOffset).toBe(395);
  });

  it('truncates at a flipped bit in a middle segment, dropping later segments', () => {
    const dir = dataDir();
    const { batchEnds } = writeAndCrash(dir, 80);
    const logs = segmentFiles(dir, '.log');
    expect(logs.length).toBeGreaterThan(3);
    const victim = logs[2]!;
    const victimBase = Number(path.basename(victim, '.log'));
    // Damage the second batch of the third segment, inside its records.
    const firstBatchBytes = fs.readFileSync(victim).readInt32BE(8) + 12;
    const fd = fs.openSync(victim, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, firstBatchBytes + 70);
    b[0]! ^= 0x04;
    fs.writeSync(fd, b, 0, 1, firstBatchBytes + 70);
    fs.closeSync(fd);
    const log = open(dir).get(tp)!;
    const survivors = batchEnds.find((end) => end > victimBase)!;
    expect(log.logEndOffset).toBe(survivors);
    expect(readAll(log)).toEqual(range(survivors));
    expect(segmentFiles(dir, '.log')).toHaveLength(3);
  });

  it('removes garbage appended after the last batch', () => {
    const dir = dataDir();
    writeAndCrash(dir, 10);
    const last = segmentFiles(dir, '.log').at(-1)!;
    fs.appendFileSync(
      last,
      Buffer.from('\u0000\u0000\u0000\u0000garbage after the last batch, not a batch at all'.repeat(3)),
    );
    const log = open(dir).get(tp)!;
    expect(log.logEndOffset).toBe(50);
    expect(readAll(log)).toEqual(range(50));
    expect(log.appendAsLeader(batchOf(50, 5), 1).firstOffset).toBe(50);
    expect(readAll(log)).toEqual(range(55));
  });

  it('survives a data file of zeros where batches should be', () => {
    const dir = dataDir();
    writeAndCrash(dir, 10);
    fs.appendFileSync(segmentFiles(dir, '.log').at(-1)!, Buffer.alloc(8192));
    expect(open(dir).get(tp)!.logEndOffset).toBe(50);
  });
});

describe('damaged index files after a clean stop are rebuilt', () => {
  async function cleanLog(): Promise<string> {
    const dir = dataDir();
    const m = LogManager.open({ dataDir: dir, configFor: () => config });
    const log = m.getOrCreate(tp);
    for (let i = 0; i < 60; i++) log.appendAsLeader(batchOf(i * 5, 5, T0 + i * 5, 'none', 30), 0);
    await m.close();
    return dir;
  }

  const damage: Record<string, (file: string) => void> = {
    empty: (f) => fs.truncateSync(f, 0),
    missing: (f) => fs.rmSync(f),
    'random bytes': (f) => fs.writeFileSync(f, Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff))),
    'a partial entry': (f) => fs.appendFileSync(f, Buffer.from([1, 2, 3])),
    'entries pointing past the log': (f) => {
      const b = fs.readFileSync(f);
      b.writeInt32BE(0x7ffffff0, b.length - 4);
      fs.writeFileSync(f, b);
    },
  };

  for (const [kind, hurt] of Object.entries(damage)) {
    it(`offset index: ${kind}`, async () => {
      const dir = await cleanLog();
      for (const f of segmentFiles(dir, '.index')) if (fs.statSync(f).size > 0 || kind === 'missing') hurt(f);
      fs.rmSync(path.join(dir, CLEAN_SHUTDOWN_MARKER));
      fs.writeFileSync(path.join(dir, CLEAN_SHUTDOWN_MARKER), '');
      const log = open(dir).get(tp)!;
      expect(readAll(log)).toEqual(range(300));
      for (let o = 0; o < 300; o += 13) expect(sequenceNumbers(log.read(o, 1).records)).toContain(o);
    });
  }

  it('time index: random bytes', async () => {
    const dir = await cleanLog();
    for (const f of segmentFiles(dir, '.timeindex')) fs.writeFileSync(f, Buffer.alloc(24, 0xff));
    const log = open(dir).get(tp)!;
    expect(log.offsetForTimestamp(T0 + 222)).toEqual({ offset: 222, timestamp: T0 + 222 });
  });
});

describe('files that cannot be read give an error naming the file', () => {
  it('a segment that is not a readable file', () => {
    const dir = dataDir();
    const part = path.join(dir, 'orders-0');
    fs.mkdirSync(path.join(part, segmentFileName(0, '.log')), { recursive: true });
    expect(() => LogManager.open({ dataDir: dir })).toThrow(/KAFKA_STORAGE_ERROR.*orders-0\/00000000000000000000\.log/);
  });

  it('a malformed checkpoint', () => {
    const dir = dataDir();
    fs.writeFileSync(path.join(dir, RECOVERY_POINT_CHECKPOINT), '0\n2\norders 0 12\n');
    expect(() => LogManager.open({ dataDir: dir })).toThrow(/recovery-point-offset-checkpoint is malformed/);
  });

  it('a malformed leader-epoch checkpoint', () => {
    const dir = dataDir();
    fs.mkdirSync(path.join(dir, 'orders-0'));
    fs.writeFileSync(path.join(dir, 'orders-0', 'leader-epoch-checkpoint'), '0\n1\nthree 4\n');
    expect(() => LogManager.open({ dataDir: dir })).toThrow(/orders-0\/leader-epoch-checkpoint is malformed/);
  });
});

describe('LogManager', () => {
  it('creates, lists, deletes logs and ignores stray directories', async () => {
    const dir = dataDir();
    fs.mkdirSync(path.join(dir, 'lost+found'));
    fs.mkdirSync(path.join(dir, 'old-7.abc-delete'));
    const m = open(dir);
    expect(fs.existsSync(path.join(dir, 'old-7.abc-delete'))).toBe(false);
    m.getOrCreate({ topic: 'a-b-c', partition: 0 }).appendAsLeader(batchOf(0, 3), 0);
    m.getOrCreate({ topic: 'a-b-c', partition: 1 });
    expect([...m.all()].map(([k]) => k).sort()).toEqual(['a-b-c-0', 'a-b-c-1']);
    expect(m.delete({ topic: 'a-b-c', partition: 1 })).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('a-b-c'))).toEqual(['a-b-c-0']);
    await m.close();
    const again = open(dir);
    expect(again.get({ topic: 'a-b-c', partition: 0 })!.logEndOffset).toBe(3);
  });
});

describe('LogManager.openInSlices', () => {
  it('loads every log as open() does, yielding to the event loop between slices', async () => {
    const dir = dataDir();
    const first = open(dir);
    for (let p = 0; p < 40; p++)
      first.getOrCreate({ topic: 'many', partition: p }).appendAsLeader(batchOf(0, 5, T0), 1);
    await first.close();
    // Another task on the event loop gets turns while the logs load.
    let turns = 0;
    let loading = true;
    const tick = (): void => {
      if (!loading) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const m = await LogManager.openInSlices({ dataDir: dir, configFor: () => config }, 0);
    loading = false;
    managers.push(m);
    expect([...m.all()].length).toBe(40);
    expect(m.get({ topic: 'many', partition: 39 })!.logEndOffset).toBe(5);
    expect(turns).toBeGreaterThan(10);
  });
});
