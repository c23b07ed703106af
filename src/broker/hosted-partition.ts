/**
 * One replica this broker hosts. Its partition machine holds the role and leader epoch; the data
 * path reads them from the machine and never sends it an event. As leader it tracks its
 * followers (one replica-tracker machine each), changes its ISR through an isr-change machine,
 * advances the high watermark and completes acks=all produces; as follower a replica fetcher
 * feeds it.
 */
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor } from 'xstate';
import { isrChangeMachine, type AlterResult } from '../../actors/isr-change.js';
import { partitionMachine } from '../../actors/partition.js';
import { isLagging, replicaTrackerMachine } from '../../actors/replica-tracker.js';
import { MillraceError } from '../../protocol/errors.js';
import type { PartitionRecord } from '../cluster/records.js';
import type { Log, LogAppendInfo } from '../storage/log.js';

/** Kafka retries a refused AlterPartition after a backoff of this order. */
const ALTER_PARTITION_RETRY_MS = 500;

export interface ReplicationSettings {
  brokerId: number;
  /** replica.lag.time.max.ms */
  lagTimeMaxMs: number;
  /** min.insync.replicas broker default */
  minInsyncReplicas: number;
  /** Sends AlterPartition to the controller; resolves with the committed ISR and partition epoch. */
  alterIsr: (hp: HostedPartition, newIsr: readonly number[]) => Promise<AlterResult>;
  /** How long a refused ISR change waits before the leader asks again. */
  alterPartitionRetryMs?: number;
  /** Called when an ISR change this leader asked for is committed. */
  onIsrChange?: (shrunk: boolean) => void;
  /** Called when a partition's follower role or leader changes, for the replica fetchers. */
  onFollowerChange: (hp: HostedPartition) => void;
  logger: Logger;
  now?: () => number;
}

/** What the leader knows of one follower, from its fetches (Kafka's Replica state). */
interface FollowerProgress {
  /** Its log end offset: the offset of its last fetch; -1 until it fetches in this epoch. */
  logEndOffset: number;
  lastCaughtUpMs: number;
  lastFetchLeaderLogEndOffset: number;
  lastFetchMs: number;
  /**
   * The fetch session in which it was last found idle at the log end: while the log end stays
   * there, it counts as caught up at every round of that session (no per-partition work per round).
   */
  idleIn: { lastRoundMs: number } | null;
  tracker: Actor<typeof replicaTrackerMachine>;
}

/** When a follower was last caught up, counting the rounds of the session it idles in. */
function lastCaughtUp(f: FollowerProgress, logEndOffset: number): number {
  return f.idleIn && f.logEndOffset === logEndOffset
    ? Math.max(f.lastCaughtUpMs, f.idleIn.lastRoundMs)
    : f.lastCaughtUpMs;
}

interface DelayedProduce {
  requiredOffset: number;
  resolve: () => void;
  reject: (err: MillraceError) => void;
  timer: NodeJS.Timeout;
}

export class HostedPartition {
  highWatermark: number;
  replicas: number[] = [];
  isr: number[] = [];
  partitionEpoch = -1;
  minInsync = 1;
  /** As follower: the leader's log end minus ours at the last fetch. */
  followerLag = -1;
  /** Long-poll fetches waiting for data on this partition. */
  readonly waiters = new Set<() => void>();
  readonly actor: Actor<typeof partitionMachine>;
  /** The partition machine's state as of its last committed transition. */
  private role = { isLeader: false, leader: -1, leaderEpoch: -1 };
  private readonly followers = new Map<number, FollowerProgress>();
  private readonly delayed = new Set<DelayedProduce>();
  /** This leadership's ISR changes (null: not leading). */
  private isrChange: Actor<typeof isrChangeMachine> | null = null;
  /** The leader epoch whose followers are being tracked (-1: not leading). */
  private trackingEpoch = -1;
  private readonly now: () => number;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The incarnation of the topic this replica belongs to. */
    readonly topicId: string,
    readonly log: Log,
    private readonly settings: ReplicationSettings,
  ) {
    this.now = settings.now ?? Date.now;
    this.highWatermark = log.logStartOffset;
    const logger = settings.logger;
    this.actor = createActor(
      partitionMachine.provide({
        actions: {
          // The role is the machine's state (read through isLeader, leader, leaderEpoch); the
          // leader's work starts in apply(), outside any action. What others must see of a role
          // change (the fetchers, parked fetches) runs once the transition has committed.
          becameFollower: (_, { leaderEpoch, leader }) => {
            this.stopLeading(
              new MillraceError('NOT_LEADER_OR_FOLLOWER', `${topic}-${partition} moved to broker ${leader}`),
            );
            logger.info({ topic, partition, leaderEpoch, leader }, 'became follower');
          },
          wentOffline: () => {
            this.stopLeading(new MillraceError('NOT_LEADER_OR_FOLLOWER', `${topic}-${partition} is offline`));
            logger.warn({ topic, partition }, 'partition offline: no live in-sync replica can lead');
          },
          stopped: () => {
            this.stopLeading(
              new MillraceError('NOT_LEADER_OR_FOLLOWER', `${topic}-${partition} is no longer hosted here`),
            );
          },
        },
      }),
      { input: { topic, partition } },
    );
    // The role as plain fields for the data path, copied from each committed snapshot.
    this.actor.subscribe((snapshot) => {
      this.role = {
        isLeader: snapshot.value === 'Leader',
        leader: snapshot.value === 'Stopped' ? -1 : snapshot.context.leader,
        leaderEpoch: snapshot.context.leaderEpoch,
      };
    });
    this.actor.start();
  }

  /** Whether this replica leads: the partition machine is in Leader. */
  get isLeader(): boolean {
    return this.role.isLeader;
  }

  /** The leader epoch of the role the machine holds (-1 before any). */
  get leaderEpoch(): number {
    return this.role.leaderEpoch;
  }

  /** The leader the machine knows (-1 offline or stopped). */
  get leader(): number {
    return this.role.leader;
  }

  /** Applies the partition's record from a metadata image: ISR, replicas, then the role. */
  apply(p: PartitionRecord, minInsync: number): void {
    const isrBefore = this.isr;
    const epochBefore = this.partitionEpoch;
    this.replicas = p.replicas;
    if (p.partitionEpoch >= this.partitionEpoch) {
      this.isr = p.isr;
      this.partitionEpoch = p.partitionEpoch;
    }
    this.minInsync = minInsync;
    const me = this.settings.brokerId;
    if (p.leader === me) this.actor.send({ type: 'BECOME_LEADER', leaderEpoch: p.leaderEpoch, leader: p.leader });
    else if (p.leader === -1) this.actor.send({ type: 'GO_OFFLINE' });
    else this.actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: p.leaderEpoch, leader: p.leader });
    if (this.isLeader && this.trackingEpoch !== this.leaderEpoch) this.startLeading();
    else if (this.isLeader) this.syncTrackers();
    // A follower the controller took out of the ISR must catch up again before it is asked back.
    for (const r of isrBefore) if (!this.isr.includes(r)) this.followers.get(r)?.tracker.send({ type: 'LEFT_ISR' });
    if (this.isLeader) {
      this.syncIsr();
      this.maybeAdvanceHighWatermark();
    }
    if (this.partitionEpoch !== epochBefore) this.wakeWatchers();
  }

  /**
   * Tells the fetches that watch this partition that it changed. A follower's fetch session then
   * looks at it again: a follower that left the ISR is caught up only by a fetch that reaches
   * the full path, so an ISR change must put it there even when no record arrives.
   */
  wakeWatchers(): void {
    for (const wake of [...this.waiters]) wake();
  }

  get isFollower(): boolean {
    return !this.isLeader && this.leader >= 0 && this.leader !== this.settings.brokerId;
  }

  /** The work of a new leadership: record the epoch, track followers, tell the fetchers. */
  private startLeading(): void {
    this.trackingEpoch = this.leaderEpoch;
    // A new leader records its epoch at its log end (KIP-101). An empty log records it with its
    // first append instead: no replica can hold data of this epoch before then, and a broker
    // taking on thousands of new partitions is spared an fsync'd checkpoint for each.
    if (this.log.logEndOffset > this.log.logStartOffset)
      this.log.leaderEpochCache.assign(this.leaderEpoch, this.log.logEndOffset);
    this.startTracking();
    this.startIsrChanges();
    this.settings.logger.info(
      {
        topic: this.topic,
        partition: this.partition,
        leaderEpoch: this.leaderEpoch,
        logEndOffset: this.log.logEndOffset,
        isr: this.isr,
      },
      'became leader',
    );
    this.maybeAdvanceHighWatermark();
    this.settings.onFollowerChange(this);
    // A new leadership tracks its followers afresh: every fetch session looks at this partition again.
    this.wakeWatchers();
  }

  private startTracking(): void {
    for (const f of this.followers.values()) f.tracker.stop();
    this.followers.clear();
    this.syncTrackers();
  }

  /** One tracker per follower replica: added and removed as a reassignment changes the replicas. */
  private syncTrackers(): void {
    for (const [r, f] of this.followers) {
      if (this.replicas.includes(r)) continue;
      f.tracker.stop();
      this.followers.delete(r);
    }
    for (const r of this.replicas) {
      if (r === this.settings.brokerId || this.followers.has(r)) continue;
      const progress: FollowerProgress = {
        logEndOffset: -1,
        lastCaughtUpMs: this.isr.includes(r) ? this.now() : 0,
        lastFetchLeaderLogEndOffset: -1,
        lastFetchMs: 0,
        idleIn: null,
        tracker: createActor(
          replicaTrackerMachine.provide({
            actions: {
              fellBehind: (_, { follower }) => {
                this.settings.logger.warn(
                  { topic: this.topic, partition: this.partition, follower },
                  'follower fell out of sync',
                );
                // After the transition: the tracker reads its new state only once it has committed.
                queueMicrotask(() => this.syncIsr());
              },
              caughtUp: (_, { follower }) => {
                this.settings.logger.info(
                  { topic: this.topic, partition: this.partition, follower },
                  'follower caught up',
                );
                queueMicrotask(() => this.syncIsr());
              },
            },
          }),
          {
            input: {
              follower: r,
              lagTimeMaxMs: this.settings.lagTimeMaxMs,
              inSync: this.isr.includes(r),
            },
          },
        ),
      };
      this.followers.set(r, progress);
      progress.tracker.start();
    }
  }

  private startIsrChanges(): void {
    this.isrChange?.stop();
    const { logger } = this.settings;
    this.isrChange = createActor(
      isrChangeMachine.provide({
        actors: { alterPartition: fromPromise(({ input }) => this.settings.alterIsr(this, input.isr)) },
        actions: {
          committed: (_, committed) => {
            if (committed.partitionEpoch > this.partitionEpoch) {
              this.settings.onIsrChange?.(committed.isr.length < this.isr.length);
              this.isr = committed.isr;
              this.partitionEpoch = committed.partitionEpoch;
              this.wakeWatchers();
            }
            this.maybeAdvanceHighWatermark();
            queueMicrotask(() => this.syncIsr());
          },
          refused: (_, { error, wanted }) =>
            logger.warn(
              { topic: this.topic, partition: this.partition, wanted, err: (error as Error).message },
              'ISR change refused; retrying after a backoff',
            ),
          retry: () => queueMicrotask(() => this.syncIsr()),
        },
      }),
      { input: { retryBackoffMs: this.settings.alterPartitionRetryMs ?? ALTER_PARTITION_RETRY_MS } },
    );
    this.isrChange.start();
  }

  /** Ends this replica's leadership (if any) as its role changes; runs inside the machine's transition. */
  private stopLeading(reason: MillraceError): void {
    this.trackingEpoch = -1;
    for (const f of this.followers.values()) f.tracker.stop();
    this.followers.clear();
    this.isrChange?.stop();
    this.isrChange = null;
    for (const d of this.delayed) {
      clearTimeout(d.timer);
      d.reject(reason);
    }
    this.delayed.clear();
    // After the transition commits, so that the fetchers and parked fetches see the new role.
    queueMicrotask(() => {
      this.wakeWatchers();
      this.settings.onFollowerChange(this);
    });
  }

  /** The lag sweep: followers that look behind are checked by their trackers. */
  checkLag(): void {
    if (!this.isLeader) return;
    const now = this.now();
    const end = this.log.logEndOffset;
    for (const f of this.followers.values()) {
      const last = lastCaughtUp(f, end);
      if (isLagging(last, now, this.settings.lagTimeMaxMs) && f.tracker.getSnapshot().value === 'InSync')
        f.tracker.send({ type: 'CHECK_LAG', lastCaughtUpMs: last, nowMs: now });
    }
  }

  /** After an append: waiting fetches wake (followers among them) and the high watermark may move. */
  appended(): void {
    this.maybeAdvanceHighWatermark();
    this.wakeWatchers();
  }

  /**
   * A follower fetched from `fetchOffset` (its log end). Kafka's rule: it is caught up at this
   * fetch if it reached the leader's log end, or at the previous fetch if it reached the log end
   * the leader had then.
   */
  followerFetched(follower: number, fetchOffset: number): void {
    const f = this.followers.get(follower);
    if (!f) return;
    const now = this.now();
    const leaderEnd = this.log.logEndOffset;
    if (fetchOffset >= leaderEnd) f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, now);
    else if (fetchOffset >= f.lastFetchLeaderLogEndOffset && f.lastFetchLeaderLogEndOffset >= 0)
      f.lastCaughtUpMs = Math.max(f.lastCaughtUpMs, f.lastFetchMs);
    f.lastFetchLeaderLogEndOffset = leaderEnd;
    f.lastFetchMs = now;
    f.logEndOffset = fetchOffset;
    // Back into the ISR once it has reached the high watermark within the lag time (KIP-497's rule, simplified).
    if (
      !this.isr.includes(follower) &&
      fetchOffset >= this.highWatermark &&
      now - f.lastCaughtUpMs <= this.settings.lagTimeMaxMs
    ) {
      f.tracker.send({ type: 'CAUGHT_UP' });
    }
    this.maybeAdvanceHighWatermark();
  }

  /**
   * A follower's fetch that changes nothing: it is at the log end, which the high watermark has
   * reached. Records it as caught up now and returns true; false when the fetch needs the full
   * path (followerFetched), so that an idle partition in a fetch session costs a few comparisons.
   */
  followerIdle(follower: number, fetchOffset: number, session: { lastRoundMs: number }): boolean {
    const end = this.log.logEndOffset;
    if (fetchOffset !== end || this.highWatermark !== end) return false;
    const f = this.followers.get(follower);
    if (!f || f.logEndOffset !== end || !this.isr.includes(follower)) return false;
    const now = this.now();
    f.lastCaughtUpMs = now;
    f.lastFetchMs = now;
    f.lastFetchLeaderLogEndOffset = end;
    f.idleIn = session;
    return true;
  }

  /** The ISR the high watermark waits for: committed plus any expansion in flight. */
  private maximalIsr(): readonly number[] {
    const pending = this.isrChange?.getSnapshot().context.pending;
    return pending ? [...new Set([...this.isr, ...pending])] : this.isr;
  }

  /** High watermark = least log end over the ISR; it never moves back. */
  maybeAdvanceHighWatermark(): void {
    if (!this.isLeader) return;
    let hw = this.log.logEndOffset;
    for (const r of this.maximalIsr()) {
      if (r === this.settings.brokerId) continue;
      const f = this.followers.get(r);
      if (!f || f.logEndOffset < 0) return; // an ISR member not heard from in this epoch holds it
      hw = Math.min(hw, f.logEndOffset);
    }
    if (hw <= this.highWatermark) return;
    this.highWatermark = hw;
    for (const d of [...this.delayed]) {
      if (d.requiredOffset > hw) continue;
      this.delayed.delete(d);
      clearTimeout(d.timer);
      if (this.isr.length < this.minInsync) {
        d.reject(
          new MillraceError(
            'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
            `${this.topic}-${this.partition} has ${this.isr.length} in-sync replicas, fewer than min.insync.replicas ${this.minInsync}`,
          ),
        );
      } else d.resolve();
    }
    this.wakeWatchers();
  }

  /** NOT_LEADER_OR_FOLLOWER unless this replica leads the partition now. */
  private requireLeader(): void {
    if (!this.isLeader)
      throw new MillraceError(
        'NOT_LEADER_OR_FOLLOWER',
        `broker ${this.settings.brokerId} does not lead ${this.topic}-${this.partition} (leader: ${this.leader})`,
      );
  }

  /**
   * Appends as the partition's leader, in its leader epoch. Refused unless it leads now: a
   * request that waited since it was routed here (a KIP-890 check, a coordinator's queue) may
   * find the partition moved, and a follower's log must only take what its leader replicates.
   */
  appendAsLeader(records: Buffer): LogAppendInfo {
    this.requireLeader();
    return this.log.appendAsLeader(records, this.leaderEpoch);
  }

  /** Appends a transaction marker as the leader (refused unless it leads now, as appendAsLeader). */
  appendMarker(marker: Parameters<Log['appendMarker']>[0]): number {
    this.requireLeader();
    return this.log.appendMarker(marker, this.leaderEpoch);
  }

  /**
   * acks=all: resolves when the high watermark reaches `requiredOffset`, or fails after
   * `timeoutMs`; at once NOT_LEADER_OR_FOLLOWER on a replica that does not lead (a follower's
   * high watermark says nothing of what it appended itself).
   */
  awaitCommit(requiredOffset: number, timeoutMs: number): Promise<void> {
    if (!this.isLeader)
      return Promise.reject(
        new MillraceError('NOT_LEADER_OR_FOLLOWER', `${this.topic}-${this.partition} is no longer led here`),
      );
    if (this.highWatermark >= requiredOffset) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const d: DelayedProduce = {
        requiredOffset,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.delayed.delete(d);
          reject(
            new MillraceError(
              'REQUEST_TIMED_OUT',
              `${this.topic}-${this.partition}: the in-sync replicas did not reach offset ${requiredOffset} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs),
      };
      this.delayed.add(d);
    });
  }

  /** Asks the ISR machine to bring the controller's ISR in line with the trackers. */
  private syncIsr(): void {
    if (!this.isLeader || !this.isrChange) return;
    const me = this.settings.brokerId;
    const wanted = this.replicas.filter(
      (r) => r === me || this.followers.get(r)?.tracker.getSnapshot().value === 'InSync',
    );
    this.isrChange.send({ type: 'SYNC', wanted, committed: this.isr });
  }

  /** As follower: the high watermark the leader reported, bounded by this log's end. */
  followHighWatermark(leaderHighWatermark: number): void {
    const hw = Math.min(leaderHighWatermark, this.log.logEndOffset);
    if (hw > this.highWatermark) this.highWatermark = hw;
    if (this.highWatermark > this.log.logEndOffset) this.highWatermark = this.log.logEndOffset;
  }

  stop(): void {
    this.actor.send({ type: 'STOP' });
  }
}
