import { describe, expect, it } from 'vitest';
import { wire } from '../../protocol/wire.js';
import { FetchSessions } from '../../src/broker/fetch-session.js';

const partition = (n: number, fetchOffset: number) => ({
  partition: n,
  fetchOffset,
  currentLeaderEpoch: 0,
  partitionMaxBytes: 1 << 20,
  logStartOffset: 0,
  lastFetchedEpoch: 0,
});

/** A request as the leader decodes it. */
const request = (o: Parameters<typeof wire.FetchRequest.encode>[0]) =>
  wire.FetchRequest.decode(wire.FetchRequest.encode(o).finish());

const answer = (
  partitions: Array<{ partition: number; highWatermark: number; records?: Buffer; errorCode?: number }>,
) => ({
  topics: [
    {
      name: 't',
      partitions: partitions.map((p) => ({ logStartOffset: 0, logEndOffset: p.highWatermark, errorCode: 0, ...p })),
    },
  ],
});

describe('incremental fetch sessions (KIP-227)', () => {
  it('holds the whole partition list, takes changes and forgets, and answers only what is new', () => {
    let now = 0;
    const sessions = new FetchSessions(() => now);
    const open = request({
      replicaId: 2,
      sessionEpoch: 1,
      topics: [{ name: 't', partitions: [partition(0, 5), partition(1, 7)] }],
    });
    const session = sessions.resolve(open);
    session.update(open);
    expect([...session.entries()].map((e) => Number(e.request.fetchOffset))).toEqual([5, 7]);
    // The first answer tells everything; the same positions again tell nothing.
    expect(
      session.trim(
        answer([
          { partition: 0, highWatermark: 5 },
          { partition: 1, highWatermark: 7 },
        ]),
      ).topics,
    ).toHaveLength(1);
    expect(
      session.trim(
        answer([
          { partition: 0, highWatermark: 5 },
          { partition: 1, highWatermark: 7 },
        ]),
      ),
    ).toEqual({
      topics: [],
      sessionId: session.id,
    });
    // Records or a moved high watermark are news.
    const news = session.trim(
      answer([
        { partition: 0, highWatermark: 6 },
        { partition: 1, highWatermark: 7, records: Buffer.from('x') },
      ]),
    );
    expect(news.topics![0]!.partitions!.map((p) => p.partition)).toEqual([0, 1]);
    now += 10;
    const next = request({
      replicaId: 2,
      sessionId: session.id,
      sessionEpoch: 2,
      topics: [{ name: 't', partitions: [partition(1, 8)] }],
      forgotten: [{ name: 't', partitions: [0] }],
    });
    expect(sessions.resolve(next)).toBe(session);
    session.update(next);
    expect([...session.entries()].map((e) => [e.topic, e.request.partition, Number(e.request.fetchOffset)])).toEqual([
      ['t', 1, 8],
    ]);
  });

  it('refuses an unknown session or a skipped epoch (the follower then opens a new one)', () => {
    const sessions = new FetchSessions(() => 0);
    const session = sessions.resolve(request({ replicaId: 2, sessionEpoch: 1 }));
    expect(() => sessions.resolve(request({ replicaId: 2, sessionId: session.id + 1, sessionEpoch: 2 }))).toThrow(
      /not known/,
    );
    expect(() => sessions.resolve(request({ replicaId: 2, sessionId: session.id, sessionEpoch: 3 }))).toThrow(
      /epoch 1/,
    );
    expect(() => sessions.resolve(request({ replicaId: 3, sessionId: session.id, sessionEpoch: 2 }))).toThrow(
      /not known/,
    );
    // Opening again replaces the follower's old session.
    const again = sessions.resolve(request({ replicaId: 2, sessionEpoch: 1 }));
    expect(sessions.size).toBe(1);
    expect(() => sessions.resolve(request({ replicaId: 2, sessionId: session.id, sessionEpoch: 2 }))).toThrow(
      /not known/,
    );
    expect(sessions.resolve(request({ replicaId: 2, sessionId: again.id, sessionEpoch: 2 }))).toBe(again);
  });
});
