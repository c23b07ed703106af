// Word count: lines in, a running count per word out (through a repartition by word).
import { jsonSerde, stringSerde } from 'millrace';
import { StreamsBuilder } from 'millrace/streams';
import { client, readUntil, run, send, topics } from './lib.mjs';

const s = stringSerde();
const builder = new StreamsBuilder();
builder
  .stream('text-lines', { keySerde: s, valueSerde: s })
  .flatMapValues((line) => line.toLowerCase().split(/\W+/).filter(Boolean))
  .groupBy((_key, word) => word, { keySerde: s, valueSerde: s })
  .count({ storeName: 'word-counts' })
  .toStream()
  .to('word-counts', { keySerde: s, valueSerde: jsonSerde() });

await topics('text-lines', 'word-counts');
const app = await run(builder.build(), 'word-count-example');
await send('text-lines', [
  { key: '1', value: 'the quick brown fox' },
  { key: '2', value: 'jumps over the lazy dog' },
  { key: '3', value: 'the end' },
]);
const counts = await readUntil('word-counts', (c) => c.the === '3' && c.end === '1');
console.log('word counts:', counts);
await app.close();
await client.close();
