#!/usr/bin/env node
/** The `millrace` command. */
import { Command } from 'commander';
import { MillraceError } from '../../protocol/errors.js';
import { benchCommand } from '../bench/command.js';
import { VERSION } from '../version.js';
import { authCommand } from './auth.js';
import { aclCommand, quotasCommand, usersCommand } from './security.js';
import { brokerCommand } from './broker.js';
import { chaosCommand } from './chaos.js';
import { clusterCommand } from './cluster.js';
import { consumeCommand } from './consume.js';
import { devCommand } from './dev.js';
import { dumpLog } from './dump-log.js';
import { groupCommand } from './group.js';
import { runHealth } from './health.js';
import { partitionsCommand } from './partitions.js';
import { produceCommand } from './produce.js';
import { schemaRegistryCommand } from './schema-registry.js';
import { topicCommand } from './topic.js';
import { transactionsCommand } from './transactions.js';

const program = new Command();
program
  .name('millrace')
  .description('Millrace: a distributed event-streaming broker for Node.js')
  .version(VERSION)
  .showHelpAfterError();
for (const cmd of [
  devCommand(),
  brokerCommand(),
  topicCommand(),
  produceCommand(),
  consumeCommand(),
  schemaRegistryCommand(),
  groupCommand(),
  transactionsCommand(),
  clusterCommand(),
  partitionsCommand(),
  benchCommand(),
  chaosCommand(),
  authCommand(),
  usersCommand(),
  aclCommand(),
  quotasCommand(),
])
  program.addCommand(cmd);

program
  .command('dump-log')
  .description(
    'describe every batch of a segment file (and with --records every record; markers with their type), or the aborted transactions of a .txnindex, like kafka-dump-log.sh',
  )
  .argument('<file>', 'a segment file, <base offset>.log')
  .option('--records', 'print every record: offset, timestamp, key, value (UTF-8 or base64), headers')
  .option('--json', 'one JSON object per batch, records under "records"')
  .action((file: string, opts: { records?: boolean; json?: boolean }) => {
    const summary = dumpLog(file, opts, (line) => process.stdout.write(`${line}\n`));
    const damaged = summary.invalidBatches > 0 || summary.damage !== null;
    if (summary.damage) process.stderr.write(`millrace dump-log: ${summary.damage}\n`);
    if (summary.invalidBatches)
      process.stderr.write(`millrace dump-log: ${summary.invalidBatches} batches have a CRC mismatch\n`);
    if (!opts.json)
      process.stdout.write(`${summary.batches} batches, ${summary.records} records${damaged ? ', damaged' : ''}\n`);
    // Exit 1 on damage so scripts can check a segment with `millrace dump-log f.log >/dev/null`.
    process.exitCode = damaged ? 1 : 0;
  });

program
  .command('health')
  .description("ask a broker's metrics port whether it is ready (exit 0) or not (exit 1)")
  .option('--url <url>', 'the endpoint to ask (default http://127.0.0.1:$MILLRACE_METRICS_PORT/ready, port 9100)')
  .option('--live', 'ask /health (the process is up) instead of /ready')
  .action(async (opts: { url?: string; live?: boolean }) => {
    process.exitCode = await runHealth(opts);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof MillraceError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`millrace: ${message}\n`);
  process.exitCode = 1;
});
