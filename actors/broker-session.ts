/**
 * The controller's view of one broker's liveness (KIP-631): every heartbeat restarts the session.
 * A broker silent for the probe delay is suspect: the controller asks NATS whether the broker
 * still has a subscription (a SIGKILLed process has none at once, while a paused one does). One
 * that is gone is fenced then, instead of after the whole session timeout; otherwise the timeout
 * decides. A heartbeat from a fenced broker brings it back. Fence, probe and revive are injected.
 */
import { assign, setup } from 'xstate';

export interface SessionInput {
  brokerId: number;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  /** Silence after which the broker's presence on NATS is probed; below the session timeout. */
  probeAfterMs: number;
}

export type FenceReason = 'session-timeout' | 'gone-from-nats';

interface SessionContext extends SessionInput {
  reason: FenceReason;
}

export const brokerSessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionInput,
    events: {} as { type: 'HEARTBEAT' } | { type: 'GONE' } | { type: 'REMOVE' },
  },
  actions: {
    fence: (_, _params: { brokerId: number; reason: FenceReason }) => undefined,
    probe: (_, _params: { brokerId: number }) => undefined,
    revive: (_, _params: { brokerId: number }) => undefined,
  },
  delays: {
    PROBE_AFTER: ({ context }) => context.probeAfterMs,
    REST_OF_SESSION: ({ context }) => Math.max(0, context.sessionTimeoutMs - context.probeAfterMs),
  },
}).createMachine({
  id: 'brokerSession',
  context: ({ input }) => ({ ...input, reason: 'session-timeout' }),
  initial: 'Alive',
  on: { REMOVE: '.Removed' },
  states: {
    Alive: {
      tags: ['live'],
      after: { PROBE_AFTER: 'Suspect' },
      on: { HEARTBEAT: { target: 'Alive', reenter: true } },
    },
    Suspect: {
      tags: ['live'],
      entry: { type: 'probe', params: ({ context }) => ({ brokerId: context.brokerId }) },
      after: { REST_OF_SESSION: { target: 'Expired', actions: assign({ reason: 'session-timeout' }) } },
      on: {
        HEARTBEAT: 'Alive',
        GONE: { target: 'Expired', actions: assign({ reason: 'gone-from-nats' }) },
      },
    },
    Expired: {
      entry: {
        type: 'fence',
        params: ({ context }) => ({ brokerId: context.brokerId, reason: context.reason }),
      },
      on: {
        HEARTBEAT: {
          target: 'Alive',
          actions: { type: 'revive', params: ({ context }) => ({ brokerId: context.brokerId }) },
        },
      },
    },
    Removed: { type: 'final' },
  },
});
