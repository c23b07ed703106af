/**
 * A partition leader's ISR changes (KIP-497 AlterPartition), one machine per leadership: the ISR
 * is Committed, a change is Pending at the controller, or a refused change is BackingOff before
 * the leader tries again. At most one change is in flight; a leadership that ends stops its
 * machine, so a late answer is dropped with it rather than blocking later changes.
 */
import { assign, fromPromise, setup } from 'xstate';

export interface AlterResult {
  isr: number[];
  partitionEpoch: number;
}

export interface IsrChangeContext {
  retryBackoffMs: number;
  /** The ISR asked for while Pending; the high watermark counts it until it commits. */
  pending: readonly number[] | null;
}

export type IsrChangeEvent =
  /** The ISR the followers' trackers call for, and the one committed now. */
  { type: 'SYNC'; wanted: readonly number[]; committed: readonly number[] };

/** Whether two ISRs differ as sets (the order of an ISR carries no meaning). */
export function isrDiffers(wanted: readonly number[], committed: readonly number[]): boolean {
  return wanted.length !== committed.length || wanted.some((r) => !committed.includes(r));
}

export const isrChangeMachine = setup({
  types: {
    context: {} as IsrChangeContext,
    input: {} as { retryBackoffMs: number },
    events: {} as IsrChangeEvent,
  },
  actors: {
    alterPartition: fromPromise<AlterResult, { isr: readonly number[] }>(() =>
      Promise.reject(new Error('alterPartition is provided by the replica manager')),
    ),
  },
  actions: {
    committed: (_, _result: AlterResult) => undefined,
    refused: (_, _params: { error: unknown; wanted: readonly number[] }) => undefined,
    retry: () => undefined,
  },
  guards: {
    differs: ({ event }) => isrDiffers(event.wanted, event.committed),
  },
  delays: {
    RETRY_BACKOFF: ({ context }) => context.retryBackoffMs,
  },
}).createMachine({
  id: 'isrChange',
  context: ({ input }) => ({ retryBackoffMs: input.retryBackoffMs, pending: null }),
  initial: 'Committed',
  states: {
    Committed: {
      on: { SYNC: { guard: 'differs', target: 'Pending', actions: assign({ pending: ({ event }) => event.wanted }) } },
    },
    Pending: {
      invoke: {
        src: 'alterPartition',
        input: ({ context }) => ({ isr: context.pending ?? [] }),
        onDone: {
          target: 'Committed',
          actions: [assign({ pending: null }), { type: 'committed', params: ({ event }) => event.output }],
        },
        onError: {
          target: 'BackingOff',
          actions: [
            {
              type: 'refused',
              params: ({ context, event }) => ({ error: event.error, wanted: context.pending ?? [] }),
            },
            assign({ pending: null }),
          ],
        },
      },
    },
    BackingOff: {
      after: { RETRY_BACKOFF: { target: 'Committed', actions: 'retry' } },
    },
  },
});
