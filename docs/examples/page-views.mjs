// Windowed page views: views per page per minute, each window's final count once it closes
// (tumbling windows of 60 s with 5 s of grace, suppressed until the window closes).
import { jsonSerde, stringSerde } from 'millrace';
import { StreamsBuilder, TimeWindows } from 'millrace/streams';
import { client, readUntil, run, send, topics } from './lib.mjs';

const s = stringSerde();
const builder = new StreamsBuilder();
builder
  .stream('page-views', { keySerde: s, valueSerde: s })
  .groupByKey({ keySerde: s })
  .windowedBy(TimeWindows.ofSizeAndGrace(60_000, 5_000))
  .count({ storeName: 'views-per-minute' })
  .suppressUntilWindowCloses()
  .toStream()
  .map((windowed, count) => [`${windowed.key}@${new Date(windowed.window.start).toISOString()}`, count])
  .to('page-views-per-minute', { keySerde: s, valueSerde: jsonSerde() });

await topics('page-views', 'page-views-per-minute');
const app = await run(builder.build(), 'page-views-example');
const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
await send('page-views', [
  { key: '/home', value: 'u1', timestamp: t0 + 1_000 },
  { key: '/home', value: 'u2', timestamp: t0 + 30_000 },
  { key: '/cart', value: 'u1', timestamp: t0 + 45_000 },
  { key: '/home', value: 'u3', timestamp: t0 + 61_000 },
  // Stream time passes 12:01:05: the 12:00 windows close and are emitted.
  { key: '/home', value: 'u4', timestamp: t0 + 70_000 },
  { key: '/cart', value: 'u2', timestamp: t0 + 70_000 },
]);
const views = await readUntil(
  'page-views-per-minute',
  (v) => '/home@2026-01-01T12:00:00.000Z' in v && '/cart@2026-01-01T12:00:00.000Z' in v,
);
console.log('views per page per minute (closed windows):', views);
await app.close();
await client.close();
