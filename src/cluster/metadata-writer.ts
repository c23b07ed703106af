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
const WINDOW = 1024;

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

  /**
   * Appends the records in order; resolves with the sequence of the last one. Up to WINDOW
   * publishes are in flight, a new one starting as each is acknowledged.
   */
  async append(records: readonly MetadataRecord[]): Promise<number> {
    const base = this.lastSeq;
    let next = 0;
    let failure: unknown = null;
    const lane = async (): Promise<void> => {
      while (failure === null && next < records.length) {
        const i = next++;
        try {
          const ack = await this.publish(records[i]!, base + i);
          this.lastSeq = Math.max(this.lastSeq, ack.seq);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WINDOW, records.length) }, lane));
    if (failure !== null) {
      if (failure instanceof JetStreamApiError && failure.code === 10071)
        throw new FencedError(`metadata log moved past ${this.lastSeq}: ${failure.message}`);
      throw failure;
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
