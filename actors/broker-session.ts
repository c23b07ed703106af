/**
 * The controller's view of one broker's liveness (KIP-631): every heartbeat restarts the session,
 * and a broker silent for the whole session timeout is fenced. Between heartbeats the controller
 * probes the broker's presence on NATS every probe interval: a SIGKILLed process has its
 * connection closed by the kernel, so NATS answers "no responders" at once, where a paused or
 * partitioned one still holds its subscription (or times out) and goes by the session timeout.
 * A broker is fenced as gone only after it was seen present in this session and then missed
 * from consecutive probes, none of them older than its last heartbeat, so a broker that never
 * answers probes (an older version) or reconnects meanwhile is not. A heartbeat from a fenced
 * broker brings it back. Fence, probe and revive are injected.
 */
import { assign, setup } from 'xstate';

export interface SessionInput {
  brokerId: number;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  /** How often the broker's presence on NATS is probed. */
  probeIntervalMs: number;
}

export type FenceReason = 'session-timeout' | 'gone-from-nats';

/** Consecutive "gone" probes that fence: one could see a connection in the middle of a reconnect. */
export const GONE_CONFIRMATIONS = 2;

interface SessionContext extends SessionInput {
  reason: FenceReason;
  /** Heartbeats received: a probe answer carries the count at its sending, to tell stale ones. */
  heartbeats: number;
  /** Whether a probe has found the broker present since the session started. */
  seen: boolean;
  gone: number;
}

/** A probe's answer, tagged with the heartbeat count when it was sent. */
export type ProbeAnswer = { type: 'PRESENT'; heartbeats: number } | { type: 'GONE'; heartbeats: number };

export const brokerSessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionInput,
    events: {} as { type: 'HEARTBEAT' } | ProbeAnswer | { type: 'REMOVE' },
  },
  actions: {
    fence: (_, _params: { brokerId: number; reason: FenceReason }) => undefined,
    probe: (_, _params: { brokerId: number; heartbeats: number }) => undefined,
    revive: (_, _params: { brokerId: number }) => undefined,
  },
  guards: {
    current: ({ context, event }) => 'heartbeats' in event && event.heartbeats === context.heartbeats,
    confirmsGone: ({ context, event }) =>
      'heartbeats' in event &&
      event.heartbeats === context.heartbeats &&
      context.seen &&
      context.gone + 1 >= GONE_CONFIRMATIONS,
  },
  delays: {
    SESSION_TIMEOUT: ({ context }) => context.sessionTimeoutMs,
    PROBE_INTERVAL: ({ context }) => context.probeIntervalMs,
  },
}).createMachine({
  id: 'brokerSession',
  context: ({ input }) => ({ ...input, reason: 'session-timeout', heartbeats: 0, seen: false, gone: 0 }),
  initial: 'Alive',
  on: { REMOVE: '.Removed' },
  states: {
    Alive: {
      tags: ['live'],
      initial: 'Probing',
      states: {
        Probing: {
          after: {
            PROBE_INTERVAL: {
              target: 'Probing',
              reenter: true,
              actions: {
                type: 'probe',
                params: ({ context }) => ({ brokerId: context.brokerId, heartbeats: context.heartbeats }),
              },
            },
          },
        },
      },
      after: { SESSION_TIMEOUT: { target: 'Expired', actions: assign({ reason: 'session-timeout' }) } },
      on: {
        HEARTBEAT: {
          target: 'Alive',
          reenter: true,
          actions: assign({ heartbeats: ({ context }) => context.heartbeats + 1, gone: 0 }),
        },
        PRESENT: { guard: 'current', actions: assign({ seen: true, gone: 0 }) },
        GONE: [
          { guard: 'confirmsGone', target: 'Expired', actions: assign({ reason: 'gone-from-nats' }) },
          { guard: 'current', actions: assign({ gone: ({ context }) => context.gone + 1 }) },
        ],
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
          actions: [
            assign({ heartbeats: ({ context }) => context.heartbeats + 1, gone: 0 }),
            { type: 'revive', params: ({ context }) => ({ brokerId: context.brokerId }) },
          ],
        },
      },
    },
    Removed: { type: 'final' },
  },
});
