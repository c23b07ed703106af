import { describe, expect, it } from 'vitest';
import { stringSerde } from '../../../src/client/index.js';
import {
  StreamsBuilder,
  keyValueStoreSpec,
  type KeyValueStore,
  type ProcessorContext,
} from '../../../src/streams/index.js';
import { testDriver } from '../../harness/streams.js';

const s = stringSerde();
const strings = { keySerde: s, valueSerde: s };

describe('processors of your own and punctuation, through the test driver', () => {
  it('emits on stream-time and wall-clock punctuation from a processor with a store', () => {
    const builder = new StreamsBuilder();
    builder.addStateStore(keyValueStoreSpec('seen', s, undefined, 'in_memory'));
    builder
      .stream<string, string>('events', strings)
      .process<string, string>(() => {
        let context!: ProcessorContext;
        const flush = (kind: string) => (t: number) => {
          const seen = context.getStateStore<KeyValueStore<string, number>>('seen');
          for (const [k, n] of seen.all())
            context.forward({ key: k, value: `${kind}@${t}:${n}`, timestamp: t, headers: {} });
        };
        return {
          init: (c) => {
            context = c;
            c.schedule(1_000, 'STREAM_TIME', flush('stream'));
            c.schedule(5_000, 'WALL_CLOCK_TIME', flush('wall'));
          },
          process: (record, c) => {
            const seen = c.getStateStore<KeyValueStore<string, number>>('seen');
            seen.put(record.key as string, (seen.get(record.key as string) ?? 0) + 1);
          },
        };
      }, 'seen')
      .to('summaries', strings);
    const driver = testDriver(builder.build(), { wallClockMs: 0 });
    const input = driver.createInputTopic('events', s, s);
    const out = driver.createOutputTopic('summaries', s, s);
    input.pipeInput('a', 'x', 100); // the first record fires the stream-time punctuation
    input.pipeInput('a', 'x', 600);
    input.pipeInput('b', 'x', 1_100); // stream time reached 100 + 1000
    input.pipeInput('b', 'x', 1_500);
    expect(out.readValuesToList()).toEqual(['stream@100:1', 'stream@1100:2', 'stream@1100:1']);
    driver.advanceWallClockTime(4_999);
    expect(out.isEmpty()).toBe(true);
    driver.advanceWallClockTime(1);
    expect(out.readKeyValuesToList()).toEqual([
      ['a', 'wall@5000:2'],
      ['b', 'wall@5000:2'],
    ]);
  });

  it("gives processors the task's stream time, the record being processed included", () => {
    const builder = new StreamsBuilder();
    const times: number[] = [];
    builder.stream<string, string>('events', strings).process(() => (_record, context) => {
      times.push(context.currentStreamTimeMs());
    });
    const driver = testDriver(builder.build());
    const input = driver.createInputTopic('events', s, s);
    input.pipeInput('a', 'x', 100);
    input.pipeInput('a', 'x', 50); // out of order: stream time stays
    input.pipeInput('a', 'x', 200);
    expect(times).toEqual([100, 100, 200]);
  });
});
