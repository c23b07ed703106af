/**
 * A seeded simulation of the control plane's cores and broker session machines on a simulated
 * clock: random registrations, heartbeats, deaths and returns, controlled shutdowns, topic
 * creations and deletions, reassignments, preferred elections and ISR changes. After every step
 * the invariants of DESIGN.md section 4 are checked. A failure names its seed and step; run
 * `SIM_SEED=<seed> npx vitest run test/unit/cluster/simulation.test.ts` to replay it exactly.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/chaos/fault-proxy.js';
import { allocateProducerIds } from '../../../src/cluster/cluster-control.js';
import { MetadataDelta, emptyImage, type MetadataImage } from '../../../src/cluster/image.js';
import type { PartitionRecord } from '../../../src/cluster/records.js';
import {
  alterPartition,
  alterReassignments,
  createPartitions,
  createTopics,
  deleteTopics,
  electPreferredLeaders,
} from '../../../src/cluster/replication-control.js';
import { PROBE_INTERVAL_MS, SESSION_TIMEOUT_MS, SimControlPlane, canonical } from './sim.js';

const BROKERS = [1, 2, 3, 4, 5];
const STEPS = Number(process.env.SIM_STEPS ?? 400);
const SEEDS = process.env.SIM_SEED ? [Number(process.env.SIM_SEED)] : Array.from({ length: 12 }, (_, i) => 1000 + i);

interface Seen {
  leaderEpoch: number;
  partitionEpoch: number;
  leaders: Map<number, number>;
}

function checkInvariants(sim: SimControlPlane, seen: Map<string, Seen>): void {
  const image = sim.image;
  const out = (b: number): boolean => {
    const rec = image.brokers.get(b);
    return !rec || rec.fenced || rec.shuttingDown;
  };
  for (const t of image.topics.values()) {
    expect(t.partitions.length, `${t.name} partitions`).toBeGreaterThan(0);
    for (const p of t.partitions) {
      const where = `${t.name}-${p.partition} ${JSON.stringify(p)}`;
      expect(p.topicId, where).toBe(t.id);
      expect(p.isr.length, `${where}: ISR empty`).toBeGreaterThan(0);
      expect(
        p.isr.every((r) => p.replicas.includes(r)),
        `${where}: ISR outside replicas`,
      ).toBe(true);
      // A reassignment names the replicas it adds: target replicas the partition did not have.
      if (p.targetReplicas)
        expect(
          (p.addingReplicas ?? []).every((r) => p.targetReplicas!.includes(r) && p.replicas.includes(r)),
          `${where}: adding replicas outside the target`,
        ).toBe(true);
      else expect(p.addingReplicas, `${where}: adding replicas without a reassignment`).toBeUndefined();
      if (p.leader !== -1) {
        expect(p.isr.includes(p.leader), `${where}: leader outside ISR`).toBe(true);
        expect(out(p.leader), `${where}: fenced broker ${p.leader} leads`).toBe(false);
      }
      const key = `${t.id}/${p.partition}`;
      const s = seen.get(key) ?? { leaderEpoch: -1, partitionEpoch: -1, leaders: new Map<number, number>() };
      expect(p.leaderEpoch, `${where}: leader epoch went back`).toBeGreaterThanOrEqual(s.leaderEpoch);
      expect(p.partitionEpoch, `${where}: partition epoch went back`).toBeGreaterThanOrEqual(s.partitionEpoch);
      const earlier = s.leaders.get(p.leaderEpoch);
      if (earlier !== undefined)
        expect(p.leader === earlier || p.leader === -1 || earlier === -1, `${where}: two leaders in one epoch`).toBe(
          true,
        );
      if (p.leader !== -1) s.leaders.set(p.leaderEpoch, p.leader);
      seen.set(key, { ...s, leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch });
      expect(sim.mirror.get(`${t.name}\u0000${p.partition}`), `${where}: the delta's changes missed it`).toBe(p);
    }
  }
  const mirrored = [...image.topics.values()].reduce((n, t) => n + t.partitions.length, 0);
  expect(sim.mirror.size, 'partitions seen through deltas').toBe(mirrored);
}

function replay(sim: SimControlPlane): MetadataImage {
  const delta = new MetadataDelta(emptyImage);
  sim.log.forEach((r, i) => delta.replay(r, i + 1));
  return delta.apply().image;
}

function simulate(seed: number): { steps: number; records: number } {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const sim = new SimControlPlane(rnd);
  const seen = new Map<string, Seen>();
  const down = sim.down;
  let incarnation = 0;
  let step = 0;
  try {
    for (const b of BROKERS.slice(0, 3)) sim.register(b, `i${++incarnation}`);
    for (step = 0; step < STEPS; step++) {
      const names = [...sim.image.topics.keys()];
      const partition = (): { topic: string; p: PartitionRecord } | null => {
        if (!names.length) return null;
        const topic = pick(names);
        return { topic, p: pick(sim.image.topics.get(topic)!.partitions) };
      };
      const r = rnd();
      if (r < 0.3) {
        // Time passes; brokers that are up heartbeat (a caught-up broker is unfenced).
        sim.advance(Math.floor(rnd() * 1500));
        for (const b of BROKERS) if (!down.has(b) && sim.image.brokers.has(b)) sim.heartbeat(b, rnd() < 0.1);
      } else if (r < 0.36) {
        // A broker that was up for a probe dies: the next probe finds it gone from NATS.
        // Nobody heartbeats for a whole session, so the live brokers' sessions run out as well
        // (and come back with their next heartbeat).
        const b = pick(BROKERS);
        sim.advance(PROBE_INTERVAL_MS + 10);
        down.add(b);
        const fencedWithin = PROBE_INTERVAL_MS * 2;
        sim.advance(fencedWithin);
        const rec = sim.image.brokers.get(b);
        expect(!rec || rec.fenced || rec.shuttingDown, `step ${step}: broker ${b} is gone but not fenced`).toBe(true);
        sim.advance(SESSION_TIMEOUT_MS - fencedWithin);
        for (const x of BROKERS) if (!down.has(x) && sim.image.brokers.has(x)) sim.heartbeat(x);
      } else if (r < 0.44) {
        // A broker (re)starts with a new incarnation.
        const b = pick(BROKERS);
        if (sim.register(b, `i${++incarnation}`) !== null) down.delete(b);
      } else if (r < 0.48) {
        const b = pick(BROKERS);
        sim.controlledShutdown(b);
        down.add(b);
      } else if (r < 0.58) {
        sim.run((image) =>
          createTopics(
            image,
            {
              topics: [
                {
                  name: `t${Math.floor(rnd() * 8)}`,
                  numPartitions: 1 + Math.floor(rnd() * 6),
                  replicationFactor: 1 + Math.floor(rnd() * 3),
                  configs: rnd() < 0.2 ? { 'unclean.leader.election.enable': 'true' } : {},
                },
              ],
            },
            { defaultPartitions: 1, defaultReplicationFactor: 1 },
            sim.env,
          ),
        );
      } else if (r < 0.62) {
        if (names.length) sim.run((image) => deleteTopics(image, [pick(names)]));
      } else if (r < 0.65) {
        if (names.length) {
          const name = pick(names);
          const count = sim.image.topics.get(name)!.partitions.length + 1 + Math.floor(rnd() * 3);
          sim.run((image) => createPartitions(image, { topics: [{ name, count }] }, sim.env));
        }
      } else if (r < 0.72) {
        const at = partition();
        if (at) {
          const replicas = BROKERS.filter(() => rnd() < 0.5);
          sim.run((image) =>
            alterReassignments(image, { partitions: [{ topic: at.topic, partition: at.p.partition, replicas }] }),
          );
        }
      } else if (r < 0.75) {
        sim.run((image) => electPreferredLeaders(image, rnd() < 0.5 || !names.length ? [] : [pick(names)]));
      } else if (r < 0.77) {
        const b = pick(BROKERS);
        const rec = sim.image.brokers.get(b);
        if (rec) sim.run((image) => allocateProducerIds(image, { brokerId: b, brokerEpoch: rec.epoch }));
      } else {
        // A leader asks for an ISR change: usually at the current epochs, sometimes stale.
        const at = partition();
        if (at && at.p.leader !== -1) {
          const stale = rnd() < 0.15;
          const newIsr = at.p.replicas.filter((x) => x === at.p.leader || rnd() < 0.6);
          sim.run((image) =>
            alterPartition(image, {
              brokerId: at.p.leader,
              partitions: [
                {
                  topic: at.topic,
                  partition: at.p.partition,
                  leaderEpoch: at.p.leaderEpoch - (stale && rnd() < 0.5 ? 1 : 0),
                  partitionEpoch: at.p.partitionEpoch - (stale ? 1 : 0),
                  newIsr,
                },
              ],
            }),
          );
        }
      }
      checkInvariants(sim, seen);
    }
    expect(canonical(replay(sim)), 'replaying the log rebuilds the live image').toEqual(canonical(sim.image));
    return { steps: step, records: sim.log.length };
  } catch (err) {
    (err as Error).message = `seed ${seed}, step ${step}: ${(err as Error).message}`;
    throw err;
  } finally {
    sim.stop();
  }
}

describe('control plane simulation', () => {
  it.each(SEEDS)('keeps every invariant through random cluster events (seed %i)', (seed) => {
    const { steps, records } = simulate(seed);
    expect(steps).toBe(STEPS);
    expect(records).toBeGreaterThan(STEPS / 4);
  });

  it('replays the same run from the same seed', () => {
    const a = simulate(7);
    const b = simulate(7);
    expect(a).toEqual(b);
  });
});
