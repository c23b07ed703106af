import { describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, fromPromise } from 'xstate';
import { streamTaskMachine } from '../../../actors/stream-task.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

function task(restore: () => Promise<void>) {
  const calls: string[] = [];
  const machine = streamTaskMachine.provide({
    actors: { restore: fromPromise(restore) },
    actions: {
      restored: (_, p) => void calls.push(`restored:${p.taskId}`),
      restoreFailed: (_, p) => void calls.push(`failed:${p.taskId}:${(p.error as Error).message}`),
    },
  });
  const actor = createActor(machine, { input: { taskId: '0_3' }, clock: new SimulatedClock() }).start();
  return { actor, calls, state: () => actor.getSnapshot().value };
}

describe('stream task lifecycle', () => {
  it('goes Created, Restoring, Running, then Suspended and Closed when revoked', async () => {
    let finish!: () => void;
    const t = task(() => new Promise<void>((resolve) => (finish = resolve)));
    expect(t.state()).toBe('Created');
    t.actor.send({ type: 'INITIALIZE' });
    expect(t.state()).toBe('Restoring');
    finish();
    await settle();
    expect(t.state()).toBe('Running');
    expect(t.calls).toEqual(['restored:0_3']);
    t.actor.send({ type: 'CLOSE' }); // a running task is suspended before it closes, as Kafka's
    expect(t.state()).toBe('Running');
    t.actor.send({ type: 'SUSPEND' });
    t.actor.send({ type: 'CLOSE' });
    expect(t.state()).toBe('Closed');
    expect(t.actor.getSnapshot().status).toBe('done');
  });

  it('resumes a suspended task by restoring again', async () => {
    const t = task(async () => undefined);
    t.actor.send({ type: 'INITIALIZE' });
    await settle();
    t.actor.send({ type: 'SUSPEND' });
    t.actor.send({ type: 'RESUME' });
    expect(t.state()).toBe('Restoring');
    await settle();
    expect(t.state()).toBe('Running');
    expect(t.calls).toEqual(['restored:0_3', 'restored:0_3']);
  });

  it('suspends a task whose restore failed, and may close it while it restores', async () => {
    const failing = task(async () => {
      throw new Error('changelog gone');
    });
    failing.actor.send({ type: 'INITIALIZE' });
    await settle();
    expect(failing.state()).toBe('Suspended');
    expect(failing.calls).toEqual(['failed:0_3:changelog gone']);

    const slow = task(() => new Promise<void>(() => undefined));
    slow.actor.send({ type: 'INITIALIZE' });
    slow.actor.send({ type: 'CLOSE' });
    expect(slow.state()).toBe('Closed');
  });
});
