import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonSerde, stringSerde } from '../../../src/client/index.js';
import { SessionWindows, StreamsBuilder, type Windowed } from '../../../src/streams/index.js';
import { testDriver } from '../../harness/streams.js';

const s = stringSerde();
const strings = { keySerde: s, valueSerde: s };
const sessionKey = {
  serialize: (w: Windowed<string>) => `${w.key}@${w.window.start}-${w.window.end}`,
  deserialize: (b: Buffer) => b.toString() as unknown as Windowed<string>,
};
const num = { serialize: (n: number) => String(n), deserialize: (b: Buffer) => Number(b.toString()) };

function sessions(gap: number, grace: number) {
  const builder = new StreamsBuilder();
  builder
    .stream<string, string>('clicks', strings)
    .groupByKey({ keySerde: s })
    .windowedBy(SessionWindows.ofInactivityGapAndGrace(gap, grace))
    .count({ storeName: 'sessions' })
    .toStream()
    .to('out', { keySerde: sessionKey, valueSerde: num });
  const driver = testDriver(builder.build());
  return {
    driver,
    input: driver.createInputTopic('clicks', s, s),
    out: () => driver.createOutputTopic('out', s, num).readKeyValuesToList(),
  };
}

describe('session windows, through the test driver', () => {
  it('merges sessions a record joins, tombstoning the merged ones, and drops late records', () => {
    const t = sessions(1_000, 2_000);
    t.input.pipeInput('u', 'x', 0);
    t.input.pipeInput('u', 'x', 3_000); // a new session: the gap is 1 s
    t.input.pipeInput('u', 'x', 1_500); // out of order, within grace: a session of its own
    t.input.pipeInput('u', 'x', 2_200); // joins [1500] and [3000]
    t.input.pipeInput('u', 'x', 100); // late: before stream time 3000 minus grace 2000
    expect(t.out()).toEqual([
      ['u@0-0', 1],
      ['u@3000-3000', 1],
      ['u@1500-1500', 1],
      ['u@1500-1500', null],
      ['u@3000-3000', null],
      ['u@1500-3000', 3],
    ]);
    expect(
      t.driver
        .getSessionStore<string, number>('sessions')
        .all()
        .map(([k, x]) => `${k}@${x.start}-${x.end}=${x.value}`),
    ).toEqual(['u@0-0=1', 'u@1500-3000=3']);
  });

  it('counts in order equal sessions computed directly from the timestamps', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 40 }), (raw) => {
        const times = [...raw].sort((a, b) => a - b);
        const t = sessions(1_000, 0);
        for (const ts of times) t.input.pipeInput('k', 'x', ts);
        const want: string[] = [];
        let start = times[0]!;
        let end = start;
        let n = 0;
        for (const ts of times) {
          if (ts - end > 1_000) {
            want.push(`${start}-${end}=${n}`);
            start = ts;
            n = 0;
          }
          end = ts;
          n++;
        }
        want.push(`${start}-${end}=${n}`);
        // The store keeps sessions within retention (two gaps and the grace) of stream time.
        const streamTime = Math.max(...times);
        const retained = want.filter((w) => Number(/-(\d+)=/.exec(w)![1]) + 2_000 >= streamTime);
        const got = t.driver
          .getSessionStore<string, number>('sessions')
          .all()
          .map(([, x]) => `${x.start}-${x.end}=${x.value}`);
        expect(got).toEqual(retained);
      }),
      { numRuns: 50 },
    );
  });

  it('aggregate and reduce merge the aggregates of the sessions a record joins', () => {
    const builder = new StreamsBuilder();
    const grouped = builder
      .stream<string, number>('amounts', { keySerde: s, valueSerde: jsonSerde<number>() })
      .groupByKey({ keySerde: s })
      .windowedBy(SessionWindows.ofInactivityGapWithNoGrace(100));
    grouped
      .aggregate<number>(
        () => 0,
        (_k, v, total) => total + v,
        (_k, a, b) => a + b,
        { storeName: 'totals' },
      )
      .toStream()
      .to('totals', { keySerde: sessionKey, valueSerde: num });
    grouped
      .reduce((a, b) => Math.max(a, b), { storeName: 'maxima' })
      .toStream()
      .to('maxima', { keySerde: sessionKey, valueSerde: num });
    const driver = testDriver(builder.build());
    const input = driver.createInputTopic('amounts', s, jsonSerde<number>());
    input.pipeInput('k', 1, 0);
    input.pipeInput('k', 2, 200);
    input.pipeInput('k', 4, 100); // within the gap of both: one session [0, 200]
    const read = (topic: string) => driver.createOutputTopic(topic, s, s).readKeyValuesToList();
    expect(read('totals')).toEqual([
      ['k@0-0', '1'],
      ['k@200-200', '2'],
      ['k@0-0', null],
      ['k@200-200', null],
      ['k@0-200', '7'],
    ]);
    expect(read('maxima').at(-1)).toEqual(['k@0-200', '4']);
  });
});
