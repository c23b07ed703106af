import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { FaultProxy } from '../../src/chaos/fault-proxy.js';
import { connectNats } from '../../src/transport/connection.js';
import { waitFor } from '../harness/cluster.js';

let proxy: FaultProxy;
let server: NatsConnection;
let client: NatsConnection;
let served = 0;

beforeAll(async () => {
  const url = new URL(inject('natsUrl').replace('nats://', 'http://'));
  proxy = await FaultProxy.start({ targets: [{ host: url.hostname, port: Number(url.port) }], seed: 3 });
  server = await connectNats({ servers: inject('natsUrl'), name: 'proxy-test-server' });
  server.subscribe('proxy.test.echo', {
    callback: (_, msg) => {
      served++;
      msg.respond(msg.data);
    },
  });
  await server.flush();
  client = await connectNats({ servers: proxy.url, name: 'proxy-test-client' });
});

afterAll(async () => {
  await client.close();
  await server.close();
  await proxy.close();
});

const echo = async (text: string, timeout = 2_000): Promise<string> =>
  new TextDecoder().decode((await client.request('proxy.test.echo', text, { timeout })).data);

describe('fault proxy', () => {
  it('passes traffic through, and keeps order under delay with jitter', async () => {
    expect(await echo('plain')).toBe('plain');
    proxy.delay(20, 30);
    const texts = Array.from({ length: 50 }, (_, i) => `m${i}`);
    expect(await Promise.all(texts.map((t) => echo(t)))).toEqual(texts);
    proxy.delay(0);
  });

  it('drops replies while the requests still arrive', async () => {
    proxy.dropReplies(1);
    const before = served;
    await expect(echo('lost', 500)).rejects.toThrow();
    expect(served).toBe(before + 1);
    expect(proxy.stats.droppedReplies).toBeGreaterThanOrEqual(1);
    proxy.dropReplies(0);
    expect(await echo('back')).toBe('back');
  });

  it('cuts the connection until healed, and the client reconnects', async () => {
    proxy.partition();
    await expect(echo('cut', 500)).rejects.toThrow();
    proxy.heal();
    await waitFor('the client to reconnect through the proxy', async () => (await echo('healed', 500)) === 'healed');
  });
});
