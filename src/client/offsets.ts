/** ListOffsets at a partition leader, shared by the admin client and the consumer. */
import { MillraceError } from '../../protocol/errors.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { request } from '../transport/rpc.js';
import type { ClientContext } from './context.js';

export const EARLIEST = -2;
export const LATEST = -1;

/** For each partition of `topic` led by `leader`: the offset for `timestamp`, or its error. */
export async function listOffsets(
  ctx: ClientContext,
  leader: number,
  topic: string,
  partitions: number[],
  timestamp: number,
): Promise<Map<number, number | MillraceError>> {
  const nc = await ctx.connection();
  const res = await request(
    nc,
    subjects.brokerApi(ctx.cluster, leader, 'list_offsets'),
    wire.ListOffsetsRequest,
    {
      replicaId: -1,
      topics: [
        { name: topic, partitions: partitions.map((partition) => ({ partition, timestamp, currentLeaderEpoch: -1 })) },
      ],
    },
    wire.ListOffsetsResponse,
    ctx.requestTimeoutMs,
  );
  const out = new Map<number, number | MillraceError>();
  for (const p of res.topics[0]?.partitions ?? []) {
    out.set(
      p.partition ?? 0,
      p.errorCode ? MillraceError.fromCode(p.errorCode, p.errorMessage ?? '') : Number(p.offset ?? -1),
    );
  }
  for (const p of partitions)
    if (!out.has(p)) out.set(p, new MillraceError('UNKNOWN_SERVER_ERROR', `no ListOffsets result for ${topic}-${p}`));
  return out;
}
