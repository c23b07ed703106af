/**
 * One hosted replica of a partition: which role it plays and in which leader epoch. Role changes
 * come from reconciling metadata images; a change with an older leader epoch than the one held
 * is ignored. The data path reads the role from the actor's context, never sends it events.
 */
import { assign, setup } from 'xstate';

export interface PartitionContext {
  topic: string;
  partition: number;
  leaderEpoch: number;
  leader: number;
}

type RoleEvent = { leaderEpoch: number; leader: number };

export const partitionMachine = setup({
  types: {
    context: {} as PartitionContext,
    input: {} as { topic: string; partition: number },
    events: {} as
      | ({ type: 'BECOME_LEADER' } & RoleEvent)
      | ({ type: 'BECOME_FOLLOWER' } & RoleEvent)
      | { type: 'GO_OFFLINE' }
      | { type: 'STOP' },
  },
  actions: {
    becameLeader: (_, _params: { leaderEpoch: number }) => undefined,
    becameFollower: (_, _params: { leaderEpoch: number; leader: number }) => undefined,
    stopped: () => undefined,
  },
  guards: {
    notStale: ({ context, event }) => 'leaderEpoch' in event && event.leaderEpoch >= context.leaderEpoch,
  },
}).createMachine({
  id: 'partition',
  context: ({ input }) => ({ ...input, leaderEpoch: -1, leader: -1 }),
  initial: 'Offline',
  on: {
    BECOME_LEADER: {
      guard: 'notStale',
      target: '.Leader',
      actions: [
        assign(({ event }) => ({ leaderEpoch: event.leaderEpoch, leader: event.leader })),
        { type: 'becameLeader', params: ({ event }) => ({ leaderEpoch: event.leaderEpoch }) },
      ],
    },
    BECOME_FOLLOWER: {
      guard: 'notStale',
      target: '.Follower',
      actions: [
        assign(({ event }) => ({ leaderEpoch: event.leaderEpoch, leader: event.leader })),
        { type: 'becameFollower', params: ({ event }) => ({ leaderEpoch: event.leaderEpoch, leader: event.leader }) },
      ],
    },
    GO_OFFLINE: { target: '.Offline', actions: assign({ leader: -1 }) },
    STOP: { target: '.Stopped', actions: 'stopped' },
  },
  states: {
    Offline: {},
    Leader: {},
    Follower: {},
    Stopped: { type: 'final' },
  },
});
