/**
 * The leader's view of one follower (DESIGN.md section 4): InSync while it has caught up within
 * replica.lag.time.max.ms, OutOfSync after. The fetch path records caught-up times as plain
 * data (no event per fetch); this machine checks them on a named delay and sends one event when a
 * lagging follower catches up again. The ISR changes themselves are injected actions.
 */
import { setup } from 'xstate';

export interface TrackerInput {
  follower: number;
  lagTimeMaxMs: number;
  inSync: boolean;
  /** Whether the follower has not caught up within the lag time (reads the fetch path's data). */
  lagging: () => boolean;
}

export const replicaTrackerMachine = setup({
  types: {
    context: {} as TrackerInput,
    input: {} as TrackerInput,
    /** LEFT_ISR: the controller took the follower out of the ISR (it was fenced, or shut down). */
    events: {} as { type: 'CAUGHT_UP' } | { type: 'LEFT_ISR' } | { type: 'STOP' },
  },
  actions: {
    fellBehind: (_, _params: { follower: number }) => undefined,
    caughtUp: (_, _params: { follower: number }) => undefined,
  },
  guards: {
    lagging: ({ context }) => context.lagging(),
  },
  delays: {
    /** Checking at half the lag time bounds detection to 1.5x replica.lag.time.max.ms. */
    LAG_CHECK: ({ context }) => Math.max(10, Math.floor(context.lagTimeMaxMs / 2)),
  },
}).createMachine({
  id: 'replicaTracker',
  context: ({ input }) => input,
  initial: 'Starting',
  on: { STOP: '.Stopped' },
  states: {
    Starting: {
      always: [{ guard: ({ context }) => context.inSync, target: 'InSync' }, { target: 'OutOfSync' }],
    },
    InSync: {
      after: {
        LAG_CHECK: [
          {
            guard: 'lagging',
            target: 'OutOfSync',
            actions: { type: 'fellBehind', params: ({ context }) => ({ follower: context.follower }) },
          },
          { target: 'InSync', reenter: true },
        ],
      },
      on: { LEFT_ISR: 'OutOfSync' },
    },
    OutOfSync: {
      on: {
        CAUGHT_UP: {
          target: 'InSync',
          actions: { type: 'caughtUp', params: ({ context }) => ({ follower: context.follower }) },
        },
      },
    },
    Stopped: { type: 'final' },
  },
});
