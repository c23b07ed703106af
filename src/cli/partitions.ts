/** `millrace partitions elect-leaders`: move leaderships back to preferred replicas. */
import { Command } from 'commander';
import { client, collect, integer, print, withConnection, type ConnectionFlags } from './common.js';

export function partitionsCommand(): Command {
  const partitions = new Command('partitions').description('partition leadership');
  withConnection(
    partitions.command('elect-leaders').description('preferred leader election (on every topic unless --topic)'),
  )
    .option('--topic <name>', 'only this topic (repeatable)', collect)
    .option('--json', 'as JSON')
    .action(async (flags: ConnectionFlags & { topic?: string[]; json?: boolean }) => {
      const c = client(flags, 'millrace-cli');
      try {
        const results = await c.admin().electLeaders({ topics: flags.topic });
        if (flags.json) print(JSON.stringify(results, null, 2));
        else
          for (const r of results)
            print(`${r.topic}-${r.partition}\t${r.outcome}\tleader ${r.leader}${r.detail ? `\t${r.detail}` : ''}`);
        const elected = results.filter((r) => r.outcome === 'ELECTED').length;
        if (!flags.json) print(`${elected} of ${results.length} partitions moved to their preferred leader`);
      } finally {
        await c.close();
      }
    });
  withConnection(
    partitions
      .command('reassign')
      .description('move a partition to another replica set (new replicas catch up, old ones are removed)'),
  )
    .requiredOption('--topic <name>', 'topic')
    .requiredOption('--partition <p>', 'partition', integer('--partition', 0))
    .requiredOption(
      '--replicas <ids>',
      'the new replica set, comma-separated broker ids (the first is preferred leader)',
    )
    .option('--wait-ms <ms>', 'wait up to this long for the move to complete', integer('--wait-ms', 0), 120_000)
    .action(async (flags: ConnectionFlags & { topic: string; partition: number; replicas: string; waitMs: number }) => {
      const replicas = flags.replicas.split(',').map((x) => integer('--replicas', 0)(x.trim()));
      const c = client(flags, 'millrace-cli');
      try {
        const admin = c.admin();
        await admin.alterPartitionReassignments({
          partitions: [{ topic: flags.topic, partition: flags.partition, replicas }],
        });
        print(`reassignment of ${flags.topic}-${flags.partition} to [${replicas.join(',')}] started`);
        const deadline = Date.now() + flags.waitMs;
        while (Date.now() < deadline) {
          const p = (await admin.describeTopics([flags.topic]))[0]!.partitions[flags.partition]!;
          if (p.replicas.join() === replicas.join()) {
            print(`done: replicas [${p.replicas.join(',')}], isr [${p.isr.join(',')}], leader ${p.leader}`);
            return;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        throw new Error(`the reassignment did not complete within ${flags.waitMs} ms (it goes on in the cluster)`);
      } finally {
        await c.close();
      }
    });
  return partitions;
}
