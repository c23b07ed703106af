/** ListOffsets at a partition leader, shared by the admin client and the consumer. */
import { MillraceError } from '../../protocol/errors.js';
import { wire } from '../../protocol/wire.js';
import { callBroker, type ClientContext } from './context.js';
import type { IsolationLevel } from './types.js';

export const EARLIEST = -2;
export const LATEST = -1;

/** An offset for a timestamp, and the leader's log end at the time. */
export interface ListedOffset {
  offset: number;
  logEndOffset: number;
}

/** For each partition of `topic` led by `leader`: the offset for `timestamp`, or its error. */
export async function listOffsets(
  ctx: ClientContext,
  leader: number,
  topic: string,
  partitions: number[],
  timestamp: number,
  /** 'read_committed': "latest" is the last stable offset (the first offset of an open transaction). */
  isolationLevel: IsolationLevel = 'read_uncommitted',
): Promise<Map<number, ListedOffset | MillraceError>> {
  const res = await callBroker(
    ctx,
    leader,
    'list_offsets',
    wire.ListOffsetsRequest,
    {
      replicaId: -1,
      isolationLevel: isolationLevel === 'read_committed' ? 1 : 0,
      topics: [
        { name: topic, partitions: partitions.map((partition) => ({ partition, timestamp, currentLeaderEpoch: -1 })) },
      ],
    },
    wire.ListOffsetsResponse,
  );
  const out = new Map<number, ListedOffset | MillraceError>();
  for (const p of res.topics[0]?.partitions ?? []) {
    out.set(
      p.partition ?? 0,
      p.errorCode
        ? MillraceError.fromCode(p.errorCode, p.errorMessage ?? '')
        : { offset: Number(p.offset ?? -1), logEndOffset: Number(p.logEndOffset ?? -1) },
    );
  }
  for (const p of partitions)
    if (!out.has(p)) out.set(p, new MillraceError('UNKNOWN_SERVER_ERROR', `no ListOffsets result for ${topic}-${p}`));
  return out;
}
