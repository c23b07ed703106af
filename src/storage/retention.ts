/**
 * Retention's decision, apart from the deleting: how many of the oldest closed segments go, and
 * why each. A segment goes when it is past retention.ms (by its largest timestamp, or its file's
 * mtime when it has none), beyond retention.bytes, or wholly below the log start; a compact-only
 * topic keeps its segments but for the log start. The active (last) segment always stays.
 */
import type { LogConfig } from './config.js';
import type { LogSegment } from './segment.js';

export interface RetentionDecision {
  file: string;
  byTime: boolean;
  bySize: boolean;
  byStart: boolean;
}

export function segmentsPastRetention(
  segments: readonly LogSegment[],
  config: LogConfig,
  logStart: number,
  now: number,
  lastWrite: (segment: LogSegment) => number,
): RetentionDecision[] {
  const deletes = config.cleanupPolicy !== 'compact';
  const retentionMs = deletes ? config.retentionMs : -1;
  const retentionBytes = deletes ? config.retentionBytes : -1;
  let excess = retentionBytes >= 0 ? segments.reduce((n, s) => n + s.size, 0) - retentionBytes : -1;
  const out: RetentionDecision[] = [];
  for (let i = 0; i + 1 < segments.length; i++) {
    const oldest = segments[i]!;
    const byTime = retentionMs >= 0 && now - lastWrite(oldest) > retentionMs;
    const bySize = retentionBytes >= 0 && excess >= oldest.size;
    const byStart = segments[i + 1]!.baseOffset <= logStart;
    if (!byTime && !bySize && !byStart) break;
    out.push({ file: oldest.logFile, byTime, bySize, byStart });
    excess -= oldest.size;
  }
  return out;
}
