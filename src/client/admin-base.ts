/** The admin client's request plumbing and topic offsets, shared by its topic and group parts. */
import { MillraceError } from '../../protocol/errors.js';
import type { BrokerApi } from '../../protocol/subjects.js';
import type { MessageType } from '../transport/rpc.js';
import { callBroker, forComponent, type ClientContext } from './context.js';
import { ADMIN_EVENTS, Instrumentation, type AdminEvents, type InstrumentationEvent } from './instrumentation.js';
import { LATEST, listOffsets } from './offsets.js';
import type { IsolationLevel } from './types.js';

export class AdminBase {
  /** kafkajs's event names: `admin.on(admin.events.REQUEST, listener)`. */
  readonly events = ADMIN_EVENTS;
  private readonly instrumentation: Instrumentation<AdminEvents>;
  protected readonly ctx: ClientContext;

  constructor(ctx: ClientContext) {
    const instrumentation = new Instrumentation<AdminEvents>(ctx.logger);
    this.instrumentation = instrumentation;
    this.ctx = forComponent(ctx, {
      request: (payload) => instrumentation.emit('admin.network.request', payload),
      timeout: (payload) => instrumentation.emit('admin.network.request_timeout', payload),
    });
  }

  /** Listens to one of `admin.events`; returns the function that removes the listener. */
  on<K extends keyof AdminEvents & string>(
    type: K,
    listener: (event: InstrumentationEvent<AdminEvents[K]>) => void,
  ): () => void {
    return this.instrumentation.on(type, listener);
  }

  /** Sends an admin request to a live broker, which forwards it to the controller. */
  protected call<ReqI, Res>(
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
  ): Promise<Res> {
    return this.callAt(() => this.ctx.metadata.anyBroker(), api, requestType, message, responseType);
  }

  /** A request to the broker `target` names (found again on each retry), retried while retriable. */
  protected callAt<ReqI, Res>(
    target: () => Promise<number>,
    api: BrokerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
  ): Promise<Res> {
    return this.ctx.retry(async () => callBroker(this.ctx, await target(), api, requestType, message, responseType));
  }

  /**
   * Offsets of every partition of `topic` for a timestamp (-1 latest, -2 earliest, or ms); with
   * read_committed, "latest" is each partition's last stable offset.
   */
  async fetchTopicOffsets(
    topic: string,
    timestamp: number = LATEST,
    options: { isolationLevel?: IsolationLevel } = {},
  ): Promise<Array<{ partition: number; offset: bigint }>> {
    const offsets = await this.offsets(topic, timestamp, options.isolationLevel);
    return [...offsets].map(([partition, o]) => {
      if (typeof o === 'string') throw new MillraceError('LEADER_NOT_AVAILABLE', o);
      return { partition, offset: o.offset };
    });
  }

  protected async offsets(
    topic: string,
    timestamp: number,
    isolationLevel?: IsolationLevel,
  ): Promise<Map<number, { offset: bigint; logEndOffset: bigint } | string>> {
    const parts = await this.ctx.metadata.partitionsOf(topic);
    const byLeader = new Map<number, number[]>();
    for (const p of parts) byLeader.set(p.leader, [...(byLeader.get(p.leader) ?? []), p.partition]);
    const out = new Map<number, { offset: bigint; logEndOffset: bigint } | string>();
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        if (leader < 0) {
          for (const p of partitions) out.set(p, 'no leader');
          return;
        }
        try {
          for (const [p, o] of await listOffsets(this.ctx, leader, topic, partitions, timestamp, isolationLevel)) {
            out.set(
              p,
              o instanceof MillraceError
                ? o.detail
                : { offset: BigInt(o.offset), logEndOffset: BigInt(o.logEndOffset) },
            );
          }
        } catch (err) {
          for (const p of partitions) out.set(p, (err as Error).message);
        }
      }),
    );
    return out;
  }
}
