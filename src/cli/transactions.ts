/** `millrace transactions list|describe`: transactional ids and their transactions, as kafka-transactions.sh. */
import { Command } from 'commander';
import { client, collect, integer, print, withConnection, type ConnectionFlags } from './common.js';

export function transactionsCommand(): Command {
  const txns = new Command('transactions').description('transactions: list the transactional ids, describe one');
  withConnection(txns.command('list').description('every transactional id, its producer and state'))
    .option('--state <state>', 'only in this state (Ongoing, CompleteCommit, ...); repeatable', collect, [])
    .option('--producer-id <id>', 'only this producer id; repeatable', collect, [])
    .option('--duration-filter <ms>', 'only transactions open longer than this (ms)', integer('--duration-filter', 0))
    .option('--json', 'JSON output')
    .action(
      async (
        flags: ConnectionFlags & { state: string[]; producerId: string[]; durationFilter?: number; json?: boolean },
      ) => {
        const c = client(flags, 'millrace-cli-transactions');
        try {
          const listed = await c.admin().listTransactions({
            states: flags.state,
            producerIds: flags.producerId.map(Number),
            openLongerThanMs: flags.durationFilter,
          });
          if (flags.json) print(JSON.stringify(listed));
          else {
            print('TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tSTATE');
            for (const t of listed) print(`${t.transactionalId}\t${t.coordinatorId}\t${t.producerId}\t${t.state}`);
          }
        } finally {
          await c.close();
        }
      },
    );
  withConnection(
    txns
      .command('describe')
      .description('state, producer id and epoch, timeout, start and partitions of a transactional id')
      .argument('<transactional-id>'),
  )
    .option('--json', 'JSON output')
    .action(async (transactionalId: string, flags: ConnectionFlags & { json?: boolean }) => {
      const c = client(flags, 'millrace-cli-transactions');
      try {
        const [t] = await c.admin().describeTransactions([transactionalId]);
        if (flags.json) {
          print(JSON.stringify(t));
          return;
        }
        print('COORDINATOR\tTRANSACTIONAL-ID\tPRODUCER-ID\tPRODUCER-EPOCH\tSTATE\tTIMEOUT-MS\tSTART\tPARTITIONS');
        const partitions = t!.topicPartitions.map((p) => `${p.topic}-${p.partition}`).join(',') || 'None';
        print(
          [
            t!.coordinatorId,
            t!.transactionalId,
            t!.producerId,
            t!.producerEpoch,
            t!.state,
            t!.transactionTimeoutMs,
            t!.transactionStartTime?.toISOString() ?? 'None',
            partitions,
          ].join('\t'),
        );
      } finally {
        await c.close();
      }
    });
  return txns;
}
