/** `millrace group list|describe|reset-offsets|delete`: consumer groups, as kafka-consumer-groups. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { MillraceError, type Millrace, type OffsetResetTarget } from '../client/index.js';
import { client, collect, integer, print, withConnection, type ConnectionFlags } from './common.js';

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

interface ResetFlags {
  topic?: string[];
  allTopics?: boolean;
  toEarliest?: boolean;
  toLatest?: boolean;
  toOffset?: number;
  toDatetime?: string;
  byDuration?: string;
  shiftBy?: number;
  execute?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** The one --to-* / --by-duration / --shift-by given, as resetOffsets takes it. */
function resetTarget(flags: ResetFlags): OffsetResetTarget {
  const given = [
    flags.toEarliest && 'earliest',
    flags.toLatest && 'latest',
    flags.toOffset !== undefined && 'offset',
    flags.toDatetime !== undefined && 'datetime',
    flags.byDuration !== undefined && 'duration',
    flags.shiftBy !== undefined && 'shift',
  ].filter(Boolean);
  if (given.length !== 1)
    throw new InvalidArgumentError(
      'give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --by-duration, --shift-by',
    );
  if (flags.toEarliest) return 'earliest';
  if (flags.toLatest) return 'latest';
  if (flags.toOffset !== undefined) return { offset: flags.toOffset };
  if (flags.toDatetime !== undefined) {
    const datetime = new Date(flags.toDatetime);
    if (Number.isNaN(datetime.getTime()))
      throw new InvalidArgumentError(`--to-datetime '${flags.toDatetime}' is not an ISO 8601 time`);
    return { datetime };
  }
  if (flags.byDuration !== undefined) return { duration: isoDurationMs(flags.byDuration) };
  return { shiftBy: flags.shiftBy! };
}

/** An ISO 8601 duration as Kafka's --by-duration takes it (PnDTnHnMnS) in milliseconds. */
export function isoDurationMs(text: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(text);
  if (!m || text.toUpperCase() === 'P' || text.toUpperCase().endsWith('T'))
    throw new InvalidArgumentError(`--by-duration '${text}' is not an ISO 8601 duration such as PT30M or P1DT2H`);
  const [, d, h, min, sec] = m;
  return (
    ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Math.round(Number(sec ?? 0) * 1000)
  );
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
      .description(
        "plan (and with --execute, make) a move of an empty group's committed offsets, as kafka-consumer-groups --reset-offsets",
      )
      .argument('<group>'),
  )
    .option('--topic <topic>', 'a topic whose offsets move (repeatable)', collect)
    .option('--all-topics', 'every topic the group has committed offsets for')
    .addOption(new Option('--to-earliest', 'to the earliest offsets'))
    .addOption(new Option('--to-latest', 'to the latest offsets'))
    .addOption(new Option('--to-offset <n>', 'to an offset (clamped to the log)').argParser(integer('--to-offset', 0)))
    .addOption(new Option('--to-datetime <iso>', 'to the first offsets at or after a time (ISO 8601)'))
    .addOption(
      new Option('--by-duration <PnDTnHnMnS>', 'to the first offsets at or after this long ago (ISO 8601 duration)'),
    )
    .addOption(new Option('--shift-by <n>', 'by n offsets (negative: back)').argParser(integer('--shift-by')))
    .option('--execute', 'make the change (without it: a dry run that prints the plan)')
    .option('--dry-run', 'print the plan and change nothing (the default)')
    .option('--json', 'JSON output')
    .action(async (groupId: string, flags: ConnectionFlags & ResetFlags) => {
      const to = resetTarget(flags);
      if (flags.execute && flags.dryRun) throw new InvalidArgumentError('give --execute or --dry-run, not both');
      if (Boolean(flags.allTopics) === Boolean(flags.topic?.length))
        throw new InvalidArgumentError('give --topic (one or more) or --all-topics');
      const c = client(flags, 'millrace-cli-group');
      try {
        const admin = c.admin();
        const topics = flags.allTopics
          ? [...new Set((await admin.fetchOffsets({ groupId })).map((o) => o.topic))].sort()
          : flags.topic!;
        if (topics.length === 0)
          throw new MillraceError('GROUP_ID_NOT_FOUND', `group '${groupId}' has no committed offsets`);
        const rows: Array<{ topic: string; partition: number; current: string | null; offset: string }> = [];
        for (const topic of topics)
          for (const p of await admin.resetOffsets({ groupId, topic, to, dryRun: !flags.execute }))
            rows.push({
              topic,
              partition: p.partition,
              current: p.current?.toString() ?? null,
              offset: p.offset.toString(),
            });
        if (flags.json) print(JSON.stringify({ group: groupId, executed: Boolean(flags.execute), partitions: rows }));
        else {
          print('GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET');
          for (const r of rows) print(`${groupId}\t${r.topic}\t${r.partition}\t${r.current ?? '-'}\t${r.offset}`);
        }
        if (!flags.execute) process.stderr.write('dry run: no offsets changed; add --execute to make the change\n');
      } finally {
        await c.close();
      }
    });
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
