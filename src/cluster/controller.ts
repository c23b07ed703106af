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
import { controllerElectionMachine, type AcquireResult } from '../../actors/controller-election.js';
import { subjects } from '../../protocol/subjects.js';
import { PresenceProber } from '../transport/presence.js';
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
  private readonly prober: PresenceProber;
  /** The lease holder a candidate last read, and whether it answers presence probes. */
  private holder: { brokerId: number; probed: boolean; readAt: number } | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: ControllerSettings,
    private readonly logger: Logger,
    private readonly onActiveChange: (active: boolean, epoch: number | null) => void = () => undefined,
  ) {
    this.prober = new PresenceProber(nc, settings.cluster);
  }

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
    // `presence`: this holder answers presence probes, so a candidate may take over when it is gone.
    const leaseValue = encoder.encode(JSON.stringify({ brokerId: this.settings.brokerId, presence: true }));
    const machine = controllerElectionMachine.provide({
      actors: {
        acquire: fromPromise(() => this.acquire(leaseKv, leaseValue)),
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
    this.election = createActor(machine, { input: { leaseMs, pollMs: this.settings.brokerProbeIntervalMs } });
    this.done = new Promise((resolve) =>
      this.election!.subscribe({ complete: () => resolve(), error: () => resolve() }),
    );
    this.election.subscribe({
      error: (err) => this.logger.error({ err }, 'controller election failed'),
    });
    this.election.start();
  }

  /**
   * One candidate's turn: create the lease when it is free; when another broker holds it, probe
   * that broker's presence and take the lease over (delete at its revision, then create) once a
   * probe finds its process gone from NATS. The holder last read is kept for a quarter of the
   * lease, so most turns cost one presence probe and no JetStream read.
   */
  private async acquire(leaseKv: KV, leaseValue: Uint8Array): Promise<AcquireResult> {
    const { brokerId, leaseMs, brokerProbeIntervalMs } = this.settings;
    const gone = async (id: number) => (await this.prober.probe(id, 2 * brokerProbeIntervalMs)) === 'gone';
    const known = this.holder;
    if (known && Date.now() - known.readAt < leaseMs / 4 && !(known.probed && (await gone(known.brokerId))))
      return null;
    const entry = await leaseKv.get('controller');
    if (entry && entry.operation === 'PUT') {
      const value = entry.json<{ brokerId: number; presence?: boolean }>();
      const probed = value.presence === true && value.brokerId !== brokerId;
      this.holder = { brokerId: value.brokerId, probed, readAt: Date.now() };
      if (!probed || !(await gone(value.brokerId))) return null;
      this.logger.warn(
        { holder: value.brokerId, revision: entry.revision },
        'the controller lease holder is gone from NATS: taking the lease over',
      );
      await leaseKv.delete('controller', { previousSeq: entry.revision });
    }
    this.holder = null;
    try {
      return { revision: await leaseKv.create('controller', leaseValue) };
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    if (!this.election) return;
    this.election.send({ type: 'STOP' });
    await this.done;
    this.prober.close();
  }

  /** Stops without resigning: the lease runs out by its TTL, as after a crash. */
  async halt(): Promise<void> {
    this.election?.stop();
    this.prober.close();
    const active = this.active;
    this.active = null;
    await active?.stop();
  }
}
