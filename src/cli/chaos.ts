/** `millrace chaos run|list`: the chaos scenarios of ops/chaos (or any scenario file) against a fresh local cluster. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { MillraceError } from '../../protocol/errors.js';
import { runScenario, runValid, type RunResult } from '../chaos/runner.js';
import { loadScenario } from '../chaos/scenario.js';
import { integer, print } from './common.js';

const here = fileURLToPath(import.meta.url);
/** ops/chaos of this package, from the sources (tests) or from dist/. */
export const scenarioDir = path.resolve(
  path.dirname(here),
  here.endsWith('.ts') ? '../../ops/chaos' : '../../../ops/chaos',
);

function scenarioFiles(): string[] {
  return fs
    .readdirSync(scenarioDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(scenarioDir, f));
}

/** A path, or the name of a scenario in ops/chaos. */
function resolveScenario(name: string): string {
  if (fs.existsSync(name)) return name;
  const inDir = path.join(scenarioDir, name.endsWith('.json') ? name : `${name}.json`);
  if (fs.existsSync(inDir)) return inDir;
  throw new MillraceError(
    'INVALID_REQUEST',
    `no scenario '${name}': give a file, or one of ${scenarioFiles()
      .map((f) => path.basename(f, '.json'))
      .join(', ')}`,
  );
}

export function chaosCommand(): Command {
  const chaos = new Command('chaos').description(
    'fault injection against a local cluster, with a history checker (Jepsen-style)',
  );
  chaos
    .command('list')
    .description('the scenarios in ops/chaos')
    .action(() => {
      for (const file of scenarioFiles()) {
        const s = loadScenario(file);
        print(`${s.name}\t${s.faults.kinds.join(',')}\t${s.description}`);
      }
    });
  chaos
    .command('run')
    .description('run scenarios (names in ops/chaos, or files); exits 1 when a history is not valid')
    .argument('[scenario...]', 'scenario names or files')
    .option('--all', 'every scenario in ops/chaos')
    .option('--seed <n>', 'seed for the fault schedule and fault choices', integer('--seed'))
    .option('--duration <ms>', 'how long faults are injected', integer('--duration', 1_000))
    .addOption(
      new Option(
        '--client <door>',
        "the workload's producers and group members: the NATS SDK or Kafka clients",
      ).choices(['nats', 'kafka']),
    )
    .option('--json', 'print the results as JSON')
    .option('--history-dir <dir>', "write each run's recorded history there (<scenario>-<seed>.history.json)")
    .action(
      async (
        names: string[],
        flags: {
          all?: boolean;
          seed?: number;
          duration?: number;
          client?: 'nats' | 'kafka';
          json?: boolean;
          historyDir?: string;
        },
      ) => {
        const files = flags.all ? scenarioFiles() : names.map(resolveScenario);
        if (files.length === 0) throw new MillraceError('INVALID_REQUEST', 'give scenario names or --all');
        const results: RunResult[] = [];
        for (const file of files) {
          const s = loadScenario(file);
          if (flags.seed !== undefined) s.seed = flags.seed;
          if (flags.duration !== undefined) s.durationMs = flags.duration;
          if (flags.client !== undefined) s.client = flags.client;
          if (flags.historyDir) fs.mkdirSync(flags.historyDir, { recursive: true });
          const result = await runScenario(s, {
            log: (line) => process.stderr.write(`${line}\n`),
            ...(flags.historyDir
              ? { historyFile: path.join(flags.historyDir, `${s.name}-${s.seed}.history.json`) }
              : {}),
          });
          results.push(result);
          if (!flags.json) print(result.summary);
          if (!flags.json && result.forensics.length > 0) print(result.forensics.join('\n'));
        }
        const faults = results.reduce((n, r) => n + r.faults.total, 0);
        if (flags.json) print(JSON.stringify({ faults, valid: results.every(runValid), results }));
        else
          print(
            `${results.length} scenarios, ${faults} faults injected, ${results.filter((r) => !runValid(r)).length} invalid`,
          );
        if (!results.every(runValid)) process.exitCode = 1;
      },
    );
  return chaos;
}
