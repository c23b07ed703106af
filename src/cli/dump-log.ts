/**
 * `millrace dump-log`: what kafka-dump-log.sh is to Kafka. Reads a segment file read-only and
 * describes every batch, and with --records every record. A batch with a bad CRC is reported
 * and the dump goes on; bytes that are not a batch at all end it with a clear message.
 */
import { isUtf8 } from 'node:buffer';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type RecordBatchHeader,
  compressionName,
  compressionOf,
  decodeValidBatch,
  isControlBatch,
  isCrcValid,
  isLogAppendTime,
  isTransactional,
  readMarker,
  type DecodedRecord,
} from '../../protocol/records/index.js';
import { TXN_INDEX_SUFFIX } from '../storage/segment.js';
import { TXN_INDEX_ENTRY_BYTES, decodeTxnIndex } from '../storage/txn-tracker.js';
import { io } from '../storage/files.js';
import { scanBatches } from '../storage/scan.js';

export interface DumpOptions {
  records?: boolean;
  json?: boolean;
}

export interface DumpSummary {
  batches: number;
  records: number;
  invalidBatches: number;
  /** Set when the file ends in bytes that are not a whole batch. */
  damage: string | null;
}

type Encoded = { text: string; encoding: 'utf8' | 'base64' } | null;

function encodeBytes(b: Buffer | null): Encoded {
  if (b === null) return null;
  return isUtf8(b)
    ? { text: b.toString('utf8'), encoding: 'utf8' }
    : { text: b.toString('base64'), encoding: 'base64' };
}

function batchJson(h: RecordBatchHeader, position: number, crcValid: boolean): Record<string, unknown> {
  const lastSequence = h.baseSequence < 0 ? -1 : (h.baseSequence + h.lastOffsetDelta) % 2 ** 31;
  return {
    baseOffset: h.baseOffset,
    lastOffset: h.baseOffset + h.lastOffsetDelta,
    count: h.recordCount,
    position,
    size: h.sizeInBytes,
    magic: h.magic,
    crc: h.crc,
    crcValid,
    compression: compressionNameSafe(compressionOf(h)),
    timestampType: isLogAppendTime(h) ? 'LogAppendTime' : 'CreateTime',
    baseTimestamp: h.baseTimestamp,
    maxTimestamp: h.maxTimestamp,
    partitionLeaderEpoch: h.partitionLeaderEpoch,
    producerId: h.producerId,
    producerEpoch: h.producerEpoch,
    baseSequence: h.baseSequence,
    lastSequence,
    isTransactional: isTransactional(h),
    isControl: isControlBatch(h),
  };
}

function compressionNameSafe(code: number): string {
  try {
    return compressionName(code);
  } catch {
    return `unknown(${code})`;
  }
}

function recordJson(r: DecodedRecord): Record<string, unknown> {
  const key = encodeBytes(r.key);
  const value = encodeBytes(r.value);
  return {
    offset: r.offset,
    timestamp: r.timestamp,
    key: key?.text ?? null,
    keyEncoding: key?.encoding ?? null,
    value: value?.text ?? null,
    valueEncoding: value?.encoding ?? null,
    headers: r.headers.map((h) => {
      const v = encodeBytes(h.value);
      return { key: h.key, value: v?.text ?? null, valueEncoding: v?.encoding ?? null };
    }),
  };
}

const textField = (e: Encoded): string =>
  e === null ? 'null' : e.encoding === 'utf8' ? JSON.stringify(e.text) : `base64:${e.text}`;

/** Writes the dump of `file` through `out`, one line at a time (a `.txnindex`: its aborted transactions). */
export function dumpLog(file: string, options: DumpOptions, out: (line: string) => void): DumpSummary {
  if (file.endsWith(TXN_INDEX_SUFFIX)) return dumpTxnIndex(file, options, out);
  const fd = io('open', file, () => fs.openSync(file, 'r'));
  const summary: DumpSummary = { batches: 0, records: 0, invalidBatches: 0, damage: null };
  try {
    const size = io('stat', file, () => fs.fstatSync(fd).size);
    if (!options.json) {
      out(`Dumping ${file}`);
      const base = Number(path.basename(file).replace(/\.log$/, ''));
      if (Number.isSafeInteger(base)) out(`Log starting offset: ${base}`);
    }
    const result = scanBatches(fd, file, 0, size, { verifyCrc: false, wholeBatches: true }, (buf, pos, position, h) => {
      const crcValid = isCrcValid(buf, pos, h.sizeInBytes);
      const batch = batchJson(h, position, crcValid);
      // A transaction marker says which end and which coordinator epoch, as kafka-dump-log's endTxnMarker.
      if (isControlBatch(h) && crcValid) {
        try {
          const marker = readMarker(buf, pos, { ...h });
          if (marker) Object.assign(batch, { endTxnMarker: marker.type, coordinatorEpoch: marker.coordinatorEpoch });
        } catch (err) {
          batch.markerError = (err as Error).message;
        }
      }
      summary.batches++;
      summary.records += h.recordCount;
      if (!crcValid) summary.invalidBatches++;
      let records: DecodedRecord[] | null = null;
      let recordError: string | null = null;
      if (options.records) {
        try {
          records = decodeValidBatch(buf, pos, { ...h }).records;
        } catch (err) {
          recordError = (err as Error).message;
        }
      }
      if (options.json) {
        if (options.records) batch.records = records === null ? null : records.map(recordJson);
        if (recordError !== null) batch.recordError = recordError;
        out(JSON.stringify(batch));
        return true;
      }
      out(
        Object.entries(batch)
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join(' '),
      );
      if (recordError !== null) out(`| cannot decode records: ${recordError}`);
      for (const r of records ?? []) {
        const headers = r.headers.map((hd) => `${hd.key}=${textField(encodeBytes(hd.value))}`).join(',');
        out(
          `| offset: ${r.offset} timestamp: ${r.timestamp} key: ${textField(encodeBytes(r.key))} value: ${textField(encodeBytes(r.value))} headers: [${headers}]`,
        );
      }
      return true;
    });
    if (result.problem !== null) {
      summary.damage = `${result.problem.kind} data at byte ${result.endPosition} of ${size}: ${result.problem.message}`;
    }
  } finally {
    fs.closeSync(fd);
  }
  return summary;
}

/** A segment's aborted-transaction index: one line per aborted transaction, as kafka-dump-log prints it. */
function dumpTxnIndex(file: string, options: DumpOptions, out: (line: string) => void): DumpSummary {
  const data = io('read', file, () => fs.readFileSync(file));
  const summary: DumpSummary = { batches: 0, records: 0, invalidBatches: 0, damage: null };
  const whole = data.length - (data.length % TXN_INDEX_ENTRY_BYTES);
  if (!options.json) out(`Dumping ${file}`);
  for (const entry of decodeTxnIndex(data.subarray(0, whole))) {
    summary.records++;
    if (options.json) out(JSON.stringify(entry));
    else
      out(
        `version: 0 producerId: ${entry.producerId} firstOffset: ${entry.firstOffset} lastOffset: ${entry.lastOffset} lastStableOffset: ${entry.lastStableOffset}`,
      );
  }
  if (whole !== data.length)
    summary.damage = `truncated entry at byte ${whole} of ${data.length}: a .txnindex entry is ${TXN_INDEX_ENTRY_BYTES} bytes`;
  return summary;
}
