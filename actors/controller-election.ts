/**
 * Controller election by lease (DESIGN.md section 4): a candidate creates the `controller` key
 * in the lease bucket (compare-and-set); the winner's epoch is the revision `create` returned,
 * it activates (fencing older controllers with its first metadata write), renews the lease at a
 * third of its TTL, and resigns on the first failed renewal or when told it is fenced. A
 * candidate asks again every poll; `acquire` may take the lease over from a holder whose
 * process is gone before its TTL runs out (the shell's decision).
 * I/O comes from the injected actors `acquire`, `activate`, `renew` and `resign`.
 */
import { assign, fromPromise, setup } from 'xstate';

export interface ElectionContext {
  leaseMs: number;
  /** How often a candidate asks again while another broker holds the lease. */
  pollMs: number;
  epoch: number | null;
  revision: number | null;
}

/** `acquire` resolves to the lease revision, or null when another broker holds it. */
export type AcquireResult = { revision: number } | null;

const notProvided = (name: string) =>
  fromPromise<never, unknown>(() => Promise.reject(new Error(`actor ${name} not provided`)));

export const controllerElectionMachine = setup({
  types: {
    context: {} as ElectionContext,
    input: {} as { leaseMs: number; pollMs?: number },
    events: {} as { type: 'FENCED' } | { type: 'STOP' },
  },
  actors: {
    acquire: notProvided('acquire') as unknown as ReturnType<typeof fromPromise<AcquireResult, void>>,
    activate: notProvided('activate') as unknown as ReturnType<typeof fromPromise<void, { epoch: number }>>,
    renew: notProvided('renew') as unknown as ReturnType<typeof fromPromise<number, { revision: number }>>,
    resign: notProvided('resign') as unknown as ReturnType<typeof fromPromise<void, { epoch: number | null }>>,
  },
  delays: {
    LEASE_POLL: ({ context }) => context.pollMs,
    /** Renew at a third of the lease: two renewals can fail before it expires. */
    RENEW_INTERVAL: ({ context }) => Math.max(50, Math.floor(context.leaseMs / 3)),
  },
}).createMachine({
  id: 'controllerElection',
  context: ({ input }) => ({
    leaseMs: input.leaseMs,
    pollMs: input.pollMs ?? Math.max(100, Math.floor(input.leaseMs / 4)),
    epoch: null,
    revision: null,
  }),
  initial: 'Candidate',
  on: { STOP: '.Stopping' },
  states: {
    Candidate: {
      invoke: {
        src: 'acquire',
        onDone: [
          {
            guard: ({ event }) => event.output !== null,
            target: 'Activating',
            actions: assign(({ event }) => ({ epoch: event.output!.revision, revision: event.output!.revision })),
          },
          { target: 'Waiting' },
        ],
        onError: 'Waiting',
      },
    },
    Waiting: {
      after: { LEASE_POLL: 'Candidate' },
    },
    Activating: {
      invoke: {
        src: 'activate',
        input: ({ context }) => ({ epoch: context.epoch! }),
        onDone: 'Active',
        onError: 'Resigning',
      },
      on: { FENCED: 'Resigning' },
    },
    Active: {
      after: { RENEW_INTERVAL: 'Renewing' },
      on: { FENCED: 'Resigning' },
    },
    Renewing: {
      invoke: {
        src: 'renew',
        input: ({ context }) => ({ revision: context.revision! }),
        onDone: { target: 'Active', actions: assign({ revision: ({ event }) => event.output }) },
        onError: 'Resigning',
      },
      on: { FENCED: 'Resigning' },
    },
    Resigning: {
      invoke: {
        src: 'resign',
        input: ({ context }) => ({ epoch: context.epoch }),
        onDone: { target: 'Waiting', actions: assign({ epoch: null, revision: null }) },
        onError: { target: 'Waiting', actions: assign({ epoch: null, revision: null }) },
      },
    },
    Stopping: {
      invoke: {
        src: 'resign',
        input: ({ context }) => ({ epoch: context.epoch }),
        onDone: 'Stopped',
        onError: 'Stopped',
      },
      on: { STOP: {} },
    },
    Stopped: { type: 'final', on: { STOP: {} } },
  },
});
