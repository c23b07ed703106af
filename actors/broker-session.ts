/**
 * The controller's view of one broker's liveness (KIP-631): every heartbeat restarts the session
 * timer; when it runs out the broker is fenced (its leaderships move), and a heartbeat from a
 * fenced broker brings it back. The fence and revive effects are injected actions.
 */
import { setup } from 'xstate';

export interface SessionContext {
  brokerId: number;
  sessionTimeoutMs: number;
}

export const brokerSessionMachine = setup({
  types: {
    context: {} as SessionContext,
    input: {} as SessionContext,
    events: {} as { type: 'HEARTBEAT' } | { type: 'REMOVE' },
  },
  actions: {
    fence: (_, _params: { brokerId: number }) => undefined,
    revive: (_, _params: { brokerId: number }) => undefined,
  },
  delays: {
    SESSION_TIMEOUT: ({ context }) => context.sessionTimeoutMs,
  },
}).createMachine({
  id: 'brokerSession',
  context: ({ input }) => input,
  initial: 'Alive',
  on: { REMOVE: '.Removed' },
  states: {
    Alive: {
      after: { SESSION_TIMEOUT: 'Expired' },
      on: { HEARTBEAT: { target: 'Alive', reenter: true } },
    },
    Expired: {
      entry: { type: 'fence', params: ({ context }) => ({ brokerId: context.brokerId }) },
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
