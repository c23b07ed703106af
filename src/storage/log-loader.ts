/**
 * Opening a log's directory: leftovers of an interrupted cleaning or write removed, segments
 * opened in offset order, and after an unclean stop every segment from the recovery point on
 * re-validated batch by batch and cut at the first bad one (later segments deleted).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { LogConfig } from './config.js';
import { io } from './files.js';
import type { LogOpenOptions } from './log.js';
import { INDEX_SUFFIX, LOG_SUFFIX, LogSegment, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX } from './segment.js';

/** Where the cleaner writes a segment's cleaned copy before it replaces the original. */
export const CLEANER_STAGING_DIR = '.cleaner';

export interface LoadedLog {
  segments: LogSegment[];
  logEnd: number;
  logStart: number;
  recoveryPoint: number;
}

export function loadSegments(
  dir: string,
  config: LogConfig,
  options: LogOpenOptions,
  logger: Logger,
  now: number,
): LoadedLog {
  const segments: LogSegment[] = [];
  // A cleaning cut short by a crash left its copies here; the originals are still in place.
  const staging = path.join(dir, CLEANER_STAGING_DIR);
  io('delete', staging, () => fs.rmSync(staging, { recursive: true, force: true }));
  const names = io('list', dir, () => fs.readdirSync(dir));
  const bases = new Set<number>();
  for (const name of names) {
    if (name.endsWith('.tmp')) io('delete', name, () => fs.rmSync(path.join(dir, name), { force: true }));
    else if (name.endsWith(LOG_SUFFIX)) bases.add(Number(name.slice(0, -LOG_SUFFIX.length)));
  }
  // An index without its log is left over from a deleted segment.
  for (const name of names) {
    for (const suffix of [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX]) {
      if (name.endsWith(suffix) && !bases.has(Number(name.slice(0, -suffix.length)))) {
        io('delete', name, () => fs.rmSync(path.join(dir, name), { force: true }));
      }
    }
  }
  const sorted = [...bases].filter(Number.isSafeInteger).sort((a, b) => a - b);
  const clean = options.hadCleanShutdown ?? false;
  const recoveryPoint = options.recoveryPoint ?? 0;
  // After an unclean stop, recover from the segment holding the recovery point onwards.
  const recoverFrom = clean ? Infinity : (sorted.filter((b) => b <= recoveryPoint).at(-1) ?? -1);
  for (let i = 0; i < sorted.length; i++) {
    const segment = LogSegment.open(dir, sorted[i]!, config, now);
    segments.push(segment);
    let recover = segment.baseOffset >= recoverFrom;
    if (!recover && !segment.loadIndexes()) {
      logger.warn({ file: segment.logFile }, 'index files missing or implausible: rebuilding them from the log');
      recover = true;
    }
    if (!recover) continue;
    const result = segment.recover();
    if (result.problem === null) continue;
    logger.warn(
      {
        file: segment.logFile,
        validBytes: result.validBytes,
        truncatedBytes: result.truncatedBytes,
        reason: result.problem.message,
      },
      'invalid batch found during recovery: truncated the log there',
    );
    for (const later of sorted.slice(i + 1)) {
      const dropped = LogSegment.open(dir, later, config, now);
      logger.warn({ file: dropped.logFile, bytes: dropped.size }, 'deleting segment after a corrupt one');
      dropped.delete();
    }
    break;
  }
  if (segments.length === 0) {
    segments.push(LogSegment.create(dir, Math.max(options.logStartOffset ?? 0, 0), config, now));
  }
  const logEnd = segments[segments.length - 1]!.nextOffset;
  return {
    segments,
    logEnd,
    logStart: Math.max(segments[0]!.baseOffset, Math.min(options.logStartOffset ?? 0, logEnd)),
    recoveryPoint: clean ? logEnd : Math.min(recoveryPoint, logEnd),
  };
}
