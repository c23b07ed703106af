/**
 * A hosted replica's leader side without NATS: a fetch session watching an idle partition must
 * hear of an ISR change, or a follower that left the ISR is never looked at again while no
 * record arrives (and acks=all produces are refused for want of replicas: a deadlock).
 */
import * as path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FetchSessions } from '../../src/broker/fetch-session.js';
import { HostedPartition } from '../../src/broker/hosted-partition.js';
import type { PartitionRecord } from '../../src/cluster/records.js';
import { Log, logConfig } from '../../src/storage/index.js';
import { wire } from '../../protocol/wire.js';

import { encodeRecordBatch } from '../../protocol/records/index.js';
import { cleanedAfterEach, errorNameOf } from '../harness/storage.js';

const cleaned = cleanedAfterEach();

function leaderOf(isr: number[], partitionEpoch: number): PartitionRecord {
  return { topicId: 'id', partition: 0, replicas: [1, 2, 3], isr, leader: 1, leaderEpoch: 0, partitionEpoch };
}

describe('hosted partition watchers', () => {
  it('marks an idle partition dirty in a fetch session when its ISR changes', async () => {
    const log = cleaned.log(Log.open({ dir: path.join(cleaned.dir(), 't-0'), config: logConfig() }));
    const hp = new HostedPartition('t', 0, 'id', log, {
      brokerId: 1,
      lagTimeMaxMs: 30_000,
      minInsyncReplicas: 2,
      alterIsr: () => new Promise(() => undefined),
      onFollowerChange: () => undefined,
      logger: pino({ level: 'silent' }),
    });
    hp.apply(leaderOf([1, 2, 3], 0), 2);
    expect(hp.isLeader).toBe(true);
    const sessions = new FetchSessions(() => 0);
    const req = wire.FetchRequest.decode(
      wire.FetchRequest.encode({
        replicaId: 2,
        sessionEpoch: 1,
        topics: [{ name: 't', partitions: [{ partition: 0, fetchOffset: 0, currentLeaderEpoch: 0 }] }],
      }).finish(),
    );
    const session = sessions.resolve(req);
    session.update(req);
    const [entry] = [...session.entries()];
    session.watch(entry!, hp);
    session.dirty.clear(); // found idle in an earlier round
    hp.apply(leaderOf([1], 1), 2); // the followers left the ISR
    expect(session.dirty.has(entry!)).toBe(true);
    hp.stop();
    expect([hp.isLeader, hp.leader]).toEqual([false, -1]);
    await new Promise((r) => setImmediate(r));
  });

  it('refuses a leader append and an acks=all wait once the replica no longer leads', async () => {
    const log = cleaned.log(Log.open({ dir: path.join(cleaned.dir(), 't-0'), config: logConfig() }));
    const hp = new HostedPartition('t', 0, 'id', log, {
      brokerId: 1,
      lagTimeMaxMs: 30_000,
      minInsyncReplicas: 1,
      alterIsr: () => new Promise(() => undefined),
      onFollowerChange: () => undefined,
      logger: pino({ level: 'silent' }),
    });
    const batch = encodeRecordBatch([{ key: null, value: Buffer.from('v'), timestamp: 0 }]);
    hp.apply(leaderOf([1, 2], 0), 2);
    const pending = hp.awaitCommit(hp.appendAsLeader(batch).lastOffset + 1, 60_000);
    // Leadership moves (as while a produce waited for its KIP-890 check): the waiter fails, and a
    // late append is refused instead of landing in what is now a follower's log.
    hp.apply({ ...leaderOf([1, 2], 1), leader: 2, leaderEpoch: 1 }, 2);
    await expect(pending).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER' });
    expect(errorNameOf(() => hp.appendAsLeader(batch))).toBe('NOT_LEADER_OR_FOLLOWER');
    expect(
      errorNameOf(() => hp.appendMarker({ type: 'COMMIT', producerId: 1, producerEpoch: 0, coordinatorEpoch: 0 })),
    ).toBe('NOT_LEADER_OR_FOLLOWER');
    await expect(hp.awaitCommit(0, 1000)).rejects.toMatchObject({ errorName: 'NOT_LEADER_OR_FOLLOWER' });
    expect(log.logEndOffset).toBe(1);
    hp.stop();
    await new Promise((r) => setImmediate(r));
  });
});
