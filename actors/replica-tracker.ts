/**
 * The leader's view of one follower (DESIGN.md section 4): InSync while it has caught up within
 * replica.lag.time.max.ms, OutOfSync after. The fetch path records caught-up times as plain data
 * (no event per fetch); one sweep per broker, every half lag time, sends CHECK_LAG to the trackers
 * of followers that look behind, and the machine decides with the pure `isLagging`. A lagging
 * follower that catches up again sends one CAUGHT_UP. The ISR changes are injected actions.
 */
import { setup } from 'xstate';

export interface TrackerInput {
  follower: number;
  lagTimeMaxMs: number;
  inSync: boolean;
}

/** Kafka's rule: a follower not caught up within the lag time is out of sync. */
export function isLagging(lastCaughtUpMs: number, nowMs: number, lagTimeMaxMs: number): boolean {
  return nowMs - lastCaughtUpMs > lagTimeMaxMs;
}

export const replicaTrackerMachine = setup({
  types: {
    context: {} as TrackerInput,
    input: {} as TrackerInput,
    /** LEFT_ISR: the controller took the follower out of the ISR (it was fenced, or shut down). */
    events: {} as
      | { type: 'CHECK_LAG'; lastCaughtUpMs: number; nowMs: number }
      | { type: 'CAUGHT_UP' }
      | { type: 'LEFT_ISR' }
      | { type: 'STOP' },
  },
  actions: {
    fellBehind: (_, _params: { follower: number }) => undefined,
    caughtUp: (_, _params: { follower: number }) => undefined,
  },
  guards: {
    lagging: ({ context, event }) =>
      event.type === 'CHECK_LAG' && isLagging(event.lastCaughtUpMs, event.nowMs, context.lagTimeMaxMs),
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
      on: {
        CHECK_LAG: {
          guard: 'lagging',
          target: 'OutOfSync',
          actions: { type: 'fellBehind', params: ({ context }) => ({ follower: context.follower }) },
        },
        LEFT_ISR: 'OutOfSync',
      },
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
