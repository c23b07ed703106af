import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecsReady, encodeRecordBatch } from '../../protocol/records/index.js';
import { LogManager, logConfig } from '../../src/storage/index.js';
import { runCli } from '../harness/cli.js';
import { tempDir } from '../harness/storage.js';

let dir: string;
let segment: string;

beforeAll(async () => {
  await codecsReady();
  dir = tempDir();
  const m = LogManager.open({ dataDir: dir, configFor: () => logConfig() });
  const log = m.getOrCreate({ topic: 'events', partition: 0 });
  log.appendAsLeader(
    encodeRecordBatch(
      [
        {
          key: Buffer.from('user-1'),
          value: Buffer.from('{"a":1}'),
          headers: [{ key: 'trace', value: Buffer.from('t-1') }],
          timestamp: 1000,
        },
        { key: null, value: null, timestamp: 1001 },
      ],
      { producerId: 7, producerEpoch: 1, baseSequence: 0 },
    ),
    3,
  );
  log.appendAsLeader(
    encodeRecordBatch([{ key: Buffer.from([0xff, 0xfe]), value: Buffer.from([0, 159, 146, 150]), timestamp: 2000 }], {
      compression: 'zstd',
    }),
    3,
  );
  await m.close();
  segment = path.join(dir, 'events-0', '00000000000000000000.log');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('millrace dump-log', () => {
  it('describes every batch as JSON, one object per line', async () => {
    const r = await runCli(['dump-log', segment, '--json']);
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      baseOffset: 0,
      lastOffset: 1,
      count: 2,
      position: 0,
      crcValid: true,
      compression: 'none',
      timestampType: 'CreateTime',
      baseTimestamp: 1000,
      maxTimestamp: 1001,
      partitionLeaderEpoch: 3,
      producerId: 7,
      producerEpoch: 1,
      baseSequence: 0,
      lastSequence: 1,
    });
    expect(lines[1]).toMatchObject({ baseOffset: 2, compression: 'zstd', crcValid: true });
    expect(lines[0]!.records).toBeUndefined();
  });

  it('adds records with UTF-8 or base64 values under "records"', async () => {
    const r = await runCli(['dump-log', segment, '--json', '--records']);
    const [first, second] = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { records: Record<string, unknown>[] });
    expect(first!.records[0]).toEqual({
      offset: 0,
      timestamp: 1000,
      key: 'user-1',
      keyEncoding: 'utf8',
      value: '{"a":1}',
      valueEncoding: 'utf8',
      headers: [{ key: 'trace', value: 't-1', valueEncoding: 'utf8' }],
    });
    expect(first!.records[1]).toMatchObject({ offset: 1, key: null, value: null });
    expect(second!.records[0]).toMatchObject({
      offset: 2,
      key: Buffer.from([0xff, 0xfe]).toString('base64'),
      keyEncoding: 'base64',
      valueEncoding: 'base64',
    });
  });

  it('prints a readable text dump', async () => {
    const r = await runCli(['dump-log', segment, '--records']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Log starting offset: 0');
    expect(r.stdout).toMatch(/baseOffset: 0 lastOffset: 1 count: 2 .*crcValid: true/);
    expect(r.stdout).toContain('| offset: 0 timestamp: 1000 key: "user-1" value: "{\\"a\\":1}" headers: [trace="t-1"]');
    expect(r.stdout).toContain('2 batches, 3 records');
  });

  it('reports a CRC mismatch and a torn tail, keeps going, and exits 1', async () => {
    const damaged = path.join(dir, 'damaged.log');
    const bytes = fs.readFileSync(segment);
    bytes[70]! ^= 0x01; // inside the first batch's records
    fs.writeFileSync(damaged, Buffer.concat([bytes, bytes.subarray(0, 30)]));
    const r = await runCli(['dump-log', damaged, '--json']);
    expect(r.status).toBe(1);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { crcValid: boolean });
    expect(lines.map((l) => l.crcValid)).toEqual([false, true]);
    expect(r.stderr).toMatch(/truncated data at byte \d+/);
    expect(r.stderr).toMatch(/1 batches have a CRC mismatch/);
  });

  it('names a missing file and a wrong flag clearly', async () => {
    const missing = await runCli(['dump-log', path.join(dir, 'nope.log')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/KAFKA_STORAGE_ERROR: cannot open .*nope\.log: ENOENT/);
    const badFlag = await runCli(['dump-log', segment, '--recrods']);
    expect(badFlag.status).not.toBe(0);
    expect(badFlag.stderr).toMatch(/unknown option '--recrods'/);
  });
});
