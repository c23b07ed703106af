/**
 * Starts an active task of a stream thread: its StreamTask (stores made new, or handed over by a
 * standby of the task here), and its lifecycle machine (actors/stream-task.ts) restoring the
 * stores from their changelogs (from a handed-over standby's positions, or a persistent store's
 * checkpoint) before it runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createActor, fromPromise, type Actor } from 'xstate';
import { streamTaskMachine } from '../../actors/stream-task.js';
import type { Millrace } from '../client/index.js';
import { readCheckpoint, removeCheckpoint } from './checkpoint.js';
import { restoreChangelogs } from './restore.js';
import type { HandedOverStores } from './standby.js';
import type { ThreadSettings } from './stream-thread.js';
import { NO_HEADERS, StreamTask, type RecordCollector } from './task.js';
import type { Topology } from './topology.js';

export interface RunningTask {
  task: StreamTask;
  actor: Actor<typeof streamTaskMachine>;
  /** Resolves once the task is Running (rejects if its restore failed). */
  ready: Promise<void>;
  /** The offset after the task's last changelog record, by changelog topic: a checkpoint's content. */
  changelogEnds: Map<string, number>;
}

export interface ActiveTaskDeps {
  client: Millrace;
  topology: Topology;
  settings: ThreadSettings;
  eos: boolean;
  /** Where its sinks and changelogs write. */
  collect: RecordCollector;
  handedOver: HandedOverStores | null;
  isStopped: () => boolean;
}

export function startActiveTask(partition: number, d: ActiveTaskDeps): RunningTask {
  const taskId = `0_${partition}`;
  const dir = path.join(d.settings.stateDir, taskId);
  const changelog =
    (store: string) =>
    (key: Buffer, value: Buffer | null): void =>
      d.collect(d.settings.changelogTopic(store), {
        key,
        value,
        timestamp: Date.now(),
        headers: NO_HEADERS,
        partition,
      });
  const { handedOver } = d;
  const task = new StreamTask(
    d.topology,
    partition,
    (topic, record) => d.collect(topic, record),
    (spec) => {
      const standby = handedOver?.stores.get(spec.name);
      if (!standby) return spec.create({ changelog: changelog(spec.name), stateDir: dir });
      standby.context.changelog = changelog(spec.name); // a standby's stores log from now on
      return standby.store;
    },
    d.settings.partitionCount,
    d.settings.globalStores,
    d.settings.defaultTimestampExtractor,
  );
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => undefined);
  const changelogEnds = new Map<string, number>();
  const machine = streamTaskMachine.provide({
    actors: {
      restore: fromPromise(async () => {
        const checkpoint = readCheckpoint(dir);
        // Exactly once: what a persistent store writes from now on may belong to a transaction
        // that aborts, so only a clean close leaves a checkpoint to trust.
        if (d.eos) removeCheckpoint(dir);
        const changelogs = [...task.stateStores.values()].map((store) => {
          const topic = d.settings.changelogTopic(store.name);
          const from = handedOver?.positions.get(topic) ?? (store.persistent ? checkpoint[topic] : undefined);
          if (store.persistent && from === undefined) store.wipe?.();
          return { store, topic, from: from ?? ('earliest' as const) };
        });
        const ends = await restoreChangelogs(
          d.client,
          partition,
          changelogs,
          d.eos ? 'read_committed' : 'read_uncommitted',
          (p) => d.settings.onRestore({ ...p, taskId }),
          d.isStopped,
        );
        for (const [topic, end] of ends) changelogEnds.set(topic, end);
      }),
    },
    actions: {
      restored: () => resolveReady(),
      restoreFailed: (_, p) => rejectReady(p.error),
    },
  });
  const actor = createActor(machine, { input: { taskId } }).start();
  fs.mkdirSync(dir, { recursive: true });
  actor.send({ type: 'INITIALIZE' });
  d.settings.log('task created', { taskId });
  return { task, actor, ready, changelogEnds };
}
