/**
 * Client metrics in a prom-client registry the application passes (`metrics: { register }`):
 * records and bytes sent and received per topic, request latency per API, consumer lag per
 * partition and rebalances per group, labelled with the client id. prom-client is loaded only
 * when metrics are asked for; clients sharing a registry share the metrics.
 */
import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ClientMetricsOptions {
  /** The application's prom-client Registry (e.g. `register` from prom-client). */
  register: Registry;
  /** Default: `millrace_client_`. */
  prefix?: string;
}

type PromClient = typeof import('prom-client');
const requireCjs = createRequire(import.meta.url);

export class ClientMetrics {
  readonly recordsSent: Counter<'client_id' | 'topic'>;
  readonly bytesSent: Counter<'client_id' | 'topic'>;
  readonly recordsReceived: Counter<'client_id' | 'topic'>;
  readonly bytesReceived: Counter<'client_id' | 'topic'>;
  readonly requestDuration: Histogram<'client_id' | 'api' | 'error'>;
  readonly lag: Gauge<'client_id' | 'group' | 'topic' | 'partition'>;
  readonly rebalances: Counter<'client_id' | 'group'>;

  constructor(options: ClientMetricsOptions) {
    const prom = requireCjs('prom-client') as PromClient;
    const prefix = options.prefix ?? 'millrace_client_';
    const registers = [options.register];
    // A second client on the same registry finds the metrics already there and shares them.
    const existing = <M>(name: string): M | undefined =>
      options.register.getSingleMetric(prefix + name) as M | undefined;
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> =>
      existing<Counter<L>>(name) ?? new prom.Counter({ name: prefix + name, help, labelNames, registers });
    this.recordsSent = counter('records_sent_total', 'Records acknowledged by the brokers.', ['client_id', 'topic']);
    this.bytesSent = counter('bytes_sent_total', 'Record batch bytes acknowledged by the brokers.', [
      'client_id',
      'topic',
    ]);
    this.recordsReceived = counter('records_received_total', 'Records handed to the application.', [
      'client_id',
      'topic',
    ]);
    this.bytesReceived = counter('bytes_received_total', 'Record batch bytes fetched.', ['client_id', 'topic']);
    this.rebalances = counter('rebalances_total', 'Group joins (each rebalance this member took part in).', [
      'client_id',
      'group',
    ]);
    this.requestDuration =
      existing<Histogram<'client_id' | 'api' | 'error'>>('request_duration_seconds') ??
      new prom.Histogram({
        name: prefix + 'request_duration_seconds',
        help: 'Requests to brokers, by API and the error they ended with (NONE on success).',
        labelNames: ['client_id', 'api', 'error'],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      });
    this.lag =
      existing<Gauge<'client_id' | 'group' | 'topic' | 'partition'>>('consumer_lag') ??
      new prom.Gauge({
        name: prefix + 'consumer_lag',
        help: 'Records between what the consumer last handed out and the high watermark, per partition.',
        labelNames: ['client_id', 'group', 'topic', 'partition'],
        registers,
      });
  }
}
