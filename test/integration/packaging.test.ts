import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// What ships: the compiled SDK in dist/ (npm test builds it first).
const root = resolve(import.meta.dirname, '../..');
const dist = join(root, 'dist');

/** Every module the SDK's entry loads, following static and dynamic imports of the compiled JS. */
function importGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"]([^'"]+)['"]/gm),
      ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specifiers) {
      if (spec.startsWith('.')) stack.push(resolve(dirname(file), spec));
      else packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { files: [...files].map((f) => relative(dist, f)), packages: [...packages] };
}

const work = mkdtempSync(join(tmpdir(), 'millrace-packaging-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the npm package', () => {
  it('loads no broker, storage, control-plane, Kafka door, CLI, bench, chaos or metrics module from the SDK', () => {
    const { files, packages } = importGraph(join(dist, 'src/client/index.js'));
    expect(files.length).toBeGreaterThan(10);
    const outside = files.filter((f) => !/^(src\/client|src\/transport|protocol)\//.test(f));
    expect(outside).toEqual([]);
    // Nor the packages only those need: the state machines, the broker's logger, testcontainers.
    expect(
      packages.filter((p) => ['xstate', 'pino', 'commander', 'testcontainers', '@nats-io/kv'].includes(p)),
    ).toEqual([]);
  });

  it('works from CommonJS (require) and from ESM (import), as one module with one MillraceError', () => {
    // An application with millrace in its node_modules, as `npm install` leaves it.
    mkdirSync(join(work, 'node_modules'));
    symlinkSync(root, join(work, 'node_modules', 'millrace'), 'dir');
    writeFileSync(
      join(work, 'app.cjs'),
      `const { Millrace, MillraceError, NoOffsetForPartitionError } = require('millrace');
       const { MillraceError: FromImport } = require('millrace');
       const client = new Millrace({ servers: 'nats://127.0.0.1:1', cluster: 'c' });
       let bad;
       try { new Millrace({ servers: 'x', cluster: 'not a name' }); } catch (e) { bad = e; }
       console.log(JSON.stringify({ client: typeof client.producer, error: bad instanceof MillraceError,
         same: FromImport === MillraceError, sub: typeof NoOffsetForPartitionError }));`,
    );
    writeFileSync(
      join(work, 'app.mjs'),
      `import { Millrace, MillraceError } from 'millrace';
       import { createRequire } from 'node:module';
       const required = createRequire(import.meta.url)('millrace');
       console.log(JSON.stringify({ client: typeof new Millrace({ servers: 'nats://127.0.0.1:1', cluster: 'c' }).producer,
         same: required.MillraceError === MillraceError }));`,
    );
    const run = (file: string): unknown =>
      JSON.parse(
        execFileSync(process.execPath, [file], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      );
    expect(run('app.cjs')).toEqual({ client: 'function', error: true, same: true, sub: 'function' });
    expect(run('app.mjs')).toEqual({ client: 'function', same: true });
    // millrace/streams, from both module systems, on the SDK's own serdes.
    writeFileSync(
      join(work, 'streams.cjs'),
      `const { StreamsBuilder, TopologyTestDriver } = require('millrace/streams');
       const { stringSerde } = require('millrace');
       const s = stringSerde();
       const b = new StreamsBuilder();
       b.stream('in', { keySerde: s, valueSerde: s }).mapValues((v) => v.toUpperCase()).to('out', { keySerde: s, valueSerde: s });
       const d = new TopologyTestDriver(b.build());
       d.createInputTopic('in', s, s).pipeInput('k', 'v');
       console.log(JSON.stringify(d.createOutputTopic('out', s, s).readKeyValue()));`,
    );
    writeFileSync(
      join(work, 'streams.mjs'),
      `import { StreamsBuilder } from 'millrace/streams';
       console.log(JSON.stringify(typeof new StreamsBuilder().build().describe()));`,
    );
    expect(run('streams.cjs')).toEqual(['k', 'V']);
    expect(run('streams.mjs')).toBe('string');
  });

  it('builds millrace/streams on the SDK only, as Kafka Streams is built on the clients', () => {
    const { files } = importGraph(join(dist, 'src/streams/index.js'));
    // Its own task machine lives with the other machines, in actors/; nothing of the broker.
    expect(
      files.filter(
        (f) => !/^(src\/streams|src\/client|src\/transport|protocol)\//.test(f) && f !== 'actors/stream-task.js',
      ),
    ).toEqual([]);
  });
});
