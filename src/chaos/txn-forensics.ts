/**
 * What the brokers' logs hold around a transaction the checker found broken: for each replica
 * of each partition it touched, the batches near the one holding its value (data batches with
 * their values, markers with their type and coordinator epoch). A failed chaos run prints this,
 * so a failure seen once (in CI, say) can be read without reproducing it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dumpLog } from '../cli/dump-log.js';

/** A broken transaction as the checker reports it: its values, one per partition. */
export interface BrokenTxn {
  writer: string;
  values: number[];
  partitions: number[];
}

interface DumpedBatch {
  baseOffset: number;
  producerId: number;
  producerEpoch: number;
  isControl: boolean;
  endTxnMarker?: string;
  coordinatorEpoch?: number;
  records?: Array<{ value: string | null }> | null;
}

/** Batches of a broken transaction's partitions, `around` batches either side of its value. */
export function txnForensics(clusterDir: string, topic: string, txn: BrokenTxn, around = 6): string[] {
  const lines: string[] = [`transaction of ${txn.writer}: values ${txn.values.join(', ')}`];
  const brokerDirs = fs
    .readdirSync(clusterDir)
    .filter((d) => d.startsWith('broker-'))
    .sort();
  txn.values.forEach((value, i) => {
    const partition = txn.partitions[i];
    for (const broker of brokerDirs) {
      const dir = path.join(clusterDir, broker, `${topic}-${partition}`);
      if (!fs.existsSync(dir)) continue;
      const batches = readBatches(dir);
      const at = batches.findIndex((b) => b.records?.some((r) => r.value === String(value)));
      const producerId = at >= 0 ? batches[at]!.producerId : null;
      lines.push(
        `  ${broker} ${topic}-${partition}: value ${value} ${at >= 0 ? `at offset ${batches[at]!.baseOffset}` : 'not in this replica'}`,
      );
      const from = at >= 0 ? Math.max(0, at - around) : Math.max(0, batches.length - around);
      const to = at >= 0 ? at + around + 1 : batches.length;
      for (const b of batches.slice(from, to)) {
        const mine = producerId !== null && b.producerId === producerId ? '*' : ' ';
        const what = b.isControl
          ? `${b.endTxnMarker ?? 'control'} (coordinator epoch ${b.coordinatorEpoch ?? '?'})`
          : `values ${(b.records ?? []).map((r) => r.value).join(',')}`;
        lines.push(`   ${mine} ${b.baseOffset} producer ${b.producerId}/${b.producerEpoch} ${what}`);
      }
    }
  });
  return lines;
}

function readBatches(dir: string): DumpedBatch[] {
  const batches: DumpedBatch[] = [];
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort())
    dumpLog(path.join(dir, file), { json: true, records: true }, (line) =>
      batches.push(JSON.parse(line) as DumpedBatch),
    );
  return batches;
}
