/**
 * The controller runtime. Every broker runs a ControllerService; the one whose election actor
 * holds the lease runs an ActiveController (active-controller.ts), the only writer of the
 * metadata log. Its writes carry the expected last stream sequence, so a deposed (zombie)
 * controller's next write is refused and it steps down.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { createActor, fromPromise, type Actor } from 'xstate';
import { controllerElectionMachine } from '../../actors/controller-election.js';
import { subjects } from '../../protocol/subjects.js';
import { ActiveController, type ControllerSettings } from './active-controller.js';
import { openLeaseBucket, openMetadataBucket } from './buckets.js';
import { MetadataLoader } from './metadata-loader.js';
import { MetadataWriter } from './metadata-writer.js';

export type { ControllerSettings };

const encoder = new TextEncoder();

/**
 * Runs the controller election for one broker and, while it holds the lease, the active
 * controller. Uses its own NATS connection: with noEcho, the broker's requests to the
 * controller must come from another connection to be delivered.
 */
export class ControllerService {
  private active: ActiveController | null = null;
  private election: Actor<typeof controllerElectionMachine> | null = null;
  private leaseKv: KV | null = null;
  private metaKv: KV | null = null;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: ControllerSettings,
    private readonly logger: Logger,
    private readonly onActiveChange: (active: boolean, epoch: number | null) => void = () => undefined,
  ) {}

  get isActive(): boolean {
    return this.active !== null;
  }

  get epoch(): number | null {
    return this.active?.epoch ?? null;
  }

  async start(): Promise<void> {
    const { cluster, leaseMs, metadataReplicas } = this.settings;
    const retrying = (err: unknown) =>
      this.logger.warn({ err: String(err) }, 'JetStream cannot take the controller buckets yet; retrying');
    this.leaseKv = await openLeaseBucket(this.nc, cluster, leaseMs, metadataReplicas, retrying);
    this.metaKv = await openMetadataBucket(this.nc, cluster, metadataReplicas, retrying);
    const leaseKv = this.leaseKv;
    const metaKv = this.metaKv;
    const js = jetstream(this.nc);
    const jsm = await jetstreamManager(this.nc);
    const leaseValue = encoder.encode(JSON.stringify({ brokerId: this.settings.brokerId }));
    const machine = controllerElectionMachine.provide({
      actors: {
        acquire: fromPromise(async () => {
          try {
            return { revision: await leaseKv.create('controller', leaseValue) };
          } catch {
            return null;
          }
        }),
        activate: fromPromise(async ({ input }: { input: { epoch: number } }) => {
          const loader = new MetadataLoader(metaKv, this.logger, () => undefined);
          await loader.start();
          const info = await jsm.streams.info(`KV_${subjects.metaBucket(cluster)}`);
          const writer = new MetadataWriter(js, subjects.metaBucket(cluster), info.state.last_seq);
          await loader.waitFor(info.state.last_seq);
          const active = new ActiveController(
            this.nc,
            this.settings,
            loader,
            writer,
            input.epoch,
            this.logger.child({ role: 'controller' }),
            () => this.election?.send({ type: 'FENCED' }),
          );
          try {
            await active.start();
          } catch (err) {
            await active.stop();
            throw err;
          }
          this.active = active;
          this.onActiveChange(true, input.epoch);
        }),
        renew: fromPromise(({ input }: { input: { revision: number } }) =>
          leaseKv.update('controller', leaseValue, input.revision),
        ),
        resign: fromPromise(async ({ input }: { input: { epoch: number | null } }) => {
          const active = this.active;
          this.active = null;
          if (active) {
            this.onActiveChange(false, null);
            await active.stop();
            this.logger.info({ epoch: input.epoch }, 'controller resigned');
          }
          // Hand the lease over at once when it is still ours (a clean stop), not after its TTL.
          const snapshot = this.election?.getSnapshot();
          const revision = snapshot?.context.revision;
          if (revision != null && snapshot?.matches('Stopping')) {
            await leaseKv.delete('controller', { previousSeq: revision }).catch(() => undefined);
          }
        }),
      },
    });
    this.election = createActor(machine, { input: { leaseMs } });
    this.done = new Promise((resolve) =>
      this.election!.subscribe({ complete: () => resolve(), error: () => resolve() }),
    );
    this.election.subscribe({
      error: (err) => this.logger.error({ err }, 'controller election failed'),
    });
    this.election.start();
  }

  async stop(): Promise<void> {
    if (!this.election) return;
    this.election.send({ type: 'STOP' });
    await this.done;
  }

  /** Stops without resigning: the lease runs out by its TTL, as after a crash. */
  async halt(): Promise<void> {
    this.election?.stop();
    const active = this.active;
    this.active = null;
    await active?.stop();
  }
}
