import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { transactionMachine, type TxnState } from '../../../actors/transaction.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function transaction(markerResults: boolean[]) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  const machine = transactionMachine.provide({
    actors: {
      writeMarkers: fromPromise(async () => {
        calls.push('writeMarkers');
        if (!(markerResults.shift() ?? true)) throw new Error('leader moved');
      }),
    },
    actions: {
      timedOut: () => void calls.push('timedOut'),
      markersWritten: () => void calls.push('markersWritten'),
      markersFailed: () => void calls.push('markersFailed'),
      invalidTransition: (_, p) => void calls.push(`invalid:${p.from}`),
    },
  });
  const actor = createActor(machine, { input: { transactionalId: 't1', retryBackoffMs: 100 }, clock }).start();
  const written = (state: TxnState, timeoutInMs = 0) => actor.send({ type: 'WRITTEN', state, timeoutInMs });
  const state = () => {
    const v = actor.getSnapshot().value;
    return typeof v === 'string' ? v : Object.entries(v).map(([k, sub]) => `${k}.${String(sub)}`)[0];
  };
  return { actor, clock, calls, written, state };
}

describe('transaction lifecycle', () => {
  it('goes Empty, Ongoing, PrepareCommit, writes the markers, CompleteCommit', async () => {
    const t = transaction([true]);
    t.written('Empty');
    t.written('Ongoing', 60_000);
    t.written('Ongoing', 60_000); // more partitions: the timer keeps counting from the start
    t.written('PrepareCommit');
    await settle();
    expect(t.calls).toEqual(['writeMarkers', 'markersWritten']);
    expect(t.state()).toBe('PrepareCommit.Written');
    t.written('CompleteCommit');
    expect(t.state()).toBe('CompleteCommit');
    t.clock.increment(120_000);
    expect(t.calls).not.toContain('timedOut');
  });

  it('times an open transaction out from when it began, not from its last partition', () => {
    const t = transaction([]);
    t.written('Empty');
    t.written('Ongoing', 1000);
    t.clock.increment(600);
    t.written('Ongoing', 1000);
    t.clock.increment(500);
    expect(t.calls).toEqual(['timedOut']);
  });

  it('retries markers after a backoff until they are written', async () => {
    const t = transaction([false, false, true]);
    t.actor.send({ type: 'RESTORE', state: 'PrepareAbort', timeoutInMs: 0 });
    await settle();
    expect(t.state()).toBe('PrepareAbort.BackingOff');
    t.clock.increment(100);
    await settle();
    t.clock.increment(100);
    await settle();
    expect(t.calls).toEqual([
      'writeMarkers',
      'markersFailed',
      'writeMarkers',
      'markersFailed',
      'writeMarkers',
      'markersWritten',
    ]);
    t.written('CompleteAbort');
    expect(t.state()).toBe('CompleteAbort');
  });

  it('refuses transitions Kafka does not allow, and restores an Ongoing transaction with its remaining time', () => {
    const t = transaction([]);
    t.written('Empty');
    t.written('PrepareCommit');
    expect(t.calls).toEqual(['invalid:Empty']);
    expect(t.state()).toBe('Empty');
    const r = transaction([]);
    r.actor.send({ type: 'RESTORE', state: 'Ongoing', timeoutInMs: 250 });
    r.clock.increment(250);
    expect(r.calls).toEqual(['timedOut']);
    r.written('PrepareEpochFence');
    r.written('PrepareAbort');
    expect(r.state()).toBe('PrepareAbort.Writing');
  });
});
