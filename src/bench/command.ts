/** `millrace bench produce|consume|e2e|failover|scale|kafka|security|transactions|streams`: as kafka-producer-perf-test and `nats bench` do. */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Acks, CompressionName } from '../client/index.js';
import { integer, print } from '../cli/common.js';
import { kafkaBench, type KafkaBenchOptions } from './kafka.js';
import { scaleBench, type ScaleOptions } from './scale.js';
import { securityBench, type SecurityBenchOptions } from './security.js';
import { serializerBench, type ValueFormat } from './serializers.js';
import { transactionsBench } from './transactions.js';
import { streamsBench, type StreamsWorkload } from './streams.js';
import type { ProcessingGuarantee } from '../streams/index.js';
import { benchSuite, loadTable, suiteTable, type SuiteOptions } from './suite.js';
import { failoverBench, runWorkload, type FailoverVictim, type WorkloadOptions } from './workloads.js';

interface BenchFlags {
  nats?: string;
  idempotent: boolean;
  cluster: string;
  records: number;
  recordSize: number;
  partitions: number;
  replicationFactor: number;
  acks: string;
  producers: number;
  batchSize: number;
  lingerMs: number;
  compression: string;
  throughput: number;
  brokers: number;
  valueFormat: ValueFormat;
}

export function benchCommand(): Command {
  const bench = new Command('bench').description('measure produce, consume and end-to-end performance; prints JSON');
  for (const kind of ['produce', 'consume', 'e2e'] as const) {
    bench
      .command(kind)
      .description(`${kind} benchmark (starts its own nats-server and broker processes unless --nats is given)`)
      .option('--nats <urls>', 'an existing cluster (default: start one)')
      .option('--cluster <name>', 'cluster name with --nats', 'millrace')
      .option('--brokers <n>', 'brokers to start when no --nats', integer('--brokers', 1), 1)
      .option('--records <n>', 'records', integer('--records', 1), 2_000_000)
      .option('--record-size <bytes>', 'value bytes per record', integer('--record-size', 0), 100)
      .option('--partitions <n>', 'partitions of the bench topic', integer('--partitions', 1), 8)
      .option('--replication-factor <n>', 'replication factor', integer('--replication-factor', 1), 1)
      .addOption(new Option('--acks <acks>', 'acks').choices(['0', '1', 'all']).default('1'))
      .option('--producers <n>', 'concurrent producers', integer('--producers', 1), 1)
      .option('--no-idempotent', 'turn producer idempotence off (on by default with acks=all)')
      .option('--batch-size <bytes>', 'producer batch.size', integer('--batch-size', 1), 256 * 1024)
      .option('--linger-ms <ms>', 'producer linger.ms', integer('--linger-ms', 0), 5)
      .addOption(
        new Option('--compression <codec>', 'producer compression')
          .choices(['none', 'gzip', 'snappy', 'lz4', 'zstd'])
          .default('none'),
      )
      .addOption(
        new Option(
          '--value-format <format>',
          'produce: values as raw Buffers, as JSON through the registry-aware serializer, or both one after the other',
        )
          .choices(['raw', 'registry-json', 'both'])
          .default('raw'),
      )
      .option(
        '--throughput <records/s>',
        'offered load (0: as fast as possible)',
        integer('--throughput', 0),
        kind === 'e2e' ? 20_000 : 0,
      )
      .action(async (flags: BenchFlags) => {
        const o: WorkloadOptions = {
          records: flags.records,
          recordSize: flags.recordSize,
          partitions: flags.partitions,
          replicationFactor: flags.replicationFactor,
          acks: (flags.acks === 'all' ? 'all' : Number(flags.acks)) as Acks,
          producers: flags.producers,
          batchSize: flags.batchSize,
          lingerMs: flags.lingerMs,
          compression: flags.compression as CompressionName,
          throughput: flags.throughput,
          idempotent: flags.idempotent,
        };
        const target = flags.nats ? { nats: flags.nats, cluster: flags.cluster } : { brokers: flags.brokers };
        if (flags.valueFormat !== 'raw' && kind !== 'produce')
          throw new InvalidArgumentError('--value-format is for bench produce');
        const result =
          flags.valueFormat === 'raw'
            ? await runWorkload(kind, o, target)
            : await serializerBench(o, flags.valueFormat, target);
        print(JSON.stringify({ ...result, acks: flags.acks }, null, 2));
      });
  }
  bench
    .command('transactions')
    .description(
      'a transactional producer committing every --commit-interval-ms beside an idempotent one, in one run (RF 3, acks=all)',
    )
    .option('--nats <urls>', 'an existing cluster (default: start one)')
    .option('--cluster <name>', 'cluster name with --nats', 'millrace')
    .option('--brokers <n>', 'brokers to start when no --nats', integer('--brokers', 1), 3)
    .option('--records <n>', 'records of each run', integer('--records', 1), 2_000_000)
    .option('--record-size <bytes>', 'value bytes per record', integer('--record-size', 0), 100)
    .option('--partitions <n>', 'partitions of the bench topic', integer('--partitions', 1), 8)
    .option('--replication-factor <n>', 'replication factor', integer('--replication-factor', 1), 3)
    .option(
      '--commit-interval-ms <ms>',
      'how long each transaction stays open',
      integer('--commit-interval-ms', 1),
      100,
    )
    .option('--batch-size <bytes>', 'producer batch.size', integer('--batch-size', 1), 256 * 1024)
    .option('--linger-ms <ms>', 'producer linger.ms', integer('--linger-ms', 0), 5)
    .action(
      async (
        flags: Omit<BenchFlags, 'acks' | 'producers' | 'compression' | 'throughput' | 'idempotent' | 'valueFormat'> & {
          commitIntervalMs: number;
        },
      ) => {
        const o: WorkloadOptions = {
          records: flags.records,
          recordSize: flags.recordSize,
          partitions: flags.partitions,
          replicationFactor: flags.replicationFactor,
          acks: 'all',
          producers: 1,
          batchSize: flags.batchSize,
          lingerMs: flags.lingerMs,
          compression: 'none',
          throughput: 0,
          idempotent: true,
        };
        const target = flags.nats ? { nats: flags.nats, cluster: flags.cluster } : { brokers: flags.brokers };
        print(JSON.stringify(await transactionsBench(o, flags.commitIntervalMs, target), null, 2));
      },
    );
  bench
    .command('streams')
    .description(
      'a MillraceStreams instance processing input written beforehand: mapValues -> to, and a keyed count into a persistent store, at_least_once and exactly_once_v2',
    )
    .option('--nats <urls>', 'an existing cluster (default: start one)')
    .option('--cluster <name>', 'cluster name with --nats', 'millrace')
    .option('--brokers <n>', 'brokers to start when no --nats', integer('--brokers', 1), 1)
    .option('--records <n>', 'input records', integer('--records', 1), 1_000_000)
    .option('--record-size <bytes>', 'value bytes per record', integer('--record-size', 0), 100)
    .option('--partitions <n>', 'partitions of the input (tasks of the instance)', integer('--partitions', 1), 4)
    .option('--keys <n>', 'distinct keys of the input', integer('--keys', 1), 10_000)
    .addOption(
      new Option('--workload <name...>', 'workloads to run')
        .choices(['map-values', 'count'])
        .default(['map-values', 'count']),
    )
    .addOption(
      new Option('--guarantee <name...>', 'processing guarantees to run')
        .choices(['at_least_once', 'exactly_once_v2'])
        .default(['at_least_once', 'exactly_once_v2']),
    )
    .action(
      async (flags: {
        nats?: string;
        cluster: string;
        brokers: number;
        records: number;
        recordSize: number;
        partitions: number;
        keys: number;
        workload: StreamsWorkload[];
        guarantee: ProcessingGuarantee[];
      }) => {
        const target = flags.nats ? { nats: flags.nats, cluster: flags.cluster } : { brokers: flags.brokers };
        const options = {
          records: flags.records,
          recordSize: flags.recordSize,
          partitions: flags.partitions,
          keys: flags.keys,
          workloads: flags.workload,
          guarantees: flags.guarantee,
        };
        print(JSON.stringify(await streamsBench(options, target), null, 2));
      },
    );
  bench
    .command('failover')
    .description(
      'acks=all production across a SIGKILL of the partition leader: the unavailability window (starts 3 broker processes)',
    )
    .option('--duration-ms <ms>', 'how long to produce', integer('--duration-ms', 1000), 10_000)
    .option('--kill-at-ms <ms>', 'when to kill the leader', integer('--kill-at-ms', 0), 3_000)
    .option('--rate <records/s>', 'offered load', integer('--rate', 1), 10_000)
    .addOption(
      new Option('--victim <which>', "the leader killed: one that is not the controller, or the controller's own")
        .choices(['leader', 'controller'])
        .default('leader'),
    )
    .action(async (flags: { durationMs: number; killAtMs: number; rate: number; victim: FailoverVictim }) => {
      print(JSON.stringify(await failoverBench(flags), null, 2));
    });
  bench
    .command('kafka')
    .description("kcat producing to and consuming from a broker's Kafka listener (starts its own cluster)")
    .option('--records <n>', 'records', integer('--records', 1), 2_000_000)
    .option('--record-size <bytes>', 'value bytes per record', integer('--record-size', 1), 100)
    .option('--partitions <n>', 'partitions of the bench topic', integer('--partitions', 1), 8)
    .addOption(new Option('--acks <acks>', 'acks').choices(['0', '1', 'all']).default('1'))
    .action(async (flags: KafkaBenchOptions) => {
      print(JSON.stringify(await kafkaBench(flags), null, 2));
    });
  bench
    .command('suite')
    .description('every figure of the performance aims in one run: a table and JSON (npm run bench)')
    .option('--records <n>', 'records of each throughput figure', integer('--records', 1), 2_000_000)
    .option(
      '--latency-seconds <s>',
      'how long the latency figure offers 20,000 records/s',
      integer('--latency-seconds', 1),
      10,
    )
    .option(
      '--failover-duration-ms <ms>',
      'how long the failover figure produces',
      integer('--failover-duration-ms', 1000),
      10_000,
    )
    .option('--json', 'only the JSON')
    .option('--cpu-prof-dir <dir>', 'write CPU profiles of the client and the brokers, per figure, under <dir>')
    .action(async (flags: SuiteOptions & { json?: boolean }) => {
      const result = await benchSuite(flags);
      if (!flags.json) print(`${suiteTable(result.figures)}\n\n${loadTable(result.runs)}\n`);
      print(JSON.stringify({ bench: 'suite', ...result }, null, 2));
    });
  bench
    .command('security')
    .description('produce without security and with all of it (TLS, accounts, ACLs, SASL_SSL), through both doors')
    .option('--records <n>', 'records per run', integer('--records', 1), 1_000_000)
    .option('--record-size <bytes>', 'value bytes per record', integer('--record-size', 1), 100)
    .option('--partitions <n>', 'partitions of the bench topic', integer('--partitions', 1), 8)
    .action(async (flags: SecurityBenchOptions) => {
      print(JSON.stringify(await securityBench(flags), null, 2));
    });
  bench
    .command('scale')
    .description(
      'many partitions: time to full ISR, fencing events, idle CPU and RSS, failover and rejoin of a SIGKILLed broker',
    )
    .option('--brokers <n>', 'broker processes', integer('--brokers', 1), 3)
    .option('--partitions <n>', 'partitions in all', integer('--partitions', 1), 10_000)
    .option('--replication-factor <n>', 'replication factor', integer('--replication-factor', 1), 3)
    .option('--topic-partitions <n>', 'partitions per topic', integer('--topic-partitions', 1), 100)
    .option('--idle-ms <ms>', 'how long to watch the idle cluster', integer('--idle-ms', 1000), 120_000)
    .option('--timeout-ms <ms>', 'bound on each wait', integer('--timeout-ms', 1000), 300_000)
    .option('--log-file <path>', "append the brokers' log lines to this file")
    .action(async (flags: ScaleOptions) => {
      print(JSON.stringify(await scaleBench(flags), null, 2));
    });
  return bench;
}
