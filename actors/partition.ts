/**
 * One hosted replica of a partition: which role it plays and in which leader epoch. Role changes
 * come from reconciling metadata images; a change with an older leader epoch than the one held
 * is ignored. The broker reads the role from the machine's state (Leader, Follower) and the
 * leader epoch from its context; the data path never sends it events.
 */
import { setup } from 'xstate';

export interface PartitionContext {
  topic: string;
  partition: number;
  leaderEpoch: number;
  leader: number;
}

type RoleEvent = { leaderEpoch: number; leader: number };

const partitionSetup = setup({
  types: {
    context: {} as PartitionContext,
    input: {} as { topic: string; partition: number },
    events: {} as
      | ({ type: 'BECOME_LEADER' } & RoleEvent)
      | ({ type: 'BECOME_FOLLOWER' } & RoleEvent)
      | { type: 'GO_OFFLINE' }
      | { type: 'DIVERGED' }
      | { type: 'TRUNCATED' }
      | { type: 'STOP' },
  },
  actions: {
    becameFollower: (_, _params: { leaderEpoch: number; leader: number }) => undefined,
    wentOffline: () => undefined,
    stopped: () => undefined,
  },
  guards: {
    notStale: ({ context, event }) => 'leaderEpoch' in event && event.leaderEpoch >= context.leaderEpoch,
    newer: ({ context, event }) => 'leaderEpoch' in event && event.leaderEpoch > context.leaderEpoch,
  },
});

const leaderActions = [
  partitionSetup.assign(({ event }) =>
    'leaderEpoch' in event ? { leaderEpoch: event.leaderEpoch, leader: event.leader } : {},
  ),
];
const followerActions = [
  partitionSetup.assign(({ event }) =>
    'leaderEpoch' in event ? { leaderEpoch: event.leaderEpoch, leader: event.leader } : {},
  ),
  partitionSetup.enqueueActions(({ event, enqueue }) => {
    if (event.type === 'BECOME_FOLLOWER')
      enqueue({ type: 'becameFollower', params: { leaderEpoch: event.leaderEpoch, leader: event.leader } });
  }),
];

export const partitionMachine = partitionSetup.createMachine({
  id: 'partition',
  context: ({ input }) => ({ ...input, leaderEpoch: -1, leader: -1 }),
  initial: 'Offline',
  on: {
    BECOME_LEADER: { guard: 'notStale', target: '.Leader', actions: leaderActions },
    BECOME_FOLLOWER: { guard: 'notStale', target: '.Follower', actions: followerActions },
    GO_OFFLINE: { target: '.Offline', actions: [partitionSetup.assign({ leader: -1 }), 'wentOffline'] },
    STOP: { target: '.Stopped', actions: 'stopped' },
  },
  states: {
    Offline: { on: { GO_OFFLINE: {} } },
    // The same role again (every metadata image restates it) changes nothing; a newer epoch re-enters.
    Leader: {
      on: { BECOME_LEADER: [{ guard: 'newer', target: 'Leader', reenter: true, actions: leaderActions }, {}] },
    },
    // A follower fetches; when the leader reports a diverging epoch it truncates, then fetches again.
    Follower: {
      initial: 'Fetching',
      on: { BECOME_FOLLOWER: [{ guard: 'newer', target: 'Follower', reenter: true, actions: followerActions }, {}] },
      states: {
        Fetching: { on: { DIVERGED: 'Truncating' } },
        Truncating: { on: { TRUNCATED: 'Fetching' } },
      },
    },
    Stopped: { type: 'final' },
  },
});
