/**
 * Produce, for both doors. The data path is plain code: a leader appends a request's batches as
 * they arrived (validating headers and CRCs, never decoding records); a transactional batch waits
 * for KIP-890's check that its partition was added to the transaction; acks=all answers once the
 * in-sync replicas have the batch.
 */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { AclOperation } from '../../protocol/acl.js';
import type { Caller } from './authorizer.js';
import { OFFSETS_TOPIC } from './group/coordinator.js';
import type { HandlerContext } from './handlers.js';
import type { HostedPartition } from './hosted-partition.js';
import { perPartition } from './per-partition.js';
import { TRANSACTION_STATE_TOPIC } from './txn/coordinator.js';
import { transactionalProducer } from './txn/txn-apis.js';

export class ProduceHandler {
  constructor(private readonly ctx: HandlerContext) {}

  async produce(req: millrace.ProduceRequest, caller: Caller): Promise<millrace.IProduceResponse | null> {
    if (req.acks !== 0 && req.acks !== 1 && req.acks !== -1) {
      throw new MillraceError('INVALID_REQUIRED_ACKS', `acks must be 0, 1 or -1 (all), got ${req.acks}`);
    }
    const image = this.ctx.image();
    const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : 30_000;
    const topics = perPartition<
      millrace.IProducePartition,
      millrace.IProducePartitionResponse | Promise<millrace.IProducePartitionResponse>
    >(
      this.ctx.replicas,
      image,
      req.topics,
      (hp, p, partition) => {
        if (hp.topic === OFFSETS_TOPIC || hp.topic === TRANSACTION_STATE_TOPIC)
          throw new MillraceError('INVALID_TOPIC_EXCEPTION', `${hp.topic} is internal: its coordinator writes it`);
        if (req.acks === -1 && hp.isr.length < hp.minInsync) {
          throw new MillraceError(
            'NOT_ENOUGH_REPLICAS',
            `${hp.topic}-${partition} has ${hp.isr.length} in-sync replicas, fewer than min.insync.replicas ${hp.minInsync}`,
          );
        }
        const records = p.records as Buffer;
        const producer = transactionalProducer(records);
        if (producer === null) return this.append(hp, partition, records, req.acks, timeoutMs);
        return this.ctx.txnApis
          .verifyProduce(req.transactionalId, hp, producer, caller)
          .then(() => this.append(hp, partition, records, req.acks, timeoutMs))
          .catch((err: unknown) => ({ partition, ...errorFields(err), baseOffset: -1 }));
      },
      (partition, error) => ({ partition, ...error, baseOffset: -1 }),
      (topic) => this.ctx.access.requireTopic(caller, AclOperation.WRITE, topic),
    );
    if (req.acks === 0) return null;
    return {
      topics: await Promise.all(
        topics.map(async (t) => ({ name: t.name, partitions: await Promise.all(t.partitions) })),
      ),
    };
  }

  /** Appends a partition's batches as its leader; with acks=all, answers once the in-sync replicas have them. */
  private append(
    hp: HostedPartition,
    partition: number,
    records: Buffer,
    acks: number,
    timeoutMs: number,
  ): millrace.IProducePartitionResponse | Promise<millrace.IProducePartitionResponse> {
    const info = hp.appendAsLeader(records);
    // A duplicate from an idempotent producer's retry appended nothing: it gets the original offsets.
    if (!info.duplicate) {
      hp.appended();
      void hp.log
        .flushIfDue()
        .catch((err: unknown) => this.ctx.logger.error({ err, topic: hp.topic, partition }, 'flush failed'));
      this.ctx.metrics.messagesIn.inc({ topic: hp.topic }, info.recordCount);
      this.ctx.metrics.bytesIn.inc({ topic: hp.topic }, info.sizeInBytes);
    } else this.ctx.metrics.duplicateBatches.inc({ topic: hp.topic });
    const ok = {
      partition,
      errorCode: 0,
      baseOffset: info.firstOffset,
      logAppendTime: info.logAppendTime,
      logStartOffset: hp.log.logStartOffset,
    };
    if (acks !== -1) return ok;
    // acks=all: answer once every in-sync replica has the batch (the high watermark passes it).
    return hp.awaitCommit(info.lastOffset + 1, timeoutMs).then(
      () => ok,
      (err: unknown) => ({ partition, ...errorFields(err), baseOffset: info.firstOffset }),
    );
  }
}
