/**
 * The producer the application holds: serializes keys and values, traces each send, reports
 * its events, and hands records to the engine (producer-engine.ts), which batches and delivers.
 */
import { MillraceError } from '../../protocol/errors.js';
import { forComponent, type ClientContext } from './context.js';
import {
  Instrumentation,
  PRODUCER_EVENTS,
  channels,
  traced,
  type InstrumentationEvent,
  type ProducerEvents,
} from './instrumentation.js';
import { ProducerEngine } from './producer-engine.js';
import type { SerdeContext } from './serializers.js';
import type { Consumer } from './consumer.js';
import type { HeadersInput, Message, ProducerOptions, RecordMetadata } from './types.js';

export interface TopicMessages<K, V> {
  topic: string;
  messages: Array<Message<K, V>>;
}

export class Producer<K = Buffer | string, V = Buffer | string> {
  /** kafkajs's event names: `producer.on(producer.events.REQUEST, listener)`. */
  readonly events = PRODUCER_EVENTS;
  private readonly instrumentation: Instrumentation<ProducerEvents>;
  private readonly engine: ProducerEngine;
  private connected = false;
  private open: Transaction<K, V> | null = null;

  constructor(
    ctx: ClientContext,
    private readonly options: ProducerOptions<K, V> = {},
  ) {
    const instrumentation = new Instrumentation<ProducerEvents>(ctx.logger);
    this.instrumentation = instrumentation;
    this.engine = new ProducerEngine(
      forComponent(ctx, {
        request: (payload) => instrumentation.emit('producer.network.request', payload),
        timeout: (payload) => instrumentation.emit('producer.network.request_timeout', payload),
      }),
      options,
    );
  }

  /** Whether records are written exactly once per partition (the default with acks 'all'). */
  get idempotent(): boolean {
    return this.engine.idempotent;
  }

  /** Listens to one of `producer.events`; returns the function that removes the listener. */
  on<E extends keyof ProducerEvents & string>(
    type: E,
    listener: (event: InstrumentationEvent<ProducerEvents[E]>) => void,
  ): () => void {
    return this.instrumentation.on(type, listener);
  }

  /**
   * Begins a transaction (a producer with a transactionalId): its sends, and the offsets it
   * commits for a consumer group, become visible to read_committed readers together at
   * `commit()`, or never after `abort()`. One transaction at a time; the first call fences any
   * earlier producer of the transactional id.
   */
  async transaction(): Promise<Transaction<K, V>> {
    const txn = this.engine.txn;
    if (!txn)
      throw new MillraceError('INVALID_REQUEST', 'transaction() needs a producer created with a transactionalId');
    if (this.open) throw new MillraceError('INVALID_TXN_STATE', 'a transaction is open: commit or abort it first');
    txn.check(false);
    if (txn.producerId < 0) await this.engine.initTransactions();
    const t = new Transaction<K, V>(this, this.engine, () => (this.open = null));
    this.open = t;
    return t;
  }

  /** Sends messages to a topic; resolves with each message's partition and offset once acknowledged. */
  send(record: TopicMessages<K, V>): Promise<RecordMetadata[]> {
    if (this.engine.txn)
      return Promise.reject(
        new MillraceError(
          'INVALID_TXN_STATE',
          'a transactional producer sends within a transaction: producer.transaction()',
        ),
      );
    return this.sendNow(record);
  }

  /** @internal A send of the open transaction, or of a producer without one. */
  sendNow(record: TopicMessages<K, V>): Promise<RecordMetadata[]> {
    const context = channels.send.hasSubscribers ? { topic: record?.topic, messages: record?.messages } : null;
    return context ? traced(channels.send, context, () => this.deliver(record)) : this.deliver(record);
  }

  /** Sends to several topics at once (kafkajs's sendBatch): one result per message, in the order given. */
  async sendBatch(batch: { topicMessages: Array<TopicMessages<K, V>> }): Promise<RecordMetadata[]> {
    if (this.engine.txn) throw outsideTransaction();
    return this.sendBatchNow(batch);
  }

  /** @internal sendBatch within the open transaction. */
  async sendBatchNow(batch: { topicMessages: Array<TopicMessages<K, V>> }): Promise<RecordMetadata[]> {
    if (!Array.isArray(batch?.topicMessages) || batch.topicMessages.length === 0)
      throw new MillraceError('INVALID_REQUEST', 'sendBatch needs topicMessages: [{ topic, messages }]');
    const results = await Promise.all(batch.topicMessages.map((tm) => this.sendNow(tm)));
    return results.flat();
  }

  private async deliver(record: TopicMessages<K, V>): Promise<RecordMetadata[]> {
    if (!this.connected) {
      this.connected = true;
      this.engine.connected().then(
        () => this.instrumentation.emit('producer.connect', {}),
        () => (this.connected = false),
      );
    }
    const { serializers } = this.options;
    if (!serializers?.key && !serializers?.value)
      return this.engine.send(record as TopicMessages<unknown, unknown> as never);
    if (!record || !Array.isArray(record.messages)) return this.engine.send(record as never);
    const serialized = this.serialize(record.topic, record.messages);
    return this.engine.send({
      topic: record.topic,
      messages: serialized instanceof Promise ? await serialized : serialized,
    });
  }

  /** Serializes every key and value; awaits only when a serializer answered with a promise. */
  private serialize(topic: string, messages: Array<Message<K, V>>): Message[] | Promise<Message[]> {
    const { key: keySerializer, value: valueSerializer } = this.options.serializers!;
    // Messages without headers share one context per part: nothing allocated per record for it.
    const keyContext: SerdeContext = { topic, part: 'key', headers: NO_HEADERS };
    const valueContext: SerdeContext = { topic, part: 'value', headers: NO_HEADERS };
    let pending = false;
    const out = new Array<Message<unknown, unknown>>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const headers = m.headers ? headersOf(m.headers) : null;
      const key =
        keySerializer && m.key != null
          ? keySerializer.serialize(m.key, headers ? { topic, part: 'key', headers } : keyContext)
          : m.key;
      const value =
        valueSerializer && m.value !== null
          ? valueSerializer.serialize(m.value, headers ? { topic, part: 'value', headers } : valueContext)
          : m.value;
      if (key instanceof Promise || value instanceof Promise) pending = true;
      out[i] = { key, value, headers: m.headers, partition: m.partition, timestamp: m.timestamp };
    }
    if (!pending) return out as Message[];
    return Promise.all(out.map(async (m) => ({ ...m, key: await m.key, value: await m.value }) as Message));
  }

  /** Sends every buffered record now and resolves when all are acknowledged or failed. */
  flush(): Promise<void> {
    return this.engine.flush();
  }

  async close(): Promise<void> {
    await this.engine.close();
    if (this.connected) this.instrumentation.emit('producer.disconnect', {});
  }
}

const outsideTransaction = (): MillraceError =>
  new MillraceError('INVALID_TXN_STATE', 'a transactional producer sends within a transaction: producer.transaction()');

const NO_HEADERS: Record<string, Buffer | string | null> = Object.freeze({}) as Record<string, Buffer | string | null>;

/** Headers as one object, for a serializer to read. */
function headersOf(headers: HeadersInput | undefined): Record<string, Buffer | string | null> {
  if (!headers) return {};
  if (!Array.isArray(headers)) return { ...headers };
  return Object.fromEntries(headers.map((h) => [h.key, h.value]));
}

/** The offsets `sendOffsets` commits in the transaction: kafkajs's shape, offsets as bigint, number or string. */
export interface SendOffsetsInput {
  /** The group's id; or `consumer`, whose group membership is checked too (KIP-447). */
  consumerGroupId?: string;
  consumer?: Pick<Consumer<unknown, unknown>, 'groupMetadata'>;
  topics: Array<{
    topic: string;
    partitions: Array<{ partition: number; offset: bigint | number | string; metadata?: string }>;
  }>;
}

/** One transaction of a transactional producer. */
export class Transaction<K, V> {
  private active = true;

  constructor(
    private readonly producer: Producer<K, V>,
    private readonly engine: ProducerEngine,
    private readonly ended: () => void,
  ) {}

  isActive(): boolean {
    return this.active;
  }

  private ensureActive(): void {
    if (!this.active) throw new MillraceError('INVALID_TXN_STATE', 'the transaction has ended');
  }

  send(record: TopicMessages<K, V>): Promise<RecordMetadata[]> {
    this.ensureActive();
    return this.producer.sendNow(record);
  }

  sendBatch(batch: { topicMessages: Array<TopicMessages<K, V>> }): Promise<RecordMetadata[]> {
    this.ensureActive();
    return this.producer.sendBatchNow(batch);
  }

  /** Commits a consumer group's offsets in the transaction: they count only if it commits (consume-transform-produce). */
  async sendOffsets(input: SendOffsetsInput): Promise<void> {
    this.ensureActive();
    const member = input.consumer?.groupMetadata();
    const groupId = member?.groupId ?? input.consumerGroupId;
    if (!groupId) throw new MillraceError('INVALID_REQUEST', 'sendOffsets needs consumerGroupId or consumer');
    await this.engine.txn!.sendOffsets({
      groupId,
      generationId: member?.generationId ?? -1,
      memberId: member?.memberId ?? '',
      groupInstanceId: member?.groupInstanceId ?? '',
      topics: input.topics.map((t) => ({
        topic: t.topic,
        partitions: t.partitions.map((p) => ({
          partition: p.partition,
          offset: Number(p.offset),
          metadata: p.metadata,
        })),
      })),
    });
  }

  /** Commits: every record sent in it is acknowledged first; any that failed fails the commit (then abort). */
  async commit(): Promise<void> {
    this.ensureActive();
    await this.engine.commitTransaction();
    this.finish();
  }

  /** Aborts: nothing sent in the transaction is visible to read_committed readers, its offsets do not count. */
  async abort(): Promise<void> {
    this.ensureActive();
    await this.engine.abortTransaction();
    this.finish();
  }

  private finish(): void {
    this.active = false;
    this.ended();
  }
}
