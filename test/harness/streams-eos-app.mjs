// A child process for the streams end-to-end test (Kafka's EOS test driver's application side):
// one instance aggregating numbered input per key (count, sum, min, max) into `<app>-agg`, and
// per key and 10 s window (count) into `<app>-wcount`. Prints {"e":"running"} once started;
// SIGTERM closes cleanly, SIGKILL is the crash the test is about. Options: one JSON argument.
import { jsonSerde, stringSerde } from '../../dist/src/client/index.js';
import { MillraceStreams, StreamsBuilder, TimeWindows } from '../../dist/src/streams/index.js';

const o = JSON.parse(process.argv[2]);
const s = stringSerde();
const json = jsonSerde();
const builder = new StreamsBuilder();
const input = builder.stream(o.input, { keySerde: s, valueSerde: json });
input
  .groupByKey({ keySerde: s })
  .aggregate(
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
  .to(o.output, { keySerde: s, valueSerde: json });
input
  .groupByKey({ keySerde: s })
  .windowedBy(TimeWindows.ofSizeAndGrace(10_000, 60_000))
  .count({ storeName: 'wcount' })
  .toStream()
  .map((w, n) => [`${w.key}@${w.window.start}`, n])
  .to(o.windowedOutput, { keySerde: s, valueSerde: json });

const app = new MillraceStreams(builder.build(), {
  servers: o.nats,
  cluster: o.cluster,
  applicationId: o.applicationId,
  processingGuarantee: o.guarantee,
  commitIntervalMs: o.commitIntervalMs,
  stateDir: o.stateDir,
  // A standby of every task on another instance: a killed instance's tasks move onto standby state.
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
