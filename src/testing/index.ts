/**
 * `millrace/testing`: Millrace in containers for a Node team's own tests (testcontainers).
 *
 *   const millrace = await new MillraceContainer().start();
 *   const client = new Millrace(millrace.connectionOptions());
 *   // Kafka clients: new Kafka({ brokers: millrace.bootstrapServers })
 *
 * `MillraceClusterContainer` starts three brokers. Images default to `millrace:<version>` and
 * `millrace-nats:<version>` (`npm run image` builds both).
 */
import {
  GenericContainer,
  getContainerRuntimeClient,
  Network,
  Wait,
  type StartedNetwork,
  type StartedTestContainer,
} from 'testcontainers';
import type { MillraceOptions } from '../client/types.js';
import { VERSION } from '../version.js';
import { KAFKA_PORT, METRICS_PORT, MillraceBrokerContainer } from './broker-container.js';

export { KAFKA_PORT, METRICS_PORT, MillraceBrokerContainer } from './broker-container.js';

const NATS_PORT = 4222;

export interface StartedMillraceBroker {
  readonly id: number;
  readonly container: StartedTestContainer;
  /** host:port of its Kafka listener, as clients on this host reach it. */
  readonly kafkaAddress: string;
  /** Its Prometheus endpoint; /ready and /health are beside it. */
  readonly metricsUrl: string;
}

export class MillraceContainer {
  private natsImage = `millrace-nats:${VERSION}`;
  private cluster = 'millrace';
  private environment: Record<string, string> = {};

  constructor(
    private readonly image = `millrace:${VERSION}`,
    protected brokerCount = 1,
  ) {}

  withNatsImage(image: string): this {
    this.natsImage = image;
    return this;
  }

  withCluster(name: string): this {
    this.cluster = name;
    return this;
  }

  /** Broker settings as MILLRACE_* variables (MILLRACE_MIN_INSYNC_REPLICAS: '2', ...). */
  withBrokerEnvironment(environment: Record<string, string>): this {
    this.environment = { ...this.environment, ...environment };
    return this;
  }

  async start(): Promise<StartedMillraceContainer> {
    const network = await new Network().start();
    const started: StartedTestContainer[] = [];
    try {
      const nats = await new GenericContainer(this.natsImage)
        .withNetwork(network)
        .withNetworkAliases('nats')
        .withExposedPorts(NATS_PORT)
        .withCommand(['--jetstream', '--store_dir', '/data', '--port', String(NATS_PORT)])
        .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
        .withStartupTimeout(30_000)
        .start();
      started.push(nats);
      const ids = Array.from({ length: this.brokerCount }, (_, i) => i + 1);
      const brokers = await Promise.all(
        ids.map(async (id) => {
          const container = await new MillraceBrokerContainer(
            this.image,
            id,
            network,
            `nats://nats:${NATS_PORT}`,
            this.cluster,
          )
            .withEnvironment(this.environment)
            .start();
          started.push(container);
          return broker(id, container);
        }),
      );
      return new StartedMillraceContainer(network, nats, brokers, this.cluster);
    } catch (err) {
      await Promise.allSettled(started.map((c) => c.stop()));
      await network.stop().catch(() => undefined);
      throw err;
    }
  }
}

/** Three brokers on one NATS server; topics default to three replicas and min.insync.replicas 2. */
export class MillraceClusterContainer extends MillraceContainer {
  constructor(image?: string, brokerCount = 3) {
    super(image, brokerCount);
    this.withBrokerEnvironment({
      MILLRACE_DEFAULT_REPLICATION_FACTOR: String(Math.min(3, brokerCount)),
      MILLRACE_MIN_INSYNC_REPLICAS: String(Math.min(2, brokerCount)),
    });
  }
}

function broker(id: number, container: StartedTestContainer): StartedMillraceBroker {
  const host = container.getHost();
  return {
    id,
    container,
    kafkaAddress: `${host}:${container.getMappedPort(KAFKA_PORT)}`,
    metricsUrl: `http://${host}:${container.getMappedPort(METRICS_PORT)}/metrics`,
  };
}

export class StartedMillraceContainer {
  constructor(
    private readonly network: StartedNetwork,
    readonly nats: StartedTestContainer,
    readonly brokers: readonly StartedMillraceBroker[],
    readonly cluster: string,
  ) {}

  /** The NATS URL on its mapped port. */
  get natsUrl(): string {
    return `nats://${this.nats.getHost()}:${this.nats.getMappedPort(NATS_PORT)}`;
  }

  /** Options for the SDK: `new Millrace(started.connectionOptions())`. */
  connectionOptions(clientId?: string): MillraceOptions {
    return { servers: [this.natsUrl], cluster: this.cluster, ...(clientId ? { clientId } : {}) };
  }

  /** host:port of every broker's Kafka listener, for kafkajs `brokers` or librdkafka `bootstrap.servers`. */
  get bootstrapServers(): string[] {
    return this.brokers.map((b) => b.kafkaAddress);
  }

  /** SIGKILLs a broker's process (a crash, not a clean shutdown); `stop()` still removes it. */
  async killBroker(id: number): Promise<void> {
    const broker = this.brokers.find((b) => b.id === id);
    if (!broker) throw new Error(`no broker ${id}: brokers are ${this.brokers.map((b) => b.id).join(', ')}`);
    const client = await getContainerRuntimeClient();
    await client.container.getById(broker.container.getId()).kill({ signal: 'SIGKILL' });
  }

  /** Stops every container and removes the network. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.brokers.map((b) => b.container.stop()));
    await this.nats.stop();
    await this.network.stop();
  }
}
