import { describe, expect, it } from 'vitest';
import { jsonSerde, stringSerde } from '../../../src/client/index.js';
import {
  StreamsBuilder,
  TimeWindows,
  logAndSkipOnInvalidTimestamp,
  usePartitionTimeOnInvalidTimestamp,
  type TimestampExtractor,
} from '../../../src/streams/index.js';
import { testDriver } from '../../harness/streams.js';

const str = stringSerde();
interface Event {
  at: number;
}

/** Counts per key and 1 s window the events of `events`, read with `extractor` (or the driver's default). */
function windowedEvents(extractor?: TimestampExtractor, defaultExtractor?: TimestampExtractor) {
  const builder = new StreamsBuilder();
  builder
    .stream<string, Event>('events', {
      keySerde: str,
      valueSerde: jsonSerde<Event>(),
      ...(extractor ? { timestampExtractor: extractor } : {}),
    })
    .groupByKey({ keySerde: str })
    .windowedBy(TimeWindows.ofSizeAndGrace(1_000, 10_000))
    .count({ storeName: 'per-second' })
    .toStream()
    .map((w, n): [string, string] => [`${w!.key}@${w!.window.start}`, String(n)])
    .to('out', { keySerde: str, valueSerde: str });
  const driver = testDriver(builder.build(), defaultExtractor ? { defaultTimestampExtractor: defaultExtractor } : {});
  return {
    input: driver.createInputTopic('events', str, jsonSerde<Event>()),
    out: () => driver.createOutputTopic('out', str, str).readKeyValuesToList(),
  };
}

describe('timestamp extractors, through the test driver', () => {
  it("a source's extractor takes the event time from the value, over the record's timestamp", () => {
    const t = windowedEvents((r) => (r.value as Event).at);
    t.input.pipeInput('k', { at: 5_500 }, 100);
    t.input.pipeInput('k', { at: 5_900 }, 200);
    t.input.pipeInput('k', { at: 7_100 }, 300);
    expect(t.out()).toEqual([
      ['k@5000', '1'],
      ['k@5000', '2'],
      ['k@7000', '1'],
    ]);
  });

  it('the default extractor counts at the record timestamp and fails on an invalid one, saying what to do', () => {
    const t = windowedEvents();
    t.input.pipeInput('k', { at: 0 }, 2_500);
    expect(t.out()).toEqual([['k@2000', '1']]);
    expect(() => t.input.pipeInput('k', { at: 0 }, -1)).toThrow(
      /invalid timestamp -1: give the source a timestampExtractor/,
    );
  });

  it("the instance's default applies to sources without their own; invalid times are skipped or take the partition time", () => {
    const skip = windowedEvents(undefined, logAndSkipOnInvalidTimestamp);
    skip.input.pipeInput('k', { at: 0 }, 1_500);
    skip.input.pipeInput('k', { at: 0 }, -7);
    expect(skip.out()).toEqual([['k@1000', '1']]);
    const partitionTime = windowedEvents(usePartitionTimeOnInvalidTimestamp);
    partitionTime.input.pipeInput('k', { at: 0 }, 3_200);
    partitionTime.input.pipeInput('k', { at: 0 }, -7); // counts at 3200, the partition's time
    expect(partitionTime.out()).toEqual([
      ['k@3000', '1'],
      ['k@3000', '2'],
    ]);
  });
});
