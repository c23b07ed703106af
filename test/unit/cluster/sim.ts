/**
 * A control plane without NATS for unit tests: the pure cores, broker session machines on a
 * simulated clock, and a metadata log kept as an array of records. Each write is published
 * through a MetadataDelta, as the brokers' loaders do, and its changes are checked against the
 * image they produce.
 */
import { SimulatedClock, createActor, type Actor } from 'xstate';
import { brokerSessionMachine } from '../../../actors/broker-session.js';
import { MillraceError } from '../../../protocol/errors.js';
import { brokerHeartbeat, fenceBroker, registerBroker } from '../../../src/cluster/cluster-control.js';
import { MetadataDelta, emptyImage, type ImageChanges, type MetadataImage } from '../../../src/cluster/image.js';
import type { MetadataRecord, PartitionRecord } from '../../../src/cluster/records.js';
import type { ControlEnv, ControlResult } from '../../../src/cluster/replication-control.js';

export const SESSION_TIMEOUT_MS = 2_500;
export const PROBE_INTERVAL_MS = 100;

export class SimControlPlane {
  readonly clock = new SimulatedClock();
  readonly log: MetadataRecord[] = [];
  image: MetadataImage = emptyImage;
  /** Partitions as a broker sees them by applying only what each delta says changed. */
  readonly mirror = new Map<string, PartitionRecord>();
  private readonly sessions = new Map<number, Actor<typeof brokerSessionMachine>>();
  /** Brokers whose process is down: heartbeating stopped and a probe finds no subscription. */
  readonly down = new Set<number>();
  private nextTopicId = 0;

  /** Topic ids and replica placement from the seeded generator, so a seed replays exactly. */
  readonly env: ControlEnv;

  constructor(random: () => number) {
    this.env = { newTopicId: () => `topic-id-${++this.nextTopicId}`, random: (bound) => Math.floor(random() * bound) };
  }

  /** Runs a core; its records are written and published. Refusals (MillraceError) return null. */
  run<R>(decide: (image: MetadataImage) => ControlResult<R>): R | null {
    let result: ControlResult<R>;
    try {
      result = decide(this.image);
    } catch (err) {
      if (err instanceof MillraceError) return null;
      throw err;
    }
    this.write(result.records);
    return result.response;
  }

  private write(records: readonly MetadataRecord[]): void {
    if (records.length === 0) return;
    const delta = new MetadataDelta(this.image);
    for (const r of records) {
      this.log.push(r);
      delta.replay(r, this.log.length);
    }
    const { image, changes } = delta.apply();
    this.image = image;
    this.applyToMirror(changes);
  }

  private applyToMirror(changes: ImageChanges): void {
    for (const name of changes.deletedTopics.keys())
      for (const key of [...this.mirror.keys()]) if (key.startsWith(`${name}\u0000`)) this.mirror.delete(key);
    for (const [name, ps] of changes.partitions) {
      const t = this.image.topics.get(name)!;
      for (const p of ps) this.mirror.set(`${name}\u0000${p}`, t.partitions[p]!);
    }
  }

  /**
   * Lets time pass in steps: SimulatedClock runs a timer set while it advances (the next probe,
   * a probe's answer) from the end of the jump, so one long jump would skip it.
   */
  advance(ms: number): void {
    for (let t = 0; t < ms; t += 10) this.clock.increment(Math.min(10, ms - t));
  }

  get nextSeq(): number {
    return this.log.length + 1;
  }

  register(brokerId: number, incarnationId: string): number | null {
    const res = this.run((image) =>
      registerBroker(image, { brokerId, incarnationId, rack: '' }, this.nextSeq, (id) => this.alive(id)),
    );
    if (res) this.startSession(brokerId);
    return res ? Number(res.brokerEpoch) : null;
  }

  heartbeat(brokerId: number, wantFence = false): void {
    const rec = this.image.brokers.get(brokerId);
    if (!rec) return;
    this.sessions.get(brokerId)?.send({ type: 'HEARTBEAT' });
    this.run((image) =>
      brokerHeartbeat(image, {
        brokerId,
        brokerEpoch: rec.epoch,
        currentMetadataOffset: this.log.length,
        wantFence,
        wantShutdown: false,
      }),
    );
  }

  controlledShutdown(brokerId: number): void {
    const rec = this.image.brokers.get(brokerId);
    if (!rec) return;
    this.sessions.get(brokerId)?.stop();
    this.sessions.delete(brokerId);
    this.run((image) =>
      brokerHeartbeat(image, {
        brokerId,
        brokerEpoch: rec.epoch,
        currentMetadataOffset: this.log.length,
        wantFence: false,
        wantShutdown: true,
      }),
    );
  }

  alive(brokerId: number): boolean {
    return this.sessions.get(brokerId)?.getSnapshot().hasTag('live') ?? false;
  }

  private startSession(brokerId: number): void {
    this.sessions.get(brokerId)?.stop();
    const actor: Actor<typeof brokerSessionMachine> = createActor(
      brokerSessionMachine.provide({
        actions: {
          fence: (_, { brokerId: id }) => void this.run((image) => fenceBroker(image, id, false)),
          // A probe's answer comes back a millisecond later: no subscription for a broker that is down.
          probe: (_, { brokerId: id, heartbeats }) =>
            void this.clock.setTimeout(() => {
              if (this.sessions.get(id) === actor)
                actor.send({ type: this.down.has(id) ? 'GONE' : 'PRESENT', heartbeats });
            }, 1),
        },
      }),
      {
        input: { brokerId, sessionTimeoutMs: SESSION_TIMEOUT_MS, probeIntervalMs: PROBE_INTERVAL_MS },
        clock: this.clock,
      },
    );
    this.sessions.set(brokerId, actor);
    actor.start();
  }

  stop(): void {
    for (const s of this.sessions.values()) s.stop();
  }
}

/** The image as data, for comparing two images. */
export function canonical(image: MetadataImage): unknown {
  return {
    controller: image.controller,
    producerIds: image.producerIds,
    brokers: [...image.brokers.entries()].sort(([a], [b]) => a - b),
    topics: [...image.topics.values()]
      .map((t) => ({ name: t.name, id: t.id, configs: t.configs, partitions: t.partitions }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}
