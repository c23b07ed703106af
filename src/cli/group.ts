/** `millrace group list|describe|reset-offsets|delete`: consumer groups, as kafka-consumer-groups. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { MillraceError, type Millrace } from '../client/index.js';
import { client, integer, print, withConnection, type ConnectionFlags } from './common.js';

interface PartitionLag {
  topic: string;
  partition: number;
  member: string | null;
  committed: string | null;
  logEnd: string | null;
  lag: string | null;
}

/** Committed offset, log end (high watermark) and lag for every partition the group owns or committed. */
async function lagOf(c: Millrace, groupId: string): Promise<{ state: string; rows: PartitionLag[]; members: number }> {
  const admin = c.admin();
  const [group] = await admin.describeGroups([groupId]);
  const committed = await admin.fetchOffsets({ groupId });
  const owner = new Map<string, string>();
  for (const m of group!.members) for (const tp of m.assignment) owner.set(`${tp.topic}:${tp.partition}`, m.memberId);
  const topics = new Set([
    ...committed.map((c) => c.topic),
    ...group!.members.flatMap((m) => m.assignment.map((a) => a.topic)),
  ]);
  const rows: PartitionLag[] = [];
  for (const topic of [...topics].sort()) {
    const ends = await admin.fetchTopicOffsets(topic);
    for (const { partition, offset: end } of ends) {
      const key = `${topic}:${partition}`;
      const c = committed.find((x) => x.topic === topic && x.partition === partition)?.offset ?? -1n;
      if (c < 0n && !owner.has(key)) continue;
      rows.push({
        topic,
        partition,
        member: owner.get(key) ?? null,
        committed: c >= 0n ? c.toString() : null,
        logEnd: end.toString(),
        lag: c >= 0n ? (end - c).toString() : null,
      });
    }
  }
  return { state: group!.state, rows, members: group!.members.length };
}

export function groupCommand(): Command {
  const group = new Command('group').description('consumer groups: list, describe with lag, reset offsets, delete');
  withConnection(group.command('list').description('every consumer group and its state'))
    .option('--json', 'JSON output')
    .action(async (flags: ConnectionFlags & { json?: boolean }) => {
      const c = client(flags, 'millrace-cli-group');
      try {
        const groups = await c.admin().listGroups();
        if (flags.json) print(JSON.stringify(groups));
        else for (const g of groups) print(`${g.groupId}\t${g.state}\t${g.protocolType}`);
      } finally {
        await c.close();
      }
    });
  withConnection(
    group.command('describe').description('state, members, assignment, committed offsets and lag').argument('<group>'),
  )
    .option('--json', 'JSON output')
    .action(async (groupId: string, flags: ConnectionFlags & { json?: boolean }) => {
      const c = client(flags, 'millrace-cli-group');
      try {
        const [described] = await c.admin().describeGroups([groupId]);
        const { rows } = await lagOf(c, groupId);
        if (flags.json) {
          print(JSON.stringify({ ...described, partitions: rows }));
          return;
        }
        print(
          `group ${groupId}: ${described!.state}, protocol ${described!.protocol || '-'}, generation ${described!.generation}, ${described!.members.length} members`,
        );
        for (const m of described!.members)
          print(
            `  member ${m.memberId}${m.groupInstanceId ? ` (instance ${m.groupInstanceId})` : ''} client ${m.clientId}: ${m.assignment.map((a) => `${a.topic}-${a.partition}`).join(', ') || 'nothing'}`,
          );
        print('TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER');
        for (const r of rows)
          print(
            `${r.topic}\t${r.partition}\t${r.committed ?? '-'}\t${r.logEnd ?? '-'}\t${r.lag ?? '-'}\t${r.member ?? '-'}`,
          );
      } finally {
        await c.close();
      }
    });
  withConnection(
    group
      .command('reset-offsets')
      .description("move an empty group's committed offsets for a topic")
      .argument('<group>'),
  )
    .requiredOption('--topic <topic>', 'the topic whose offsets move')
    .addOption(new Option('--to-earliest', 'to the earliest offsets'))
    .addOption(new Option('--to-latest', 'to the latest offsets'))
    .addOption(new Option('--to-datetime <iso>', 'to the first offsets at or after a time (ISO 8601)'))
    .addOption(new Option('--shift-by <n>', 'by n offsets (negative: back)').argParser(integer('--shift-by')))
    .option('--json', 'JSON output')
    .action(
      async (
        groupId: string,
        flags: ConnectionFlags & {
          topic: string;
          toEarliest?: boolean;
          toLatest?: boolean;
          toDatetime?: string;
          shiftBy?: number;
          json?: boolean;
        },
      ) => {
        const chosen = [
          flags.toEarliest,
          flags.toLatest,
          flags.toDatetime !== undefined,
          flags.shiftBy !== undefined,
        ].filter(Boolean).length;
        if (chosen !== 1)
          throw new InvalidArgumentError('give exactly one of --to-earliest, --to-latest, --to-datetime, --shift-by');
        let to: 'earliest' | 'latest' | { datetime: Date } | { shiftBy: number };
        if (flags.toEarliest) to = 'earliest';
        else if (flags.toLatest) to = 'latest';
        else if (flags.toDatetime !== undefined) {
          const datetime = new Date(flags.toDatetime);
          if (Number.isNaN(datetime.getTime()))
            throw new MillraceError('INVALID_REQUEST', `--to-datetime '${flags.toDatetime}' is not an ISO 8601 time`);
          to = { datetime };
        } else to = { shiftBy: flags.shiftBy! };
        const c = client(flags, 'millrace-cli-group');
        try {
          const set = await c.admin().resetOffsets({ groupId, topic: flags.topic, to });
          if (flags.json)
            print(JSON.stringify(set.map((s) => ({ partition: s.partition, offset: s.offset.toString() }))));
          else for (const s of set) print(`${flags.topic}\t${s.partition}\t${s.offset}`);
        } finally {
          await c.close();
        }
      },
    );
  withConnection(
    group.command('delete').description('delete an empty group and its committed offsets').argument('<group>'),
  ).action(async (groupId: string, flags: ConnectionFlags) => {
    const c = client(flags, 'millrace-cli-group');
    try {
      await c.admin().deleteGroups([groupId]);
      print(`deleted group ${groupId}`);
    } finally {
      await c.close();
    }
  });
  return group;
}
