/**
 * The active controller's writes to the metadata log (DESIGN.md section 4): each carries the
 * stream sequence it expects to follow, so a deposed controller's next write is refused. A batch
 * of records is pipelined (each expecting its predecessor's sequence; the server checks them in
 * order), so creating thousands of partitions costs a few round trips, not thousands.
 */
import { JetStreamApiError, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { MetadataRecord } from './records.js';

const encoder = new TextEncoder();
/** Publishes in flight at once: enough to hide the round trip, few enough to bound memory. */
const WINDOW = 256;

export class FencedError extends Error {}

export class MetadataWriter {
  constructor(
    private readonly js: JetStreamClient,
    private readonly bucket: string,
    public lastSeq: number,
  ) {}

  get nextSeq(): number {
    return this.lastSeq + 1;
  }

  /** Appends the records in order; resolves with the sequence of the last one. */
  async append(records: readonly MetadataRecord[]): Promise<number> {
    for (let i = 0; i < records.length; i += WINDOW) {
      const slice = records.slice(i, i + WINDOW);
      const base = this.lastSeq;
      const acks = await Promise.allSettled(slice.map((r, j) => this.publish(r, base + j)));
      for (const a of acks) if (a.status === 'fulfilled') this.lastSeq = Math.max(this.lastSeq, a.value.seq);
      const failed = acks.find((a): a is PromiseRejectedResult => a.status === 'rejected');
      if (failed) {
        const err: unknown = failed.reason;
        if (err instanceof JetStreamApiError && err.code === 10071)
          throw new FencedError(`metadata log moved past ${this.lastSeq}: ${err.message}`);
        throw err;
      }
    }
    return this.lastSeq;
  }

  private publish(record: MetadataRecord, expected: number): Promise<PubAck> {
    const subject = `$KV.${this.bucket}.${record.key}`;
    if (record.value !== null)
      return this.js.publish(subject, encoder.encode(JSON.stringify(record.value)), {
        expect: { lastSequence: expected },
      });
    const h = headers();
    h.set('KV-Operation', 'DEL');
    return this.js.publish(subject, new Uint8Array(0), { expect: { lastSequence: expected }, headers: h });
  }
}
