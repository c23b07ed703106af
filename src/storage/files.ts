/**
 * Thin wrappers over node:fs for the storage engine: every failure becomes a KAFKA_STORAGE_ERROR
 * naming the file and the operation, so an operator sees which file to look at.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MillraceError } from '../../protocol/errors.js';

export function storageError(op: string, file: string, cause: unknown): MillraceError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new MillraceError('KAFKA_STORAGE_ERROR', `cannot ${op} ${file}: ${reason}`, { cause });
}

/** Runs a file operation, turning any thrown error into a storage error about `file`. */
export function io<T>(op: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MillraceError) throw err;
    throw storageError(op, file, err);
  }
}

export function readFileIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw storageError('read', file, err);
  }
}

export function fsyncDirectory(dir: string): void {
  io('sync directory', dir, () => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** Replaces `file` with `content` atomically and durably: temp file, fsync, rename, fsync dir. */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const tmp = `${file}.tmp`;
  io('write', tmp, () => {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
  io('rename', tmp, () => fs.renameSync(tmp, file));
  fsyncDirectory(path.dirname(file));
}

/** Reads exactly `length` bytes at `position` (fewer only at end of file). */
export function readAt(fd: number, file: string, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  io('read', file, () => {
    while (done < length) {
      const n = fs.readSync(fd, buf, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
  });
  return done === length ? buf : buf.subarray(0, done);
}

export function writeAllAt(fd: number, file: string, buf: Uint8Array, position: number): void {
  io('write', file, () => {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
  });
}

export function fdatasyncAsync(fd: number, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fdatasync(fd, (err) => (err ? reject(storageError('sync', file, err)) : resolve()));
  });
}
