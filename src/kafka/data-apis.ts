/** Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords, InitProducerId and DescribeProducers on the Kafka door. */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import { wire } from '../../protocol/wire.js';
import { autoCreateTopics, creatableBy } from './cluster-apis.js';
import type { DoorContext, Routes } from './door.js';
import { kafkaTopicId, topicNameById } from './topics.js';
import { forOlderClients } from './txn-apis.js';

/** fetch.max.bytes: the most record bytes one Fetch response carries (Kafka's default). */
const FETCH_MAX_BYTES = 55 * 1024 * 1024;
const NO_RECORDS = Buffer.alloc(0);

export function dataApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.Produce, async (req, _v, _h, { caller }) => {
    const image = ctx.image();
    const unknown = req.topicData.map((t) => t.name).filter((name) => !image.topics.has(name));
    if (ctx.autoCreateTopics && unknown.length > 0) void autoCreateTopics(ctx, creatableBy(ctx, caller, unknown));
    const failAll = (err: unknown) => ({
      responses: req.topicData.map((t) => ({
        name: t.name,
        partitionResponses: t.partitionData.map((p) => {
          const e = errorFields(err);
          return {
            index: p.index,
            errorCode: forOlderClients(e.errorCode),
            errorMessage: e.errorMessage,
            baseOffset: -1n,
          };
        }),
      })),
    });
    let res;
    try {
      res = await ctx.handlers.producer.produce(
        wire.ProduceRequest.create({
          acks: req.acks,
          timeoutMs: req.timeoutMs,
          transactionalId: req.transactionalId ?? '',
          topics: req.topicData.map((t) => ({
            name: t.name,
            partitions: t.partitionData.map((p) => ({ partition: p.index, records: p.records ?? NO_RECORDS })),
          })),
        }),
        caller,
      );
    } catch (err) {
      if (req.acks === 0) return null;
      return failAll(err);
    }
    if (res === null) return null;
    return {
      responses: (res.topics ?? []).map((t) => ({
        name: t.name ?? '',
        partitionResponses: (t.partitions ?? []).map((p) => ({
          index: p.partition ?? 0,
          errorCode: forOlderClients(p.errorCode ?? 0),
          errorMessage: p.errorMessage || null,
          baseOffset: BigInt(p.baseOffset ?? -1),
          logAppendTimeMs: BigInt(p.logAppendTime ?? -1),
          logStartOffset: BigInt(p.logStartOffset ?? -1),
        })),
      })),
    };
  });

  routes.add(apis.Fetch, async (req, version, _h, { caller }) => {
    // Sessionless fetches only: no session is ever created (the response says 0), so one named is unknown.
    if (req.sessionId !== 0)
      return { ...errorFields(new MillraceError('FETCH_SESSION_ID_NOT_FOUND', `no fetch session ${req.sessionId}`)) };
    const image = ctx.image();
    const byId = version >= 13;
    const known: Array<{ name: string; topicId: string; request: (typeof req.topics)[number] }> = [];
    const unknownIds: typeof req.topics = [];
    for (const t of req.topics) {
      const name = byId ? topicNameById(image, t.topicId) : t.topic;
      if (name === undefined) unknownIds.push(t);
      else known.push({ name, topicId: t.topicId, request: t });
    }
    const res = await ctx.handlers.fetch(
      wire.FetchRequest.create({
        replicaId: -1,
        maxWaitMs: req.maxWaitMs,
        minBytes: req.minBytes,
        maxBytes: Math.min(req.maxBytes > 0 ? req.maxBytes : FETCH_MAX_BYTES, FETCH_MAX_BYTES),
        isolationLevel: req.isolationLevel,
        topics: known.map((t) => ({
          name: t.name,
          partitions: t.request.partitions.map((p) => ({
            partition: p.partition,
            fetchOffset: Number(p.fetchOffset),
            currentLeaderEpoch: p.currentLeaderEpoch,
            partitionMaxBytes: p.partitionMaxBytes,
          })),
        })),
      }),
      caller,
      FETCH_MAX_BYTES,
    );
    const unknownTopic = new MillraceError('UNKNOWN_TOPIC_ID', 'no topic has this id').code;
    return {
      responses: [
        ...(res.topics ?? []).map((t, i) => ({
          topic: t.name ?? '',
          topicId: byId ? known[i]!.topicId : kafkaTopicId(image.topics.get(t.name ?? '')?.id),
          partitions: (t.partitions ?? []).map((p) => ({
            partitionIndex: p.partition ?? 0,
            errorCode: p.errorCode ?? 0,
            highWatermark: BigInt(p.highWatermark ?? -1),
            lastStableOffset: BigInt(p.lastStableOffset ?? p.highWatermark ?? -1),
            logStartOffset: BigInt(p.logStartOffset ?? -1),
            abortedTransactions:
              req.isolationLevel === 1
                ? (p.abortedTransactions ?? []).map((a) => ({
                    producerId: BigInt(a.producerId ?? -1),
                    firstOffset: BigInt(a.firstOffset ?? 0),
                  }))
                : null,
            records: (p.records as Buffer | undefined) ?? NO_RECORDS,
          })),
        })),
        ...unknownIds.map((t) => ({
          topicId: t.topicId,
          partitions: t.partitions.map((p) => ({
            partitionIndex: p.partition,
            errorCode: unknownTopic,
            highWatermark: -1n,
            records: NO_RECORDS,
          })),
        })),
      ],
    };
  });

  routes.add(apis.ListOffsets, (req, _v, _h, { caller }) => {
    const res = ctx.handlers.listOffsets(
      wire.ListOffsetsRequest.create({
        replicaId: req.replicaId,
        isolationLevel: req.isolationLevel,
        topics: req.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({
            partition: p.partitionIndex,
            timestamp: Number(p.timestamp),
            currentLeaderEpoch: p.currentLeaderEpoch,
          })),
        })),
      }),
      caller,
    );
    return {
      topics: (res.topics ?? []).map((t) => ({
        name: t.name ?? '',
        partitions: (t.partitions ?? []).map((p) => ({
          partitionIndex: p.partition ?? 0,
          errorCode: p.errorCode ?? 0,
          timestamp: BigInt(p.timestamp ?? -1),
          offset: BigInt(p.offset ?? -1),
          leaderEpoch: p.leaderEpoch ?? -1,
        })),
      })),
    };
  });

  routes.add(apis.OffsetForLeaderEpoch, (req, _v, _h, { caller }) => ({
    topics: ctx.handlers
      .offsetForLeaderEpoch(
        req.topics.map((t) => ({
          name: t.topic,
          partitions: t.partitions.map((p) => ({
            partition: p.partition,
            leaderEpoch: p.leaderEpoch,
            currentLeaderEpoch: p.currentLeaderEpoch,
          })),
        })),
        caller,
      )
      .map((t) => ({
        topic: t.name,
        partitions: t.partitions.map((p) => ({ ...p, endOffset: BigInt(p.endOffset) })),
      })),
  }));

  routes.add(apis.DeleteRecords, (req, _v, _h, { caller }) => ({
    topics: (
      ctx.handlers.deleteRecords(
        {
          topics: req.topics.map((t) => ({
            name: t.name,
            partitions: t.partitions.map((p) => ({ partition: p.partitionIndex, offset: Number(p.offset) })),
          })),
        },
        caller,
      ).topics ?? []
    ).map((t) => ({
      name: t.name ?? '',
      partitions: (t.partitions ?? []).map((p) => ({
        partitionIndex: p.partition ?? 0,
        errorCode: p.errorCode ?? 0,
        lowWatermark: BigInt(p.lowWatermark ?? -1),
      })),
    })),
  }));

  routes.add(apis.DescribeProducers, (req, _v, _h, { caller }) => ({
    topics: ctx.handlers
      .describeProducers(
        req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partition) => ({ partition })) })),
        caller,
      )
      .map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partition,
          errorCode: p.errorCode,
          errorMessage: p.errorMessage,
          // The partition does not keep the coordinator epoch of a producer.
          activeProducers: p.producers.map((a) => ({
            producerId: BigInt(a.producerId),
            producerEpoch: a.producerEpoch,
            lastSequence: a.lastSequence,
            lastTimestamp: BigInt(a.lastTimestamp),
            coordinatorEpoch: -1,
            currentTxnStartOffset: BigInt(a.currentTxnStartOffset),
          })),
        })),
      })),
  }));

  // An idempotent producer gets a new producer id at epoch 0, as Kafka gives one without a transactional id.
  routes.add(apis.InitProducerId, async (req, _v, _h, { caller }) => {
    try {
      if (req.transactionalId !== null) {
        const res = await ctx.txns.initProducerId(
          wire.InitProducerIdRequest.create({
            transactionalId: req.transactionalId,
            transactionTimeoutMs: req.transactionTimeoutMs,
            producerId: Number(req.producerId),
            producerEpoch: req.producerEpoch,
          }),
          caller,
        );
        return { producerId: BigInt(res.producerId), producerEpoch: res.producerEpoch };
      }
      const { producerId } = await ctx.handlers.initProducerId(caller);
      return { producerId: BigInt(producerId), producerEpoch: 0 };
    } catch (err) {
      return { errorCode: errorFields(err).errorCode, producerId: -1n, producerEpoch: -1 };
    }
  });
}
