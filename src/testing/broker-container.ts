/**
 * One Millrace broker in a container. As the Kafka and Redpanda modules do, the broker starts
 * only once its Kafka port's mapping on the host is known: the entrypoint waits for a file that
 * `containerStarting` writes with that address, so Kafka clients on the host are told an address
 * they can reach.
 */
import {
  BoundPorts,
  GenericContainer,
  getContainerRuntimeClient,
  Wait,
  type InspectResult,
  type StartedNetwork,
} from 'testcontainers';

export const KAFKA_PORT = 9092;
export const METRICS_PORT = 9100;
const ADVERTISED_FILE = '/tmp/millrace-advertised-listener';
const CLI = '/opt/millrace/dist/src/cli/main.js';

/** Node as the image's shell (the locally made base has none): wait for the file, then run the CLI. */
const WAIT_THEN_START = `
const fs = require('node:fs');
const poll = () => {
  // The file appears whole (written aside, then renamed): it is there or it is not.
  if (!fs.existsSync(${JSON.stringify(ADVERTISED_FILE)})) return setTimeout(poll, 25);
  process.env.MILLRACE_KAFKA_ADVERTISED_LISTENER = fs.readFileSync(${JSON.stringify(ADVERTISED_FILE)}, 'utf8').trim();
  process.argv = [process.argv[0], ${JSON.stringify(CLI)}, 'broker'];
  import(${JSON.stringify(CLI)});
};
poll();`;

export class MillraceBrokerContainer extends GenericContainer {
  private containerId = '';

  constructor(image: string, id: number, network: StartedNetwork, natsUrl: string, cluster: string) {
    super(image);
    this.withNetwork(network)
      .withNetworkAliases(`broker-${id}`)
      .withExposedPorts(KAFKA_PORT, METRICS_PORT)
      .withEnvironment({ MILLRACE_BROKER_ID: String(id), MILLRACE_NATS: natsUrl, MILLRACE_CLUSTER: cluster })
      .withEntrypoint(['node'])
      .withCommand(['-e', WAIT_THEN_START])
      .withWaitStrategy(Wait.forHttp('/ready', METRICS_PORT).forStatusCode(200))
      .withStartupTimeout(60_000);
  }

  protected override async containerCreated(containerId: string): Promise<void> {
    this.containerId = containerId;
  }

  protected override async containerStarting(inspectResult: InspectResult): Promise<void> {
    const client = await getContainerRuntimeClient();
    const port = BoundPorts.fromInspectResult(client.info.containerRuntime.hostIps, inspectResult).getBinding(
      KAFKA_PORT,
    );
    const advertised = `${client.info.containerRuntime.host}:${port}`;
    // Written aside and renamed: the waiting broker must never read the file half written (it
    // read it empty once, and advertised its container hostname).
    const aside = `${ADVERTISED_FILE}.tmp`;
    const write = `const fs = require('node:fs'); fs.writeFileSync(${JSON.stringify(aside)}, ${JSON.stringify(advertised)}); fs.renameSync(${JSON.stringify(aside)}, ${JSON.stringify(ADVERTISED_FILE)})`;
    const result = await client.container.exec(client.container.getById(this.containerId), ['node', '-e', write]);
    if (result.exitCode !== 0)
      throw new Error(`could not give the broker its advertised listener ${advertised}: ${result.output}`);
  }
}
