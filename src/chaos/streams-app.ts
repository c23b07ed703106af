/**
 * A streams application instance for the streams chaos workload, run as a child process so it can
 * be SIGKILLed (Kafka's EOS test driver's application side): it aggregates numbered input per
 * key (count, sum, min, max) into `<app>-agg`, and per key and 10 s window (count) into
 * `<app>-wcount`, with a standby of every task on another instance. Prints {"e":"running"} once
 * started; SIGTERM closes cleanly. Options: one JSON argument (StreamsAppOptions).
 */
import { jsonSerde, stringSerde } from '../client/index.js';
import { MillraceStreams, StreamsBuilder, TimeWindows, type ProcessingGuarantee } from '../streams/index.js';
import { STREAMS_WINDOW_MS, type Aggregate } from './streams-checker.js';

export interface StreamsAppOptions {
  servers: string[];
  cluster: string;
  applicationId: string;
  guarantee: ProcessingGuarantee;
  commitIntervalMs: number;
  stateDir: string;
}

const o = JSON.parse(process.argv[2] ?? '{}') as StreamsAppOptions;
const s = stringSerde();
const builder = new StreamsBuilder();
const input = builder.stream<string, number>(`${o.applicationId}-in`, { keySerde: s, valueSerde: jsonSerde<number>() });
input
  .groupByKey({ keySerde: s })
  .aggregate<Aggregate>(
    () => ({ count: 0, sum: 0, min: null, max: null }),
    (_key, v, a) => ({
      count: a.count + 1,
      sum: a.sum + v,
      min: a.min === null ? v : Math.min(a.min, v),
      max: a.max === null ? v : Math.max(a.max, v),
    }),
    { storeName: 'agg' },
  )
  .toStream()
  .to(`${o.applicationId}-agg`, { keySerde: s, valueSerde: jsonSerde<Aggregate>() });
input
  .groupByKey({ keySerde: s })
  .windowedBy(TimeWindows.ofSizeAndGrace(STREAMS_WINDOW_MS, 60_000))
  .count({ storeName: 'wcount' })
  .toStream()
  .map((w, n): [string, number] => [`${w!.key}@${w!.window.start}`, n!])
  .to(`${o.applicationId}-wcount`, { keySerde: s, valueSerde: jsonSerde<number>() });

const app = new MillraceStreams(builder.build(), {
  servers: o.servers,
  cluster: o.cluster,
  applicationId: o.applicationId,
  processingGuarantee: o.guarantee,
  commitIntervalMs: o.commitIntervalMs,
  stateDir: o.stateDir,
  // A killed instance's tasks move onto standby state.
  numStandbyReplicas: 1,
  consumer: { sessionTimeoutMs: 3000, heartbeatIntervalMs: 300 },
});
app.setUncaughtExceptionHandler((err) => {
  process.stderr.write(`stream thread failed: ${err.stack ?? err.message}\n`);
  return 'REPLACE_THREAD';
});
await app.start();
process.stdout.write(`${JSON.stringify({ e: 'running' })}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
