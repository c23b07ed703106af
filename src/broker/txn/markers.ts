/**
 * Transaction markers between brokers (WriteTxnMarkers): the coordinator's side sends a
 * transaction's markers to the leaders of its partitions (in-process for those led here, one
 * request per other leader); the leader's side appends each marker and answers once the in-sync
 * replicas have it (acks=all), completing a transaction's offset commits on `__consumer_offsets`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { MillraceError, errorFields, errorNameOf } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import { subjects } from '../../../protocol/subjects.js';
import { wire } from '../../../protocol/wire.js';
import type { MetadataImage } from '../../cluster/image.js';
import { request } from '../../transport/rpc.js';
import { OFFSETS_TOPIC } from '../group/offsets-topic.js';
import type { ReplicaManager } from '../replica-manager.js';
import type { MarkerSender } from './coordinator.js';
import { byTopic } from './txn-log.js';
import type { TopicPartitionRef } from './txn-rules.js';

export interface MarkerContext {
  brokerId: number;
  cluster: string;
  nc: NatsConnection;
  image: () => MetadataImage;
  replicas: ReplicaManager;
  /** How long a marker waits for the in-sync replicas, and a request for its reply. */
  timeoutMs: number;
  /** A marker landed on a `__consumer_offsets` partition: the group coordinator applies or drops the offsets. */
  onOffsetsMarker: (partition: number, producerId: number, commit: boolean) => void;
  logger: Logger;
}

/** The leader's side: appends the markers of a WriteTxnMarkers request. */
export async function writeTxnMarkers(
  ctx: MarkerContext,
  req: millrace.IWriteTxnMarkersRequest,
): Promise<millrace.IWriteTxnMarkersResponse> {
  const markers = await Promise.all(
    (req.markers ?? []).map(async (m) => ({
      producerId: m.producerId,
      topics: await Promise.all(
        (m.topics ?? []).map(async (t) => ({
          name: t.name,
          partitions: await Promise.all(
            (t.partitions ?? []).map(async (partition) => {
              try {
                await appendMarker(ctx, m, t.name ?? '', partition);
                return { partition, errorCode: 0 };
              } catch (err) {
                return { partition, ...errorFields(err) };
              }
            }),
          ),
        })),
      ),
    })),
  );
  return { markers };
}

async function appendMarker(
  ctx: MarkerContext,
  m: millrace.ITxnMarkerEntry,
  topic: string,
  partition: number,
): Promise<void> {
  const hp = ctx.replicas.get(topic, partition);
  if (!ctx.image().topics.get(topic)?.partitions[partition])
    throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `${topic}-${partition} does not exist`);
  if (!hp?.isLeader)
    throw new MillraceError('NOT_LEADER_OR_FOLLOWER', `broker ${ctx.brokerId} does not lead ${topic}-${partition}`);
  if (hp.isr.length < hp.minInsync)
    throw new MillraceError('NOT_ENOUGH_REPLICAS', `${topic}-${partition} is below min.insync.replicas`);
  const producerId = Number(m.producerId ?? -1);
  const commit = m.committed ?? false;
  const offset = hp.appendMarker({
    type: commit ? 'COMMIT' : 'ABORT',
    producerId,
    producerEpoch: m.producerEpoch ?? 0,
    coordinatorEpoch: m.coordinatorEpoch ?? 0,
  });
  hp.appended();
  await hp.awaitCommit(offset + 1, ctx.timeoutMs);
  if (topic === OFFSETS_TOPIC) ctx.onOffsetsMarker(partition, producerId, commit);
}

/**
 * The coordinator's side. Partitions whose marker failed are kept for the next attempt, so a
 * retry writes only what is missing; a deleted partition needs none.
 */
export class MarkerWriter implements MarkerSender {
  constructor(private readonly ctx: MarkerContext) {}

  async send(markers: {
    producerId: number;
    producerEpoch: number;
    commit: boolean;
    coordinatorEpoch: number;
    partitions: TopicPartitionRef[];
  }): Promise<TopicPartitionRef[]> {
    const image = this.ctx.image();
    const byLeader = new Map<number, TopicPartitionRef[]>();
    const failed: TopicPartitionRef[] = [];
    for (const p of markers.partitions) {
      const t = image.topics.get(p.topic);
      if (!t?.partitions[p.partition]) continue; // deleted: no marker needed
      const leader = t.partitions[p.partition]!.leader;
      if (leader < 0) {
        failed.push(p);
        continue;
      }
      const list = byLeader.get(leader);
      if (list) list.push(p);
      else byLeader.set(leader, [p]);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        const entry = {
          producerId: markers.producerId,
          producerEpoch: markers.producerEpoch,
          committed: markers.commit,
          coordinatorEpoch: markers.coordinatorEpoch,
          topics: byTopic(partitions),
        };
        let res: millrace.IWriteTxnMarkersResponse;
        try {
          res =
            leader === this.ctx.brokerId
              ? await writeTxnMarkers(this.ctx, { markers: [entry] })
              : await request(
                  this.ctx.nc,
                  subjects.brokerInternal(this.ctx.cluster, leader, 'write_txn_markers'),
                  wire.WriteTxnMarkersRequest,
                  { markers: [entry] },
                  wire.WriteTxnMarkersResponse,
                  this.ctx.timeoutMs * 2,
                );
        } catch (err) {
          this.ctx.logger.debug({ err, leader }, 'WriteTxnMarkers request failed');
          failed.push(...partitions);
          return;
        }
        for (const t of res.markers?.[0]?.topics ?? [])
          for (const p of t.partitions ?? []) {
            const name = errorNameOf(p.errorCode ?? 0);
            if (name === 'NONE' || name === 'UNKNOWN_TOPIC_OR_PARTITION') continue;
            this.ctx.logger.debug({ topic: t.name, partition: p.partition, error: name }, 'marker not written');
            failed.push({ topic: t.name ?? '', partition: p.partition ?? 0 });
          }
      }),
    );
    return failed;
  }
}
