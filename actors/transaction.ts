/**
 * One transactional id on its transaction coordinator, with Kafka's states: Empty, Ongoing,
 * PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence, Dead. The pure
 * core (src/broker/txn/txn-rules.ts) decides each request; the machine holds the lifecycle the
 * decisions drive: a state is entered once its record is written to `__transaction_state`
 * (WRITTEN, only along Kafka's valid transitions), an Ongoing transaction times out
 * (`timedOut`: the shell aborts it, fencing its producer), and a Prepare state writes the
 * markers (`writeMarkers`, retried after a backoff until they are all written), then asks the
 * shell to write the Complete state (`markersWritten`).
 */
import { assign, fromPromise, setup } from 'xstate';

export type TxnState =
  | 'Empty'
  | 'Ongoing'
  | 'PrepareCommit'
  | 'PrepareAbort'
  | 'CompleteCommit'
  | 'CompleteAbort'
  | 'Dead'
  | 'PrepareEpochFence';

export const TXN_STATES: readonly TxnState[] = [
  'Empty',
  'Ongoing',
  'PrepareCommit',
  'PrepareAbort',
  'CompleteCommit',
  'CompleteAbort',
  'Dead',
  'PrepareEpochFence',
];

/** Kafka's TransactionState.validPreviousStates. */
export const VALID_PREVIOUS: Record<TxnState, readonly TxnState[]> = {
  Empty: ['Empty', 'CompleteCommit', 'CompleteAbort'],
  Ongoing: ['Ongoing', 'Empty', 'CompleteCommit', 'CompleteAbort'],
  PrepareCommit: ['Ongoing'],
  PrepareAbort: ['Ongoing', 'PrepareEpochFence'],
  CompleteCommit: ['PrepareCommit'],
  CompleteAbort: ['PrepareAbort'],
  Dead: ['Empty', 'CompleteCommit', 'CompleteAbort'],
  PrepareEpochFence: ['Ongoing'],
};

export interface TxnLifecycleContext {
  transactionalId: string;
  /** Until an Ongoing transaction times out, from when its state was entered or restored. */
  timeoutInMs: number;
  retryBackoffMs: number;
}

export type TxnLifecycleEvent =
  /** A record in `state` was written (or read back, for RESTORE) to `__transaction_state`. */
  { type: 'WRITTEN'; state: TxnState; timeoutInMs: number } | { type: 'RESTORE'; state: TxnState; timeoutInMs: number };

/** From `from`, a WRITTEN record may move to every state whose valid previous states include it. */
function writtenFrom(from: TxnState) {
  return [
    ...TXN_STATES.filter((to) => VALID_PREVIOUS[to].includes(from)).map((to) => ({
      guard: { type: 'isState' as const, params: { state: to } },
      ...(to === from ? {} : { target: to }),
      actions: 'recordTimeout' as const,
    })),
    { actions: { type: 'invalidTransition' as const, params: { from } } },
  ];
}

/** Writes the markers of the transaction ending; a failure backs off and tries again. */
const markerStates = {
  initial: 'Writing',
  states: {
    Writing: {
      invoke: {
        src: 'writeMarkers',
        onDone: { target: 'Written', actions: 'markersWritten' },
        onError: {
          target: 'BackingOff',
          actions: {
            type: 'markersFailed',
            params: ({ event }: { event: { error: unknown } }) => ({ error: event.error }),
          },
        },
      },
    },
    BackingOff: { after: { RETRY_BACKOFF: 'Writing' } },
    Written: {},
  },
} as const;

export const transactionMachine = setup({
  types: {
    context: {} as TxnLifecycleContext,
    input: {} as { transactionalId: string; retryBackoffMs: number },
    events: {} as TxnLifecycleEvent,
  },
  actors: {
    writeMarkers: fromPromise<void>(() => Promise.reject(new Error('writeMarkers is provided by the coordinator'))),
  },
  actions: {
    recordTimeout: assign({ timeoutInMs: ({ event }) => event.timeoutInMs }),
    timedOut: () => undefined,
    markersWritten: () => undefined,
    markersFailed: (_, _params: { error: unknown }) => undefined,
    invalidTransition: (_, _params: { from: TxnState }) => undefined,
  },
  guards: {
    isState: ({ event }, params: { state: TxnState }) => event.state === params.state,
  },
  delays: {
    TXN_TIMEOUT: ({ context }) => Math.max(0, context.timeoutInMs),
    RETRY_BACKOFF: ({ context }) => context.retryBackoffMs,
  },
}).createMachine({
  id: 'transaction',
  context: ({ input }) => ({ ...input, timeoutInMs: 0 }),
  initial: 'New',
  states: {
    /** Not yet written: a new id's first record, or one read back by a new coordinator. */
    New: {
      on: {
        WRITTEN: { guard: { type: 'isState', params: { state: 'Empty' } }, target: 'Empty', actions: 'recordTimeout' },
        RESTORE: TXN_STATES.map((to) => ({
          guard: { type: 'isState' as const, params: { state: to } },
          target: to,
          actions: 'recordTimeout' as const,
        })),
      },
    },
    Empty: { on: { WRITTEN: writtenFrom('Empty') } },
    Ongoing: {
      after: { TXN_TIMEOUT: { actions: 'timedOut' } },
      on: { WRITTEN: writtenFrom('Ongoing') },
    },
    PrepareEpochFence: { on: { WRITTEN: writtenFrom('PrepareEpochFence') } },
    PrepareCommit: { ...markerStates, on: { WRITTEN: writtenFrom('PrepareCommit') } },
    PrepareAbort: { ...markerStates, on: { WRITTEN: writtenFrom('PrepareAbort') } },
    CompleteCommit: { on: { WRITTEN: writtenFrom('CompleteCommit') } },
    CompleteAbort: { on: { WRITTEN: writtenFrom('CompleteAbort') } },
    Dead: { type: 'final' },
  },
});
