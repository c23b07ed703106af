// Orders enrichment: each order joined with its customer's current row (a stream-table join).
import { jsonSerde, stringSerde } from 'millrace';
import { StreamsBuilder } from 'millrace/streams';
import { client, readUntil, run, send, topics, waitFor } from './lib.mjs';

const s = stringSerde();
const json = jsonSerde();
const builder = new StreamsBuilder();
const customers = builder.table('customers', { keySerde: s, valueSerde: json, storeName: 'customers-store' });
builder
  .stream('orders', { keySerde: s, valueSerde: json }) // keyed by customer id
  .join(customers, (order, customer) => ({ ...order, customer: customer.name, tier: customer.tier }))
  .to('orders-enriched', { keySerde: s, valueSerde: json });

await topics('customers', 'orders', 'orders-enriched');
const app = await run(builder.build(), 'orders-enrichment-example');
await send('customers', [
  { key: 'c1', value: JSON.stringify({ name: 'Ada', tier: 'gold' }) },
  { key: 'c2', value: JSON.stringify({ name: 'Linus', tier: 'silver' }) },
]);
// A join sees the table as it is when the order arrives: wait until the rows are in its store.
await waitFor(() => app.store('customers-store').get('c2') !== undefined);
await send('orders', [
  { key: 'c1', value: JSON.stringify({ order: 'o-1', total: 42 }) },
  { key: 'c2', value: JSON.stringify({ order: 'o-2', total: 7 }) },
]);
const enriched = await readUntil('orders-enriched', (o) => 'c1' in o && 'c2' in o);
console.log('enriched orders:', enriched);
await app.close();
await client.close();
