/**
 * A Millrace cluster for chaos runs: N brokers as child processes over a NATS cluster of 1 or 3
 * nats-server nodes (metadata buckets with 3 replicas on 3 nodes), each broker's NATS connection
 * through its own fault proxy, so a broker can be cut off NATS and healed. Used by the chaos tests
 * and by `millrace chaos run`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { subjects } from '../../protocol/subjects.js';
import { Millrace } from '../client/index.js';
import { connectNats } from '../transport/connection.js';
import { freePort } from '../transport/free-port.js';
import { startNatsServer, type NatsServerHandle } from '../transport/nats-server.js';
import { spawnBroker, type BrokerProcess } from './broker-process.js';
import { FaultProxy } from './fault-proxy.js';

export interface ChaosClusterOptions {
  brokers: number;
  natsNodes: 1 | 3;
  /** Everything (NATS stores, broker data) lives under it. */
  dir: string;
  cluster: string;
  seed: number;
  /** Broker settings (the JSON config file every broker reads). */
  brokerConfig?: Record<string, unknown>;
  /** Gives every broker a Kafka listener on a loopback port of its own, kept across its restarts. */
  kafkaListeners?: boolean;
}

interface NatsNode {
  name: string;
  port: number;
  clusterPort: number;
  storeDir: string;
  handle: NatsServerHandle | null;
}

export class ChaosCluster {
  readonly nodes: NatsNode[] = [];
  readonly proxies = new Map<number, FaultProxy>();
  readonly brokers = new Map<number, BrokerProcess | null>();
  private readonly paused = new Set<number>();
  private admin: Millrace | null = null;
  private readonly configFile: string;
  /** Each broker's Kafka listener port, the same across its restarts (clients keep their bootstrap list). */
  private readonly kafkaPorts = new Map<number, number>();

  private constructor(readonly options: ChaosClusterOptions) {
    this.configFile = path.join(options.dir, 'broker.json');
  }

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const c = new ChaosCluster(options);
    try {
      await c.startAll();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** The NATS servers, direct (for workload clients: faults target brokers and nodes, not them). */
  get natsUrls(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  }

  /** Each broker's Kafka listener (host:port), when the cluster has them. */
  get kafkaBootstrap(): string[] {
    return [...this.kafkaPorts.values()].map((port) => `127.0.0.1:${port}`);
  }

  get brokerIds(): number[] {
    return [...this.brokers.keys()];
  }

  private async startAll(): Promise<void> {
    const { options } = this;
    fs.mkdirSync(options.dir, { recursive: true });
    fs.writeFileSync(
      this.configFile,
      JSON.stringify({ metadataReplicas: options.natsNodes === 3 ? 3 : 1, ...options.brokerConfig }),
    );
    const clusterPorts = await Promise.all(Array.from({ length: options.natsNodes }, freePort));
    for (let i = 0; i < options.natsNodes; i++) {
      const storeDir = path.join(options.dir, `nats-${i}`);
      this.nodes.push({ name: `n${i}`, port: 0, clusterPort: clusterPorts[i]!, storeDir, handle: null });
    }
    await Promise.all(this.nodes.map((_, i) => this.startNats(i)));
    await this.waitForJetStream();
    for (let id = 1; id <= options.brokers; id++) {
      const proxy = await FaultProxy.start({
        targets: this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
        seed: options.seed + id,
      });
      this.proxies.set(id, proxy);
    }
    if (options.kafkaListeners) for (let id = 1; id <= options.brokers; id++) this.kafkaPorts.set(id, await freePort());
    for (let id = 1; id <= options.brokers; id++) await this.startBroker(id);
    this.admin = new Millrace({ servers: this.natsUrls, cluster: options.cluster, requestTimeoutMs: 5_000 });
  }

  /** Starts (or restarts, on its old client port) one NATS node. */
  async startNats(i: number): Promise<void> {
    const node = this.nodes[i]!;
    node.handle = await startNatsServer({
      storeDir: node.storeDir,
      ...(node.port ? { port: node.port } : {}),
      ...(this.nodes.length > 1
        ? {
            cluster: {
              name: `${this.options.cluster}-nats`,
              serverName: node.name,
              port: node.clusterPort,
              routes: this.nodes.map((n) => n.clusterPort),
            },
          }
        : {}),
    });
    node.port = node.handle.port;
  }

  /** Waits until JetStream answers (a cluster first elects its metadata leader). */
  private async waitForJetStream(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const nc = await connectNats({ servers: this.natsUrls, name: 'millrace-chaos-probe' });
    try {
      for (;;) {
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await nc.close();
    }
  }

  async startBroker(id: number): Promise<void> {
    const proxy = this.proxies.get(id)!;
    this.brokers.set(
      id,
      await spawnBroker(id, proxy.url, this.options.cluster, path.join(this.options.dir, `broker-${id}`), {}, [
        '--config',
        this.configFile,
        ...(this.kafkaPorts.has(id) ? ['--kafka-listener', `127.0.0.1:${this.kafkaPorts.get(id)}`] : []),
      ]),
    );
  }

  private process(id: number): BrokerProcess {
    const b = this.brokers.get(id);
    if (!b) throw new Error(`broker ${id} is not running`);
    return b;
  }

  async killBroker(id: number): Promise<void> {
    const b = this.process(id);
    if (this.paused.delete(id)) b.child.kill('SIGCONT');
    b.child.kill('SIGKILL');
    await b.exited;
    this.brokers.set(id, null);
  }

  /** A clean stop (SIGTERM: controlled shutdown), then a start. */
  async restartBroker(id: number, clean = true): Promise<void> {
    if (clean) {
      const b = this.process(id);
      b.child.kill('SIGTERM');
      await b.exited;
      this.brokers.set(id, null);
    } else await this.killBroker(id);
    await this.startBroker(id);
  }

  pauseBroker(id: number): void {
    this.process(id).child.kill('SIGSTOP');
    this.paused.add(id);
  }

  resumeBroker(id: number): void {
    if (this.paused.delete(id)) this.process(id).child.kill('SIGCONT');
  }

  /** Cuts a broker off NATS (its proxy drops and refuses connections) until healed. */
  partitionBroker(id: number): void {
    this.proxies.get(id)!.partition();
  }

  healBroker(id: number): void {
    this.proxies.get(id)!.heal();
  }

  async killNats(i: number): Promise<void> {
    const node = this.nodes[i]!;
    await node.handle?.stop('SIGKILL');
    node.handle = null;
  }

  async restartNats(i: number): Promise<void> {
    if (this.nodes[i]!.handle) await this.killNats(i);
    await this.startNats(i);
  }

  /** Every broker in turn: clean stop, start, wait until it runs. */
  async rollingRestart(): Promise<void> {
    for (const id of this.brokerIds) await this.restartBroker(id, true);
  }

  /** Every broker SIGKILLed, then all started again. */
  async restartAll(): Promise<void> {
    for (const id of this.brokerIds) if (this.brokers.get(id)) await this.killBroker(id);
    for (const id of this.brokerIds) await this.startBroker(id);
  }

  private get client(): Millrace {
    if (!this.admin) throw new Error('the cluster is not started');
    return this.admin;
  }

  async controller(): Promise<number> {
    return (await this.client.admin().describeCluster()).controllerId;
  }

  async leaderOf(topic: string, partition: number): Promise<number> {
    const [t] = await this.client.admin().describeTopics([topic]);
    return t?.partitions.find((p) => p.partition === partition)?.leader ?? -1;
  }

  /**
   * Whether every NATS node runs and the cluster's metadata streams have a leader with every
   * replica current: a NATS fault is healed only then (two in a row could leave a stream without
   * a quorum, which is two faults at once).
   */
  async natsHealthy(): Promise<boolean> {
    if (this.nodes.some((n) => !n.handle)) return false;
    const nc = await connectNats({ servers: this.natsUrls, name: 'millrace-chaos-health' });
    try {
      const jsm = await jetstreamManager(nc);
      for (const bucket of [subjects.metaBucket(this.options.cluster), subjects.leaseBucket(this.options.cluster)]) {
        const info = await jsm.streams.info(`KV_${bucket}`);
        if (this.nodes.length > 1) {
          const c = info.cluster;
          if (!c?.leader || (c.replicas ?? []).some((r) => !r.current || r.offline)) return false;
        }
      }
      return true;
    } catch {
      return false;
    } finally {
      await nc.close();
    }
  }

  /** Brokers registered and not fenced, as the metadata says. */
  async liveBrokers(): Promise<number> {
    return (await this.client.admin().describeCluster()).brokers.filter((b) => !b.fenced).length;
  }

  /** Brokers not killed (paused ones included). */
  running(): number[] {
    return this.brokerIds.filter((id) => this.brokers.get(id));
  }

  async stop(): Promise<void> {
    await this.admin?.close().catch(() => undefined);
    for (const [id, b] of this.brokers) {
      if (!b) continue;
      if (this.paused.has(id)) b.child.kill('SIGCONT');
      b.child.kill('SIGKILL');
      await b.exited;
    }
    for (const p of this.proxies.values()) await p.close();
    for (const n of this.nodes) await n.handle?.stop('SIGKILL');
  }
}
