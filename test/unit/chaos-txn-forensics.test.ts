import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../protocol/records/index.js';
import { Log, logConfig } from '../../src/storage/index.js';
import { txnForensics } from '../../src/chaos/txn-forensics.js';
import { cleanedAfterEach } from '../harness/storage.js';

const T0 = 1_700_000_000_000;
const cleaned = cleanedAfterEach();

const txnBatch = (pid: number, seq: number, value: number): Buffer =>
  encodeRecordBatch([{ key: null, value: Buffer.from(String(value)), timestamp: T0 }], {
    producerId: pid,
    producerEpoch: 3,
    baseSequence: seq,
    transactional: true,
  });

describe('txn forensics', () => {
  it("shows each replica's batches around a broken transaction's values, markers with their coordinator epoch", async () => {
    const clusterDir = cleaned.dir();
    // Broker 1 holds value 11 and its commit marker; broker 2's replica lacks it.
    for (const [broker, hasValue] of [
      [1, true],
      [2, false],
    ] as const) {
      const log = cleaned.log(
        Log.open({
          dir: path.join(clusterDir, `broker-${broker}`, 'events-txn-0'),
          config: logConfig({}),
          hadCleanShutdown: true,
          now: () => T0,
        }),
      );
      log.appendAsLeader(txnBatch(7, 0, 10), 0);
      log.appendMarker({ type: 'COMMIT', producerId: 7, producerEpoch: 3, coordinatorEpoch: 2 }, 0);
      if (hasValue) {
        log.appendAsLeader(txnBatch(8, 0, 11), 0);
        log.appendMarker({ type: 'ABORT', producerId: 8, producerEpoch: 3, coordinatorEpoch: 1 }, 0);
      }
      await log.close();
    }
    const lines = txnForensics(clusterDir, 'events-txn', { writer: 'w-1', values: [11], partitions: [0] });
    expect(lines).toEqual([
      'transaction of w-1: values 11',
      '  broker-1 events-txn-0: value 11 at offset 2',
      '     0 producer 7/3 values 10',
      '     1 producer 7/3 COMMIT (coordinator epoch 2)',
      '   * 2 producer 8/3 values 11',
      '   * 3 producer 8/3 ABORT (coordinator epoch 1)',
      '  broker-2 events-txn-0: value 11 not in this replica',
      '     0 producer 7/3 values 10',
      '     1 producer 7/3 COMMIT (coordinator epoch 2)',
    ]);
  });
});
