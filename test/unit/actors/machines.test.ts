import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock, createActor, fromPromise, type Actor } from 'xstate';
import { brokerLifecycleMachine, type HeartbeatInput, type HeartbeatResult } from '../../../actors/broker-lifecycle.js';
import { brokerSessionMachine } from '../../../actors/broker-session.js';
import { controllerElectionMachine, type AcquireResult } from '../../../actors/controller-election.js';
import { isrChangeMachine, isrDiffers, type AlterResult } from '../../../actors/isr-change.js';
import { partitionMachine } from '../../../actors/partition.js';
import { isLagging, replicaTrackerMachine } from '../../../actors/replica-tracker.js';

/** Lets resolved promises (invoked actors) deliver their results. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('controller election', () => {
  function election(acquireResults: AcquireResult[], renewOk: () => boolean) {
    const clock = new SimulatedClock();
    const calls: string[] = [];
    const machine = controllerElectionMachine.provide({
      actors: {
        acquire: fromPromise(async () => {
          calls.push('acquire');
          return acquireResults.shift() ?? null;
        }),
        activate: fromPromise(async ({ input }: { input: { epoch: number } }) => {
          calls.push(`activate:${input.epoch}`);
        }),
        renew: fromPromise(async ({ input }: { input: { revision: number } }) => {
          calls.push(`renew:${input.revision}`);
          if (!renewOk()) throw new Error('wrong last sequence');
          return input.revision + 1;
        }),
        resign: fromPromise(async ({ input }: { input: { epoch: number | null } }) => {
          calls.push(`resign:${input.epoch}`);
        }),
      },
    });
    const actor = createActor(machine, { input: { leaseMs: 3000 }, clock }).start();
    return { actor, clock, calls };
  }

  it('waits while another broker holds the lease, then wins with the revision as epoch', async () => {
    const { actor, clock, calls } = election([null, { revision: 7 }], () => true);
    await settle();
    expect(actor.getSnapshot().value).toBe('Waiting');
    clock.increment(749);
    await settle();
    expect(calls).toEqual(['acquire']);
    clock.increment(1);
    await settle();
    await settle();
    expect(actor.getSnapshot().value).toBe('Active');
    expect(actor.getSnapshot().context.epoch).toBe(7);
    expect(calls).toEqual(['acquire', 'acquire', 'activate:7']);
  });

  it('renews at a third of the lease and resigns on the first failed renewal', async () => {
    let ok = true;
    const { actor, clock, calls } = election([{ revision: 3 }], () => ok);
    await settle();
    await settle();
    clock.increment(1000);
    await settle();
    expect(calls).toContain('renew:3');
    expect(actor.getSnapshot().context.revision).toBe(4);
    ok = false;
    clock.increment(1000);
    await settle();
    await settle();
    expect(calls.slice(-2)).toEqual(['renew:4', 'resign:3']);
    expect(actor.getSnapshot().value).toBe('Waiting');
    expect(actor.getSnapshot().context.epoch).toBeNull();
  });

  it('steps down when its metadata write is fenced, and resigns on stop', async () => {
    const { actor, calls } = election([{ revision: 5 }], () => true);
    await settle();
    await settle();
    actor.send({ type: 'FENCED' });
    await settle();
    expect(calls.at(-1)).toBe('resign:5');
    actor.send({ type: 'STOP' });
    await settle();
    expect(actor.getSnapshot().status).toBe('done');
  });
});

describe('broker session', () => {
  /** A session whose probes are answered at once: GONE while `down` says so, PRESENT otherwise. */
  function session() {
    const clock = new SimulatedClock();
    const fence = vi.fn();
    const revive = vi.fn();
    const probes: Array<{ brokerId: number; heartbeats: number }> = [];
    const state = { down: false, answer: true };
    const actor: Actor<typeof brokerSessionMachine> = createActor(
      brokerSessionMachine.provide({
        actions: {
          fence: (_, p) => fence(p),
          probe: (_, p) => {
            probes.push(p);
            const type = state.down ? 'GONE' : 'PRESENT';
            if (state.answer) clock.setTimeout(() => actor.send({ type, heartbeats: p.heartbeats }), 1);
          },
          revive: (_, p) => revive(p),
        },
      }),
      { input: { brokerId: 4, sessionTimeoutMs: 9000, probeIntervalMs: 100 }, clock },
    ).start();
    // SimulatedClock runs a timer set while it advances from the end of the jump: advance in steps.
    const advance = (ms: number) => {
      for (let t = 0; t < ms; t += 10) clock.increment(Math.min(10, ms - t));
    };
    return { advance, fence, revive, probes, state, actor };
  }

  it('fences a broker that misses its session timeout and revives it on the next heartbeat', () => {
    const { advance, fence, revive, state, actor } = session();
    // A paused broker: present on NATS, but its probes time out (no answer) and it sends nothing.
    state.answer = false;
    advance(8000);
    actor.send({ type: 'HEARTBEAT' });
    advance(8990);
    expect(fence).not.toHaveBeenCalled();
    expect(actor.getSnapshot().hasTag('live')).toBe(true);
    advance(10);
    expect(fence).toHaveBeenCalledWith({ brokerId: 4, reason: 'session-timeout' });
    expect(actor.getSnapshot().value).toBe('Expired');
    expect(actor.getSnapshot().hasTag('live')).toBe(false);
    actor.send({ type: 'HEARTBEAT' });
    expect(revive).toHaveBeenCalledWith({ brokerId: 4 });
    expect(actor.getSnapshot().hasTag('live')).toBe(true);
  });

  it('probes every interval and fences a broker seen present once a probe finds it gone', () => {
    const { advance, fence, probes, state } = session();
    advance(1000);
    expect(probes.length).toBe(10);
    expect(fence).not.toHaveBeenCalled();
    state.down = true;
    advance(90);
    expect(fence).not.toHaveBeenCalled();
    advance(20);
    expect(fence).toHaveBeenCalledWith({ brokerId: 4, reason: 'gone-from-nats' });
  });

  it('never fences by probe a broker it has not seen present (one that does not answer probes)', () => {
    const { advance, fence, state } = session();
    state.down = true;
    advance(8990);
    expect(fence).not.toHaveBeenCalled();
    advance(10);
    expect(fence).toHaveBeenCalledWith({ brokerId: 4, reason: 'session-timeout' });
  });

  it('keeps probing while heartbeats come more often than probes, and fences a broker that dies', () => {
    const { advance, fence, probes, state, actor } = session();
    for (let t = 0; t < 1000; t += 50) {
      actor.send({ type: 'HEARTBEAT' });
      advance(50);
    }
    expect(probes.length).toBeGreaterThanOrEqual(9);
    state.down = true;
    advance(110);
    expect(fence).toHaveBeenCalledWith({ brokerId: 4, reason: 'gone-from-nats' });
  });

  it('ignores a gone answer to a probe sent before the last heartbeat', () => {
    const { advance, fence, actor } = session();
    advance(200);
    actor.send({ type: 'HEARTBEAT' });
    actor.send({ type: 'GONE', heartbeats: 0 }); // sent before the heartbeat: stale
    expect(fence).not.toHaveBeenCalled();
    expect(actor.getSnapshot().hasTag('live')).toBe(true);
    actor.send({ type: 'GONE', heartbeats: 1 });
    expect(fence).toHaveBeenCalledWith({ brokerId: 4, reason: 'gone-from-nats' });
  });
});

describe('broker lifecycle', () => {
  function lifecycle(heartbeat: (input: { wantShutdown: boolean }) => HeartbeatResult, registerFailures = 0) {
    const clock = new SimulatedClock();
    const calls: string[] = [];
    let failures = registerFailures;
    let finishRecovery: () => void = () => undefined;
    const machine = brokerLifecycleMachine.provide({
      actors: {
        register: fromPromise(async () => {
          calls.push('register');
          if (failures-- > 0) throw new Error('no controller yet');
          return 42;
        }),
        recover: fromPromise(() => new Promise<void>((resolve) => (finishRecovery = resolve))),
        heartbeat: fromPromise(async ({ input }: { input: HeartbeatInput }) => {
          calls.push(`heartbeat:${input.brokerEpoch}:${input.wantFence}:${input.wantShutdown}`);
          return heartbeat(input);
        }),
        shutdown: fromPromise(async () => {
          calls.push('shutdown');
        }),
      },
    });
    const actor = createActor(machine, {
      input: { heartbeatIntervalMs: 2000, controlledShutdownTimeoutMs: 30_000 },
      clock,
    }).start();
    return { actor, clock, calls, finishRecovery: () => finishRecovery() };
  }
  const phase = (a: ReturnType<typeof lifecycle>['actor']) =>
    (a.getSnapshot().value as { Lifecycle: unknown }).Lifecycle;

  it('registers (retrying), heartbeats through recovery, runs, and shuts down after a granted controlled shutdown', async () => {
    const t = lifecycle((input) => ({ isFenced: false, shouldShutdown: input.wantShutdown, reregister: false }), 1);
    await settle();
    expect(phase(t.actor)).toEqual({ Starting: 'Backoff' });
    t.clock.increment(2000);
    await settle();
    expect(phase(t.actor)).toEqual({ Recovery: 'Loading' });
    expect(t.actor.getSnapshot().context.brokerEpoch).toBe(42);
    t.clock.increment(2000);
    await settle();
    expect(t.calls).toContain('heartbeat:42:true:false'); // recovering: stay fenced
    t.finishRecovery();
    await settle();
    expect(phase(t.actor)).toEqual({ Recovery: 'CatchingUp' });
    t.clock.increment(2000);
    await settle();
    expect(t.calls.at(-1)).toBe('heartbeat:42:false:false'); // loaded: may be unfenced
    expect(phase(t.actor)).toBe('Running');
    t.actor.send({ type: 'SHUTDOWN' });
    expect(phase(t.actor)).toBe('PendingControlledShutdown');
    t.clock.increment(2000);
    await settle();
    await settle();
    expect(t.calls).toContain('heartbeat:42:false:true');
    expect(t.calls.at(-1)).toBe('shutdown');
    expect(t.actor.getSnapshot().status).toBe('done');
  });

  it('gives up on a controlled shutdown that is never granted', async () => {
    const t = lifecycle(() => ({ isFenced: false, shouldShutdown: false, reregister: false }));
    await settle();
    t.finishRecovery();
    t.clock.increment(2000);
    await settle();
    expect(phase(t.actor)).toBe('Running');
    t.actor.send({ type: 'SHUTDOWN' });
    t.clock.increment(30_000);
    await settle();
    expect(t.calls.at(-1)).toBe('shutdown');
  });

  it('registers again when the controller no longer knows it', async () => {
    let reregister = true;
    const t = lifecycle(() => ({ isFenced: true, shouldShutdown: false, reregister }));
    await settle();
    t.finishRecovery();
    await settle();
    t.clock.increment(2000);
    await settle();
    reregister = false;
    expect(t.calls.filter((c) => c === 'register')).toHaveLength(2);
  });
});

describe('partition', () => {
  it('takes roles in leader-epoch order and ignores stale changes', () => {
    const follower = vi.fn();
    const actor = createActor(partitionMachine.provide({ actions: { becameFollower: (_, p) => follower(p) } }), {
      input: { topic: 't', partition: 0 },
    }).start();
    expect(actor.getSnapshot().value).toBe('Offline');
    actor.send({ type: 'BECOME_LEADER', leaderEpoch: 3, leader: 1 });
    expect(actor.getSnapshot().value).toBe('Leader');
    expect(actor.getSnapshot().context).toMatchObject({ leaderEpoch: 3, leader: 1 });
    actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: 2, leader: 2 });
    expect(actor.getSnapshot().value).toBe('Leader');
    actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: 4, leader: 2 });
    expect(actor.getSnapshot().value).toEqual({ Follower: 'Fetching' });
    expect(actor.getSnapshot().context).toMatchObject({ leaderEpoch: 4, leader: 2 });
    expect(follower).toHaveBeenCalledWith({ leaderEpoch: 4, leader: 2 });
    actor.send({ type: 'STOP' });
    expect(actor.getSnapshot().status).toBe('done');
  });
});

describe('partition role restatements', () => {
  it('runs the role effects once per leader epoch', () => {
    const follower = vi.fn();
    const offline = vi.fn();
    const actor = createActor(
      partitionMachine.provide({ actions: { becameFollower: (_, p) => follower(p), wentOffline: () => offline() } }),
      { input: { topic: 't', partition: 1 } },
    ).start();
    actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: 1, leader: 2 });
    actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: 1, leader: 2 });
    expect(follower).toHaveBeenCalledTimes(1);
    actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: 2, leader: 3 });
    expect(follower).toHaveBeenCalledTimes(2);
    actor.send({ type: 'BECOME_LEADER', leaderEpoch: 3, leader: 1 });
    actor.send({ type: 'BECOME_LEADER', leaderEpoch: 3, leader: 1 });
    expect(actor.getSnapshot().context.leaderEpoch).toBe(3);
    actor.send({ type: 'GO_OFFLINE' });
    actor.send({ type: 'GO_OFFLINE' });
    expect(offline).toHaveBeenCalledTimes(1);
    expect(actor.getSnapshot().value).toBe('Offline');
  });
});

describe('replica tracker', () => {
  it('decides lag with the pure rule: out of sync only past the lag time', () => {
    expect(isLagging(5_000, 15_000, 10_000)).toBe(false);
    expect(isLagging(5_000, 15_001, 10_000)).toBe(true);
  });

  it('moves a follower out of sync when a lag check finds it behind, and back when it catches up', () => {
    const fell = vi.fn();
    const caught = vi.fn();
    const actor = createActor(
      replicaTrackerMachine.provide({ actions: { fellBehind: (_, p) => fell(p), caughtUp: (_, p) => caught(p) } }),
      { input: { follower: 3, lagTimeMaxMs: 10_000, inSync: true } },
    ).start();
    expect(actor.getSnapshot().value).toBe('InSync');
    actor.send({ type: 'CHECK_LAG', lastCaughtUpMs: 5_000, nowMs: 15_000 });
    expect(fell).not.toHaveBeenCalled();
    expect(actor.getSnapshot().value).toBe('InSync');
    actor.send({ type: 'CHECK_LAG', lastCaughtUpMs: 5_000, nowMs: 20_000 });
    expect(fell).toHaveBeenCalledWith({ follower: 3 });
    expect(actor.getSnapshot().value).toBe('OutOfSync');
    actor.send({ type: 'CAUGHT_UP' });
    expect(caught).toHaveBeenCalledWith({ follower: 3 });
    expect(actor.getSnapshot().value).toBe('InSync');
    // Taken out of the ISR by the controller: out of sync without asking for a shrink.
    actor.send({ type: 'LEFT_ISR' });
    expect(actor.getSnapshot().value).toBe('OutOfSync');
    expect(fell).toHaveBeenCalledTimes(1);
  });

  it('starts out of sync for a replica outside the ISR', () => {
    const actor = createActor(replicaTrackerMachine, {
      input: { follower: 2, lagTimeMaxMs: 1000, inSync: false },
    }).start();
    expect(actor.getSnapshot().value).toBe('OutOfSync');
  });
});

describe('partition follower states', () => {
  it('truncates on divergence, then fetches', () => {
    const actor = createActor(partitionMachine, { input: { topic: 't', partition: 0 } }).start();
    actor.send({ type: 'BECOME_FOLLOWER', leaderEpoch: 2, leader: 1 });
    expect(actor.getSnapshot().value).toEqual({ Follower: 'Fetching' });
    actor.send({ type: 'DIVERGED' });
    expect(actor.getSnapshot().value).toEqual({ Follower: 'Truncating' });
    actor.send({ type: 'TRUNCATED' });
    expect(actor.getSnapshot().value).toEqual({ Follower: 'Fetching' });
  });
});

describe('ISR change (AlterPartition, one machine per leadership)', () => {
  function isrChange(answers: Array<AlterResult | Error>) {
    const clock = new SimulatedClock();
    const asked: Array<readonly number[]> = [];
    const committed: AlterResult[] = [];
    let retries = 0;
    const machine = isrChangeMachine.provide({
      actors: {
        alterPartition: fromPromise(async ({ input }: { input: { isr: readonly number[] } }) => {
          asked.push(input.isr);
          const answer = answers.shift();
          if (!answer || answer instanceof Error) throw answer ?? new Error('no answer');
          return answer;
        }),
      },
      actions: {
        committed: (_, result) => committed.push(result),
        retry: () => retries++,
      },
    });
    const actor = createActor(machine, { input: { retryBackoffMs: 500 }, clock }).start();
    return { actor, clock, asked, committed, retries: () => retries };
  }

  it('asks only when the wanted ISR differs as a set, and holds the pending ISR until it commits', async () => {
    expect(isrDiffers([1, 2], [2, 1])).toBe(false);
    expect(isrDiffers([1, 2, 3], [1, 2])).toBe(true);
    const { actor, asked, committed } = isrChange([{ isr: [1, 2, 3], partitionEpoch: 4 }]);
    actor.send({ type: 'SYNC', wanted: [2, 1], committed: [1, 2] });
    expect(actor.getSnapshot().value).toBe('Committed');
    actor.send({ type: 'SYNC', wanted: [1, 2, 3], committed: [1, 2] });
    expect(actor.getSnapshot().value).toBe('Pending');
    expect(actor.getSnapshot().context.pending).toEqual([1, 2, 3]);
    // A second change while one is in flight is not sent: one AlterPartition at a time.
    actor.send({ type: 'SYNC', wanted: [1], committed: [1, 2] });
    await settle();
    expect(asked).toEqual([[1, 2, 3]]);
    expect(committed).toEqual([{ isr: [1, 2, 3], partitionEpoch: 4 }]);
    expect(actor.getSnapshot().value).toBe('Committed');
    expect(actor.getSnapshot().context.pending).toBeNull();
  });

  it('backs off for the named delay after a refusal, then lets the leader ask again', async () => {
    const { actor, clock, asked, retries } = isrChange([
      new Error('INVALID_UPDATE_VERSION'),
      { isr: [1], partitionEpoch: 2 },
    ]);
    actor.send({ type: 'SYNC', wanted: [1], committed: [1, 2] });
    await settle();
    expect(actor.getSnapshot().value).toBe('BackingOff');
    actor.send({ type: 'SYNC', wanted: [1], committed: [1, 2] });
    expect(asked).toHaveLength(1);
    clock.increment(499);
    expect(actor.getSnapshot().value).toBe('BackingOff');
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('Committed');
    expect(retries()).toBe(1);
    actor.send({ type: 'SYNC', wanted: [1], committed: [1, 2] });
    await settle();
    expect(asked).toEqual([[1], [1]]);
  });

  it('drops a late answer once the leadership has ended (the machine is stopped)', async () => {
    let answer: (r: AlterResult) => void = () => undefined;
    const committed: AlterResult[] = [];
    const machine = isrChangeMachine.provide({
      actors: { alterPartition: fromPromise(() => new Promise<AlterResult>((r) => (answer = r))) },
      actions: { committed: (_, result) => committed.push(result) },
    });
    const actor = createActor(machine, { input: { retryBackoffMs: 500 } }).start();
    actor.send({ type: 'SYNC', wanted: [1], committed: [1, 2] });
    await settle();
    actor.stop();
    answer({ isr: [1], partitionEpoch: 9 });
    await settle();
    expect(committed).toEqual([]);
  });
});
