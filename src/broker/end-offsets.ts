/**
 * High watermarks of partitions as their leaders know them (ListOffsets latest): for the group
 * coordinator's lag figures. Partitions led here are read locally, the rest in one request per
 * leader.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../protocol/subjects.js';
import { tpKey } from '../../protocol/topic-partition.js';
import { wire } from '../../protocol/wire.js';
import type { MetadataImage } from '../cluster/image.js';
import { request } from '../transport/rpc.js';
import type { HostedPartition } from './hosted-partition.js';

/** Keyed topic\0partition; partitions without a leader are left out. */
export async function leaderEndOffsets(
  ctx: { nc: NatsConnection; cluster: string; timeoutMs: number },
  image: MetadataImage,
  hosted: (topic: string, partition: number) => HostedPartition | undefined,
  partitions: Array<{ topic: string; partition: number }>,
): Promise<Map<string, number>> {
  const byLeader = new Map<number, Map<string, number[]>>();
  const ends = new Map<string, number>();
  for (const { topic, partition } of partitions) {
    const leader = image.topics.get(topic)?.partitions[partition]?.leader ?? -1;
    if (leader < 0) continue;
    // Led here: read it (the broker's connection does not hear its own requests: noEcho).
    const local = hosted(topic, partition);
    if (local?.isLeader) {
      ends.set(tpKey(topic, partition), local.highWatermark);
      continue;
    }
    const topics = byLeader.get(leader) ?? new Map<string, number[]>();
    topics.set(topic, [...(topics.get(topic) ?? []), partition]);
    byLeader.set(leader, topics);
  }
  await Promise.all(
    [...byLeader].map(async ([leader, topics]) => {
      const res = await request(
        ctx.nc,
        subjects.brokerApi(ctx.cluster, leader, 'list_offsets'),
        wire.ListOffsetsRequest,
        {
          replicaId: -1,
          topics: [...topics].map(([name, ps]) => ({
            name,
            partitions: ps.map((partition) => ({ partition, timestamp: -1 })),
          })),
        },
        wire.ListOffsetsResponse,
        ctx.timeoutMs,
      );
      for (const t of res.topics)
        for (const p of t.partitions ?? []) if (!p.errorCode) ends.set(tpKey(t.name, p.partition), Number(p.offset));
    }),
  );
  return ends;
}
