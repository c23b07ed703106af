/** `millrace partitions elect-leaders`: move leaderships back to preferred replicas. */
import { Command } from 'commander';
import { client, collect, print, withConnection, type ConnectionFlags } from './common.js';

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
  return partitions;
}
