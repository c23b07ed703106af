/**
 * Kafka's checkpoint file format (version 0): a version line, a count line, then one entry a
 * line. Used for leader-epoch-checkpoint ("epoch startOffset") and the per-data-directory
 * recovery-point and log-start-offset checkpoints ("topic partition offset").
 */
import { MillraceError } from '../../protocol/errors.js';
import { readFileIfExists, writeFileAtomic } from './files.js';

const VERSION = '0';

function corrupt(file: string, why: string): MillraceError {
  return new MillraceError('KAFKA_STORAGE_ERROR', `checkpoint file ${file} is malformed: ${why}`);
}

export function readCheckpointLines(file: string, fieldsPerLine: number): string[][] | null {
  const text = readFileIfExists(file);
  if (text === null) return null;
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines[0] !== VERSION) throw corrupt(file, `unsupported version '${lines[0] ?? ''}'`);
  const count = Number(lines[1]);
  if (!Number.isInteger(count) || count < 0) throw corrupt(file, `bad entry count '${lines[1] ?? ''}'`);
  const entries = lines.slice(2);
  if (entries.length !== count) throw corrupt(file, `declares ${count} entries, holds ${entries.length}`);
  return entries.map((line, i) => {
    const fields = line.split(' ');
    if (fields.length !== fieldsPerLine)
      throw corrupt(file, `entry ${i + 1} has ${fields.length} fields, expected ${fieldsPerLine}`);
    return fields;
  });
}

export function writeCheckpointLines(file: string, entries: readonly (readonly (string | number)[])[]): void {
  const body = entries.map((e) => e.join(' ')).join('\n');
  writeFileAtomic(file, `${VERSION}\n${entries.length}\n${body}${entries.length ? '\n' : ''}`);
}

export function parseOffset(file: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw corrupt(file, `'${value}' is not an offset`);
  return n;
}

/** topic-partition -> offset, as in recovery-point-offset-checkpoint and log-start-offset-checkpoint. */
export class OffsetCheckpointFile {
  constructor(readonly file: string) {}

  read(): Map<string, number> {
    const entries = readCheckpointLines(this.file, 3) ?? [];
    return new Map(
      entries.map(([topic, partition, offset]) => [`${topic}-${partition}`, parseOffset(this.file, offset!)]),
    );
  }

  write(offsets: Iterable<[topic: string, partition: number, offset: number]>): void {
    writeCheckpointLines(this.file, [...offsets]);
  }
}
