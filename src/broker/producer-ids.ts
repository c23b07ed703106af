/**
 * Producer ids for InitProducerId, from blocks the controller allocates in the metadata log
 * (as KIP-730). The next block is fetched when the current one is 90% used, so a client rarely
 * waits for the controller.
 */
import { MillraceError } from '../../protocol/errors.js';
import { wire } from '../../protocol/wire.js';
import type { ControllerClient } from '../cluster/controller-client.js';

interface Block {
  next: number;
  end: number;
  size: number;
}

export class ProducerIdManager {
  private current: Block | null = null;
  private prefetched: Block | null = null;
  private fetching: Promise<Block> | null = null;

  constructor(
    private readonly brokerId: number,
    private readonly brokerEpoch: () => number,
    private readonly controller: ControllerClient,
    private readonly timeoutMs: number,
  ) {}

  async generate(): Promise<number> {
    for (;;) {
      if ((!this.current || this.current.next >= this.current.end) && this.prefetched) {
        this.current = this.prefetched;
        this.prefetched = null;
      }
      const block = this.current;
      if (block && block.next < block.end) {
        const id = block.next++;
        if (block.end - block.next <= block.size / 10) this.prefetch();
        return id;
      }
      // A prefetch may be the request this waited for: the block must not also stay prefetched.
      const fresh = await this.fetchBlock();
      if (this.prefetched === fresh) this.prefetched = null;
      this.current = fresh;
    }
  }

  /**
   * Fetches the first block now, so InitProducerId is answered without the controller (a
   * controller failover takes a lease time; producers should not wait on it).
   */
  warmUp(): void {
    if (!this.current) this.prefetch();
  }

  private prefetch(): void {
    if (this.prefetched || this.fetching) return;
    this.fetchBlock().then(
      (b) => {
        if (b !== this.current) this.prefetched = b;
      },
      () => undefined,
    );
  }

  private fetchBlock(): Promise<Block> {
    this.fetching ??= this.controller
      .call(
        'allocate_producer_ids',
        wire.AllocateProducerIdsRequest,
        { brokerId: this.brokerId, brokerEpoch: this.brokerEpoch() },
        wire.AllocateProducerIdsResponse,
        this.timeoutMs,
      )
      .then((res) => {
        if (res.producerIdLen <= 0)
          throw new MillraceError('COORDINATOR_NOT_AVAILABLE', 'the controller allocated no producer ids');
        const next = res.producerIdStart;
        return { next, end: next + res.producerIdLen, size: res.producerIdLen };
      })
      .finally(() => (this.fetching = null));
    return this.fetching;
  }
}
