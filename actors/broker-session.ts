/**
 * The controller's view of one broker's liveness (KIP-631): every heartbeat restarts the session,
 * and a broker silent for the whole session timeout is fenced. Between heartbeats the controller
 * probes the broker's presence on NATS every probe interval: a SIGKILLed process has its
 * connection closed by the kernel, so NATS answers "no responders" at once, where a paused or
 * partitioned one still holds its subscription (or times out) and goes by the session timeout.
 * A broker is fenced as gone only after it was seen present in this session, and only by a probe
 * sent after its last heartbeat, so a broker that never answers probes (an older version) or
 * whose answer is stale is not. A heartbeat from a fenced broker brings it back. Fence, probe
 * and revive are injected.
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

interface SessionContext extends SessionInput {
  reason: FenceReason;
  /** Heartbeats received: a probe answer carries the count at its sending, to tell stale ones. */
  heartbeats: number;
  /** Whether a probe has found the broker present since the session started. */
  seen: boolean;
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
    goneSinceSeen: ({ context, event }) =>
      'heartbeats' in event && event.heartbeats === context.heartbeats && context.seen,
  },
  delays: {
    SESSION_TIMEOUT: ({ context }) => context.sessionTimeoutMs,
    PROBE_INTERVAL: ({ context }) => context.probeIntervalMs,
  },
}).createMachine({
  id: 'brokerSession',
  context: ({ input }) => ({ ...input, reason: 'session-timeout', heartbeats: 0, seen: false }),
  initial: 'Alive',
  on: { REMOVE: '.Removed' },
  states: {
    // Two regions: heartbeats restart the session's timer without holding back the probes, which
    // tick on whatever the heartbeat interval is.
    Alive: {
      tags: ['live'],
      type: 'parallel',
      states: {
        Session: {
          initial: 'Waiting',
          states: {
            Waiting: {
              after: {
                SESSION_TIMEOUT: { target: '#brokerSession.Expired', actions: assign({ reason: 'session-timeout' }) },
              },
              on: {
                HEARTBEAT: {
                  target: 'Waiting',
                  reenter: true,
                  actions: assign({ heartbeats: ({ context }) => context.heartbeats + 1 }),
                },
              },
            },
          },
        },
        Presence: {
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
        },
      },
      on: {
        // Any answer shows the process was there; only a current one can show it gone.
        PRESENT: { actions: assign({ seen: true }) },
        GONE: { guard: 'goneSinceSeen', target: 'Expired', actions: assign({ reason: 'gone-from-nats' }) },
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
            assign({ heartbeats: ({ context }) => context.heartbeats + 1 }),
            { type: 'revive', params: ({ context }) => ({ brokerId: context.brokerId }) },
          ],
        },
      },
    },
    Removed: { type: 'final' },
  },
});
