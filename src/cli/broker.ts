/** `millrace broker`: one broker process; SIGTERM or SIGINT shuts it down cleanly. */
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { Broker } from '../broker/broker.js';
import { brokerConfigFromEnv, readConfigFile, resolveBrokerConfig, type BrokerConfigInput } from '../broker/config.js';
import { parseConfigPairs } from '../cluster/topic-config.js';
import { collect, integer, untilSignalled } from './common.js';

interface BrokerFlags {
  id?: number;
  nats?: string;
  cluster?: string;
  dataDir?: string;
  metricsPort?: number;
  metricsHost?: string;
  rack?: string;
  kafkaListener?: string;
  kafkaAdvertisedListener?: string;
  config?: string;
  logDefault?: string[];
  logLevel?: string;
}

export async function runUntilSignalled(broker: Broker): Promise<void> {
  await untilSignalled((signal) => {
    broker.logger.info({ signal }, 'shutting down');
    return broker.stop();
  });
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('run a broker (flags over MILLRACE_* environment variables over --config)')
    .option('--id <n>', 'broker id', integer('--id', 0))
    .option('--nats <urls>', 'NATS server URL(s), comma-separated (MILLRACE_NATS)')
    .option('--cluster <name>', 'cluster name (MILLRACE_CLUSTER)')
    .option('--data-dir <dir>', 'where the logs live (MILLRACE_DATA_DIR)')
    .option(
      '--metrics-port <port>',
      'Prometheus metrics port, 0 for any free one (MILLRACE_METRICS_PORT)',
      integer('--metrics-port', 0),
    )
    .option('--metrics-host <host>', 'address the metrics endpoint binds (default 127.0.0.1)')
    .option('--rack <rack>', 'rack or zone, for rack-aware replica placement (MILLRACE_RACK)')
    .option('--kafka-listener <host:port>', 'serve the Kafka protocol here, port 0 for any (MILLRACE_KAFKA_LISTENER)')
    .option(
      '--kafka-advertised-listener <host:port>',
      'the Kafka address clients are told to use (MILLRACE_KAFKA_ADVERTISED_LISTENER)',
    )
    .option('--config <file>', 'a JSON file with any of the settings (camelCase names)')
    .option(
      '--log-default <key=value>',
      'a broker-wide topic config default, e.g. retention.ms=86400000 (repeatable)',
      collect,
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .action(async (flags: BrokerFlags) => {
      const fromFlags: Partial<BrokerConfigInput> = {
        id: flags.id,
        nats: flags.nats,
        cluster: flags.cluster,
        dataDir: flags.dataDir,
        metricsPort: flags.metricsPort,
        metricsHost: flags.metricsHost,
        rack: flags.rack,
        kafkaListener: flags.kafkaListener,
        kafkaAdvertisedListener: flags.kafkaAdvertisedListener,
        logLevel: flags.logLevel as BrokerConfigInput['logLevel'],
        logDefaults: flags.logDefault ? parseConfigPairs(flags.logDefault) : undefined,
      };
      const config = resolveBrokerConfig(
        flags.config ? readConfigFile(flags.config) : {},
        brokerConfigFromEnv(process.env),
        fromFlags,
      );
      const logger = pino({ level: config.logLevel });
      let broker: Broker;
      try {
        broker = await Broker.start(config, logger);
      } catch (err) {
        // A broker that could not start exits, whatever it left open, so that what supervises it
        // (a container runtime, systemd) sees the failure and restarts it.
        logger.fatal({ err: String(err) }, 'the broker could not start');
        logger.flush();
        process.exit(1);
      }
      await runUntilSignalled(broker);
    });
}
