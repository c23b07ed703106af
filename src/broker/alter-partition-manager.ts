/**
 * Sends the ISR changes of every partition this broker leads to the controller in batches, as
 * Kafka's AlterPartitionManager: changes asked for while a request is out wait and go together
 * in the next one, so a broker whose followers all rejoin at once sends a few requests, not one
 * per partition. Each change still gets its own result.
 */
import type { AlterResult } from '../../actors/isr-change.js';
import { MillraceError } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { tpKey } from '../../protocol/topic-partition.js';

interface Pending {
  item: millrace.IAlterPartitionItem;
  resolve: (result: AlterResult) => void;
  reject: (err: unknown) => void;
}

export type SendAlterPartition = (items: millrace.IAlterPartitionItem[]) => Promise<millrace.AlterPartitionResult[]>;

export class AlterPartitionManager {
  private pending = new Map<string, Pending>();
  private inFlight = false;

  constructor(private readonly send: SendAlterPartition) {}

  /** Resolves with the committed ISR and partition epoch of this change, or rejects with its error. */
  submit(item: millrace.IAlterPartitionItem): Promise<AlterResult> {
    return new Promise((resolve, reject) => {
      const key = tpKey(item.topic ?? '', item.partition ?? 0);
      // A newer change of the same partition replaces one not yet sent (its machine asked again).
      this.pending.get(key)?.reject(new MillraceError('INVALID_UPDATE_VERSION', 'replaced by a newer ISR change'));
      this.pending.set(key, { item, resolve, reject });
      if (!this.inFlight) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.pending.size === 0) return;
    this.inFlight = true;
    const batch = this.pending;
    this.pending = new Map();
    try {
      const results = await this.send([...batch.values()].map((p) => p.item));
      const byKey = new Map(results.map((r) => [tpKey(r.topic, r.partition), r]));
      for (const [key, p] of batch) {
        const r = byKey.get(key);
        if (!r) p.reject(new MillraceError('UNKNOWN_SERVER_ERROR', 'the controller did not answer for this partition'));
        else if (r.errorCode) p.reject(MillraceError.fromCode(r.errorCode, r.errorMessage));
        else p.resolve({ isr: r.isr, partitionEpoch: r.partitionEpoch });
      }
    } catch (err) {
      for (const p of batch.values()) p.reject(err);
    } finally {
      this.inFlight = false;
      if (this.pending.size) setImmediate(() => void this.flush());
    }
  }
}
