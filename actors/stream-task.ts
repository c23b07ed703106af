/**
 * One stream task's lifecycle on an application instance, with Kafka Streams' task states:
 * Created, Restoring, Running, Suspended, Closed. A task assigned to the instance is Created;
 * INITIALIZE starts restoring its stores from their changelogs (the `restore` actor, the shell's),
 * after which it is Running and its partition's records are processed. A revoked task is
 * suspended (its offsets committed by the shell first) and closed; a suspended task assigned
 * again resumes by restoring what it missed. A restore that fails leaves the task Suspended
 * (`restoreFailed`: the shell closes it dirty and creates it again, as Kafka does with a
 * corrupted task).
 */
import { fromPromise, setup } from 'xstate';

export type StreamTaskState = 'Created' | 'Restoring' | 'Running' | 'Suspended' | 'Closed';

export interface StreamTaskInput {
  taskId: string;
}

export type StreamTaskEvent = { type: 'INITIALIZE' } | { type: 'SUSPEND' } | { type: 'RESUME' } | { type: 'CLOSE' };

export const streamTaskMachine = setup({
  types: {
    context: {} as StreamTaskInput,
    input: {} as StreamTaskInput,
    events: {} as StreamTaskEvent,
  },
  actors: {
    /** Restores the task's stores to their changelogs' ends (injected by the runtime). */
    restore: fromPromise<void, { taskId: string }>(async () => undefined),
  },
  actions: {
    restored: (_, _params: { taskId: string }) => undefined,
    restoreFailed: (_, _params: { taskId: string; error: unknown }) => undefined,
  },
}).createMachine({
  id: 'streamTask',
  context: ({ input }) => input,
  initial: 'Created',
  states: {
    Created: {
      on: { INITIALIZE: 'Restoring', SUSPEND: 'Suspended', CLOSE: 'Closed' },
    },
    Restoring: {
      invoke: {
        src: 'restore',
        input: ({ context }) => ({ taskId: context.taskId }),
        onDone: {
          target: 'Running',
          actions: { type: 'restored', params: ({ context }) => ({ taskId: context.taskId }) },
        },
        onError: {
          target: 'Suspended',
          actions: {
            type: 'restoreFailed',
            params: ({ context, event }) => ({ taskId: context.taskId, error: event.error }),
          },
        },
      },
      on: { SUSPEND: 'Suspended', CLOSE: 'Closed' },
    },
    Running: {
      on: { SUSPEND: 'Suspended' },
    },
    Suspended: {
      on: { RESUME: 'Restoring', CLOSE: 'Closed' },
    },
    Closed: { type: 'final' },
  },
});
