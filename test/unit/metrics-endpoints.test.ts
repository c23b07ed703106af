/** The broker's HTTP endpoints: metrics, and the health and readiness probes a container uses. */
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerMetrics } from '../../src/metrics/catalogue.js';

describe('metrics endpoints', () => {
  let close: (() => Promise<void>) | null = null;
  afterEach(async () => close?.());

  it('answers /health while up, /ready only once ready (503 with the reason before), and /metrics', async () => {
    let ready = false;
    const metrics = new BrokerMetrics(
      { brokerId: 1, cluster: 'c', rack: null, version: '0' },
      () => [],
      () => [],
      () => [],
    );
    const server = await metrics.serve(0, '127.0.0.1', () => ({
      ready,
      reason: ready ? 'ready' : 'not ready: Recovery',
    }));
    close = server.close;
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
      return { status: res.status, body: await res.text() };
    };
    expect(await get('/health')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/ready')).toEqual({ status: 503, body: 'not ready: Recovery\n' });
    ready = true;
    expect((await get('/ready')).status).toBe(200);
    expect((await get('/metrics')).body).toMatch(/millrace_broker_info\{broker_id="1"/);
    expect((await get('/nope')).status).toBe(404);
  });
});
