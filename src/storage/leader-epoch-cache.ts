/**
 * The leader-epoch cache (KIP-101/279): for each leader epoch, the first offset written in it.
 * Followers truncate by it instead of by high watermark. Persisted as `leader-epoch-checkpoint`
 * in Kafka's checkpoint format, rewritten atomically on every change (changes are rare: one per
 * leader election).
 */
import * as path from 'node:path';
import { parseOffset, readCheckpointLines, writeCheckpointLines } from './checkpoint.js';

export const LEADER_EPOCH_CHECKPOINT = 'leader-epoch-checkpoint';
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1;

export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: number;
}

export interface EpochEndOffset {
  epoch: number;
  endOffset: number;
}

export class LeaderEpochCache {
  private entries: EpochEntry[];
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, LEADER_EPOCH_CHECKPOINT);
    const lines = readCheckpointLines(this.file, 2) ?? [];
    this.entries = lines.map(([epoch, offset]) => ({
      epoch: parseOffset(this.file, epoch!),
      startOffset: parseOffset(this.file, offset!),
    }));
  }

  get all(): readonly EpochEntry[] {
    return this.entries;
  }

  latestEpoch(): number {
    return this.entries.at(-1)?.epoch ?? UNDEFINED_EPOCH;
  }

  /**
   * Records that `epoch` starts at `startOffset`. An epoch at or below the latest is ignored;
   * entries that the new one contradicts (starting at or after its offset) are dropped first.
   */
  assign(epoch: number, startOffset: number): void {
    if (epoch < 0) return;
    const latest = this.entries.at(-1);
    if (latest !== undefined && epoch <= latest.epoch) return;
    const kept = this.entries.filter((e) => e.startOffset < startOffset);
    kept.push({ epoch, startOffset });
    this.entries = kept;
    this.persist();
  }

  /**
   * Kafka's OffsetsForLeaderEpoch answer: for the latest epoch, the log end offset; for an older
   * one, the start offset of the next higher epoch, paired with the largest epoch <= requested.
   */
  endOffsetFor(requested: number, logEndOffset: number): EpochEndOffset {
    const undefinedResult = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (requested === UNDEFINED_EPOCH || this.entries.length === 0) return undefinedResult;
    if (requested === this.latestEpoch()) return { epoch: requested, endOffset: logEndOffset };
    const higher = this.entries.find((e) => e.epoch > requested);
    if (higher === undefined) return undefinedResult;
    const floor = this.entries.filter((e) => e.epoch <= requested).at(-1);
    return { epoch: floor?.epoch ?? requested, endOffset: higher.startOffset };
  }

  /** The epoch that wrote `offset`, or UNDEFINED_EPOCH. */
  epochForOffset(offset: number): number {
    let epoch = UNDEFINED_EPOCH;
    for (const e of this.entries) {
      if (e.startOffset > offset) break;
      epoch = e.epoch;
    }
    return epoch;
  }

  /** After the log is truncated to `endOffset`: drops epochs that start at or after it. */
  truncateFromEnd(endOffset: number): void {
    const kept = this.entries.filter((e) => e.startOffset < endOffset);
    if (kept.length !== this.entries.length) {
      this.entries = kept;
      this.persist();
    }
  }

  /** After the log start moves to `startOffset`: the epoch covering it now starts there. */
  truncateFromStart(startOffset: number): void {
    const first = this.entries[0];
    if (first === undefined || first.startOffset >= startOffset) return;
    let covering = 0;
    while (covering + 1 < this.entries.length && this.entries[covering + 1]!.startOffset <= startOffset) covering++;
    const kept = this.entries.slice(covering);
    kept[0] = { epoch: kept[0]!.epoch, startOffset };
    this.entries = kept;
    this.persist();
  }

  clear(): void {
    this.entries = [];
    this.persist();
  }

  private persist(): void {
    writeCheckpointLines(
      this.file,
      this.entries.map((e) => [e.epoch, e.startOffset]),
    );
  }
}
