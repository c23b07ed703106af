/**
 * A broker's lifecycle, as Kafka's BrokerLifecycleManager: Starting (registering with the
 * controller) -> Recovery (loading logs fenced, then waiting to be unfenced) -> Running ->
 * PendingControlledShutdown (leaderships moved away) -> ShuttingDown -> Stopped.
 * Heartbeats run in a parallel region from Recovery until ShuttingDown.
 */
import { and, assign, fromPromise, or, raise, setup, stateIn } from 'xstate';

export interface HeartbeatResult {
  isFenced: boolean;
  shouldShutdown: boolean;
  /** The controller no longer knows this registration: register again. */
  reregister: boolean;
}

/** A recovering broker asks to stay fenced; one shutting down asks for a controlled shutdown. */
export interface HeartbeatInput {
  brokerEpoch: number;
  wantFence: boolean;
  wantShutdown: boolean;
}

export interface LifecycleContext {
  heartbeatIntervalMs: number;
  controlledShutdownTimeoutMs: number;
  brokerEpoch: number | null;
  fenced: boolean;
}

const notProvided = (name: string) =>
  fromPromise<never, unknown>(() => Promise.reject(new Error(`actor ${name} not provided`)));

export const brokerLifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    input: {} as { heartbeatIntervalMs: number; controlledShutdownTimeoutMs: number },
    events: {} as
      | { type: 'SHUTDOWN' }
      | { type: 'SHUTDOWN_GRANTED' }
      | { type: 'REREGISTER' }
      | { type: 'UNFENCED' }
      | { type: 'STOPPED' },
  },
  actors: {
    register: notProvided('register') as unknown as ReturnType<typeof fromPromise<number, void>>,
    recover: notProvided('recover') as unknown as ReturnType<typeof fromPromise<void, void>>,
    heartbeat: notProvided('heartbeat') as unknown as ReturnType<typeof fromPromise<HeartbeatResult, HeartbeatInput>>,
    shutdown: notProvided('shutdown') as unknown as ReturnType<typeof fromPromise<void, void>>,
  },
  guards: {
    registeredAndAlive: and([
      ({ context }) => context.brokerEpoch !== null,
      or([
        stateIn({ Lifecycle: 'Recovery' }),
        stateIn({ Lifecycle: 'Running' }),
        stateIn({ Lifecycle: 'PendingControlledShutdown' }),
      ]),
    ]),
  },
  delays: {
    HEARTBEAT_INTERVAL: ({ context }) => context.heartbeatIntervalMs,
    REGISTRATION_RETRY: ({ context }) => context.heartbeatIntervalMs,
    CONTROLLED_SHUTDOWN_TIMEOUT: ({ context }) => context.controlledShutdownTimeoutMs,
  },
}).createMachine({
  id: 'brokerLifecycle',
  type: 'parallel',
  context: ({ input }) => ({ ...input, brokerEpoch: null, fenced: true }),
  states: {
    Lifecycle: {
      initial: 'Starting',
      states: {
        Starting: {
          initial: 'Registering',
          on: { SHUTDOWN: 'ShuttingDown' },
          states: {
            Registering: {
              invoke: {
                src: 'register',
                onDone: {
                  target: '#brokerLifecycle.Lifecycle.Recovery',
                  actions: assign({ brokerEpoch: ({ event }) => event.output }),
                },
                onError: 'Backoff',
              },
            },
            Backoff: { after: { REGISTRATION_RETRY: 'Registering' } },
          },
        },
        Recovery: {
          initial: 'Loading',
          on: { SHUTDOWN: 'ShuttingDown', REREGISTER: 'Starting' },
          states: {
            // Heartbeats ask to stay fenced while logs load.
            Loading: {
              invoke: { src: 'recover', onDone: 'CatchingUp', onError: '#brokerLifecycle.Lifecycle.ShuttingDown' },
            },
            // Running begins when the controller unfences the broker.
            CatchingUp: { on: { UNFENCED: '#brokerLifecycle.Lifecycle.Running' } },
          },
        },
        Running: {
          on: { SHUTDOWN: 'PendingControlledShutdown', REREGISTER: 'Starting' },
        },
        PendingControlledShutdown: {
          after: { CONTROLLED_SHUTDOWN_TIMEOUT: 'ShuttingDown' },
          on: { SHUTDOWN_GRANTED: 'ShuttingDown', SHUTDOWN: {} },
        },
        ShuttingDown: {
          invoke: { src: 'shutdown', onDone: 'Stopped', onError: 'Stopped' },
          on: { SHUTDOWN: {} },
        },
        Stopped: { type: 'final', entry: raise({ type: 'STOPPED' }) },
      },
    },
    Heartbeat: {
      initial: 'Idle',
      on: { STOPPED: '.Off' },
      states: {
        Off: { type: 'final' },
        Idle: {
          after: {
            HEARTBEAT_INTERVAL: [
              {
                guard: 'registeredAndAlive',
                target: 'Sending',
              },
              { target: 'Idle', reenter: true },
            ],
          },
        },
        Sending: {
          invoke: {
            src: 'heartbeat',
            input: ({ context, self }) => ({
              brokerEpoch: context.brokerEpoch!,
              wantFence: self.getSnapshot().matches({ Lifecycle: { Recovery: 'Loading' } }),
              wantShutdown: self.getSnapshot().matches({ Lifecycle: 'PendingControlledShutdown' }),
            }),
            onDone: {
              target: 'Idle',
              actions: [
                assign({ fenced: ({ event }) => event.output.isFenced }),
                ({ event, self }) => {
                  if (event.output.reregister) self.send({ type: 'REREGISTER' });
                  else if (event.output.shouldShutdown) self.send({ type: 'SHUTDOWN_GRANTED' });
                  else if (!event.output.isFenced) self.send({ type: 'UNFENCED' });
                },
              ],
            },
            onError: 'Idle',
          },
        },
      },
    },
  },
});
