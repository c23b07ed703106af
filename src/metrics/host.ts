/**
 * Metrics of what a broker runs on: the free and total space of its data directory's file
 * system, and its NATS connections (connected, disconnects, reconnects, requests that timed
 * out), for the operators' disk and metadata-log alerts.
 */
import * as fs from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import { observeRequestTimeouts } from '../transport/rpc.js';

export function registerHostMetrics(
  registry: Registry,
  dataDir: string,
  nc: NatsConnection,
  /** Every connection the broker makes requests on (nc among them). */
  requesters: NatsConnection[] = [nc],
): void {
  const registers = [registry];
  const statfs = () => {
    try {
      return fs.statfsSync(dataDir);
    } catch {
      return null;
    }
  };
  new Gauge({
    name: 'millrace_log_dir_free_bytes',
    help: "Bytes available to the broker on its data directory's file system",
    labelNames: ['dir'],
    registers,
    collect() {
      const s = statfs();
      if (s) this.set({ dir: dataDir }, s.bavail * s.bsize);
    },
  });
  new Gauge({
    name: 'millrace_log_dir_size_bytes',
    help: "Total bytes of the data directory's file system",
    labelNames: ['dir'],
    registers,
    collect() {
      const s = statfs();
      if (s) this.set({ dir: dataDir }, s.blocks * s.bsize);
    },
  });
  const connected = new Gauge({
    name: 'millrace_nats_connected',
    help: '1 while the broker is connected to NATS (its metadata log, controller and clients are reached through it)',
    registers,
  });
  const disconnects = new Counter({
    name: 'millrace_nats_disconnects_total',
    help: 'Times the broker lost its NATS connection',
    registers,
  });
  const reconnects = new Counter({
    name: 'millrace_nats_reconnects_total',
    help: 'Times the broker connected to NATS again after losing it',
    registers,
  });
  const timeouts = new Counter({
    name: 'millrace_nats_request_timeouts_total',
    help: 'Requests this broker sent over NATS (replica fetches, controller and broker APIs) that got no reply in time, by API',
    labelNames: ['api'],
    registers,
  });
  // The requests every broker sends, at 0 from the start so that a rate has a series to show.
  for (const api of ['replica_fetch', 'register_broker', 'heartbeat', 'alter_partition']) timeouts.inc({ api }, 0);
  for (const requester of requesters) observeRequestTimeouts(requester, (api) => timeouts.inc({ api }));
  connected.set(nc.isClosed() ? 0 : 1);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        connected.set(0);
        disconnects.inc();
      } else if (s.type === 'reconnect') {
        connected.set(1);
        reconnects.inc();
      }
    }
    connected.set(0);
  })();
}
