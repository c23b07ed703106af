/** Metrics of a broker's Kafka listener, in the broker's registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class KafkaListenerMetrics {
  readonly connections: Gauge;
  readonly requests: Counter<'api' | 'version'>;
  readonly errors: Counter<'api' | 'version' | 'error'>;
  readonly seconds: Histogram<'api'>;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;
  readonly refused: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.connections = new Gauge({
      name: 'millrace_kafka_connections',
      help: 'Open connections on the Kafka listener',
      registers,
    });
    this.requests = new Counter({
      name: 'millrace_kafka_requests_total',
      help: 'Kafka requests answered, by API and version',
      labelNames: ['api', 'version'],
      registers,
    });
    this.errors = new Counter({
      name: 'millrace_kafka_request_errors_total',
      help: 'Errors in Kafka responses (per partition, group or resource), by API, version and error name',
      labelNames: ['api', 'version', 'error'],
      registers,
    });
    this.seconds = new Histogram({
      name: 'millrace_kafka_request_duration_seconds',
      help: 'Time from reading a Kafka request to writing its response, long-poll waits included',
      labelNames: ['api'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.bytesIn = new Counter({
      name: 'millrace_kafka_bytes_in_total',
      help: 'Bytes read from Kafka clients',
      registers,
    });
    this.bytesOut = new Counter({
      name: 'millrace_kafka_bytes_out_total',
      help: 'Bytes written to Kafka clients',
      registers,
    });
    this.refused = new Counter({
      name: 'millrace_kafka_connections_refused_total',
      help: 'Kafka connections closed on arrival: max.connections or max.connections.per.ip reached',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['max_connections', 'max_connections_per_ip']) this.refused.inc({ reason }, 0);
  }
}
