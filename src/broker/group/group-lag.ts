/**
 * The lag metric of committed offsets: every few seconds the high watermarks of the partitions
 * the loaded groups committed are fetched from their leaders; lag = high watermark - committed.
 */
import type { Logger } from 'pino';
import { parseTpKey } from '../../../protocol/topic-partition.js';
import type { CommittedOffset } from './offsets-topic.js';

const LAG_REFRESH_MS = 5_000;

type EndOffsets = (partitions: Array<{ topic: string; partition: number }>) => Promise<Map<string, number>>;
type GroupOffsets = Array<{ group: string; offsets: Map<string, CommittedOffset> }>;

export class GroupLag {
  /** High watermark per committed partition (topic-partition key). */
  private readonly ends = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly groups: () => GroupOffsets,
    private readonly endOffsets: EndOffsets | undefined,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.refresh(), LAG_REFRESH_MS);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    if (!this.endOffsets) return;
    const wanted = new Set<string>();
    for (const g of this.groups()) for (const k of g.offsets.keys()) wanted.add(k);
    if (wanted.size === 0) return;
    try {
      const ends = await this.endOffsets([...wanted].map(parseTpKey));
      this.ends.clear();
      for (const [k, v] of ends) this.ends.set(k, v);
    } catch (err) {
      this.logger.debug({ err }, 'cannot refresh end offsets for the lag metric');
    }
  }

  lag(groups: GroupOffsets): Array<{ group: string; topic: string; partition: number; lag: number }> {
    const out = [];
    for (const g of groups) {
      for (const [k, c] of g.offsets) {
        const end = this.ends.get(k);
        if (end === undefined) continue;
        out.push({ group: g.group, ...parseTpKey(k), lag: Math.max(0, end - c.offset) });
      }
    }
    return out;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
