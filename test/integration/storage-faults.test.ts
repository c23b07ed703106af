/**
 * The data directory against what happens to it: a second broker on a directory in use stops
 * with an error naming the holder, a SIGKILLed broker's directory is taken over at once, and a
 * full disk (a small tmpfs) makes produce fail with KAFKA_STORAGE_ERROR without harming the log,
 * until space returns. Mounting needs root (CI runs as root); elsewhere the disk test is skipped.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { apis } from '../../protocol/kafka/index.js';
import { ErrorCodes } from '../../protocol/errors.js';
import { runCli } from '../harness/cli.js';
import { startBroker, stopAll, uniqueCluster, waitFor, type TestBroker } from '../harness/cluster.js';
import { kafkaRequest } from '../harness/kafka.js';
import { spawnBroker } from '../harness/processes.js';
import { batchOf, recordsIn, tempDir } from '../harness/storage.js';

const cluster = uniqueCluster('disk');
const brokers: TestBroker[] = [];
const cleanup: Array<() => void> = [];

afterAll(async () => {
  await stopAll(brokers);
  for (const c of cleanup.reverse()) c();
});

describe('the data directory lock', () => {
  it('stops a second broker on a directory in use, and lets a broker restart at once after a SIGKILL', async () => {
    const dir = tempDir('millrace-locked-');
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const first = await spawnBroker(1, inject('natsUrl'), cluster, dir);
    const second = await runCli([
      'broker',
      '--id',
      '2',
      '--nats',
      inject('natsUrl'),
      '--cluster',
      cluster,
      '--data-dir',
      dir,
    ]);
    expect(second.status).toBe(1);
    expect(second.stdout + second.stderr).toMatch(
      new RegExp(`data directory ${dir} is in use by broker 1 \\(pid ${first.child.pid} on `),
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const restarted = await startBroker(inject('natsUrl'), cluster, 1, {}, dir);
    brokers.push(restarted);
    await restarted.broker.stop();
    brokers.pop();
  });
});

const canMount = process.getuid?.() === 0;

describe.skipIf(!canMount && !process.env.CI)('a full disk', () => {
  it('fails produce with KAFKA_STORAGE_ERROR, keeps every acknowledged record, and recovers when space returns', async () => {
    const mount = tempDir('millrace-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mount]);
    cleanup.push(() => {
      execFileSync('umount', ['-l', mount]);
      fs.rmSync(mount, { recursive: true, force: true });
    });
    const dataDir = path.join(mount, 'broker');
    const b = await startBroker(inject('natsUrl'), uniqueCluster('full'), 1, { kafkaListener: '127.0.0.1:0' }, dataDir);
    brokers.push(b);
    const endpoint = b.broker.kafkaEndpoint!;
    const created = await kafkaRequest(endpoint, apis.CreateTopics, 5, {
      topics: [{ name: 'full', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 10_000,
    });
    expect(created.topics[0]!.errorCode).toBe(0);
    await waitFor('the partition led', () => b.broker.image.topics.get('full')?.partitions[0]?.leader === 1);
    // Leave about 300 KB free, then write 64 KB batches until the disk refuses one.
    const filler = path.join(mount, 'filler');
    const free = () => fs.statfsSync(mount).bavail * fs.statfsSync(mount).bsize;
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 300 * 1024)));
    let next = 0;
    const acked: number[] = [];
    const produce = async () => {
      const res = await kafkaRequest(endpoint, apis.Produce, 9, {
        transactionalId: null,
        acks: 1,
        timeoutMs: 5_000,
        topicData: [
          { name: 'full', partitionData: [{ index: 0, records: batchOf(next, 16, undefined, 'none', 4_000) }] },
        ],
      });
      return res.responses[0]!.partitionResponses[0]!;
    };
    let refused: { errorCode: number; errorMessage: string | null } | null = null;
    for (let i = 0; i < 100 && !refused; i++) {
      const p = await produce();
      if (p.errorCode === 0) {
        acked.push(Number(p.baseOffset));
        next += 16;
      } else refused = p;
    }
    expect(refused?.errorCode).toBe(ErrorCodes.KAFKA_STORAGE_ERROR.code);
    expect(refused?.errorMessage).toMatch(/ENOSPC|no space/i);
    expect(acked.length).toBeGreaterThan(0);
    // Space returns: the next produce succeeds, at the offset after the last acknowledged one.
    fs.rmSync(filler);
    const after = await produce();
    expect(after.errorCode).toBe(0);
    expect(Number(after.baseOffset)).toBe(acked.at(-1)! + 16);
    // Every acknowledged record reads back, in order, with nothing of the refused write.
    const fetched = await kafkaRequest(endpoint, apis.Fetch, 12, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 50 * 1024 * 1024,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          topic: 'full',
          partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 50 * 1024 * 1024, currentLeaderEpoch: -1 }],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
    const records = recordsIn(fetched.responses[0]!.partitions[0]!.records!);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: next + 16 }, (_, i) => i));
  });
});
