#!/usr/bin/env node
/**
 * The Grafana dashboards as code: `npm run dashboards` writes ops/grafana/dashboards/*.json from
 * this file (a unit test fails when they differ, so edit here, not the JSON). Every dashboard is
 * templated by data source, job, cluster and broker; every panel has a unit; rates use
 * $__rate_interval.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ds = { type: 'prometheus', uid: '${datasource}' };
/** The selector every query starts from: the job and the brokers picked (those of the cluster). */
const sel = (extra = '') => `job="$job", instance=~"$instance"${extra ? `, ${extra}` : ''}`;
const rate = (metric, extra = '') => `rate(${metric}{${sel(extra)}}[$__rate_interval])`;

function variable(name, label, query, options = {}) {
  return { name, label, type: 'query', datasource: ds, query, refresh: 2, ...options };
}

function templating(extra) {
  return {
    list: [
      { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' },
      variable('job', 'Job', 'label_values(millrace_broker_info, job)'),
      variable('cluster', 'Cluster', 'label_values(millrace_broker_info{job="$job"}, cluster)'),
      // "All" is the cluster's brokers, so every query below stays within the chosen cluster.
      variable('instance', 'Broker', 'label_values(millrace_broker_info{job="$job", cluster="$cluster"}, instance)', {
        includeAll: true,
        multi: true,
      }),
      ...extra,
    ],
  };
}

/** A panel: [title, unit, type, ...targets] where a target is an expr or [expr, legend]. */
function panels(rows) {
  const out = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  rows.forEach(({ title, unit, type = 'timeseries', w = 12, h = 8, targets, description }, i) => {
    if (x + w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    out.push({
      id: i + 1,
      type,
      title,
      ...(description ? { description } : {}),
      datasource: ds,
      gridPos: { h, w, x, y },
      fieldConfig: { defaults: { unit }, overrides: [] },
      targets: targets.map((t, j) => {
        const [expr, legendFormat] = Array.isArray(t) ? t : [t, '__auto'];
        return { refId: String.fromCharCode(65 + j), expr, legendFormat, datasource: ds };
      }),
    });
    x += w;
    rowHeight = Math.max(rowHeight, h);
  });
  return out;
}

function dashboard(uid, title, rows, extraVariables = []) {
  return {
    uid,
    title: `Millrace / ${title}`,
    tags: ['millrace'],
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    editable: true,
    templating: templating(extraVariables),
    panels: panels(rows),
  };
}

const stat = (title, expr, unit = 'short') => ({ title, unit, type: 'stat', w: 4, h: 4, targets: [expr] });

const topicVar = variable(
  'topic',
  'Topic',
  'label_values(millrace_log_size_bytes{job="$job", instance=~"$instance"}, topic)',
  {
    includeAll: true,
    multi: true,
    allValue: '.*',
  },
);
const groupVar = variable(
  'group',
  'Group',
  'label_values(millrace_consumer_group_members{job="$job", instance=~"$instance"}, group)',
  {
    includeAll: true,
    multi: true,
    allValue: '.*',
  },
);
const inTopic = 'topic=~"$topic"';
const inGroup = 'group=~"$group"';
/** Errors over all requests per API, 0 for an API without errors (instead of no series). */
const errorRatio = (metric) =>
  `(sum by (api) (${rate(metric, 'error!="NONE"')}) or sum by (api) (${rate(metric)}) * 0) / sum by (api) (${rate(metric)})`;
const quantile = (q, metric, by = 'api', extra = '') =>
  `histogram_quantile(${q}, sum by (le, ${by}) (${rate(`${metric}_bucket`, extra)}))`;

export const dashboards = {
  'cluster-overview': dashboard('millrace-cluster', 'Cluster overview', [
    stat('Brokers up', 'count(up{job="$job", instance=~"$instance"} == 1)'),
    stat('Active controllers', `sum(millrace_active_controller{${sel()}})`),
    stat('Offline partitions', `sum(millrace_offline_partitions{${sel()}})`),
    stat('Under-replicated partitions', `sum(millrace_under_replicated_partitions{${sel()}})`),
    stat('Under-min-ISR partitions', `sum(millrace_under_min_isr_partitions{${sel()}})`),
    stat(
      'Unclean leader elections (1h)',
      `sum(increase(millrace_leader_elections_total{${sel('reason="unclean"')}}[1h]))`,
    ),
    {
      title: 'Partitions led per broker',
      unit: 'short',
      targets: [[`millrace_leader_partitions{${sel()}}`, '{{instance}}']],
    },
    {
      title: 'Leader elections by reason',
      unit: 'ops',
      targets: [[`sum by (reason) (${rate('millrace_leader_elections_total')})`, '{{reason}}']],
    },
    {
      title: 'Messages in per topic',
      unit: 'ops',
      targets: [[`sum by (topic) (${rate('millrace_messages_in_total')})`, '{{topic}}']],
    },
    {
      title: 'Bytes in per topic',
      unit: 'Bps',
      targets: [[`sum by (topic) (${rate('millrace_bytes_in_total')})`, '{{topic}}']],
    },
    {
      title: 'Requests per API (NATS door)',
      unit: 'reqps',
      targets: [[`sum by (api) (${rate('millrace_requests_total')})`, '{{api}}']],
    },
    {
      title: 'Produce p99 latency',
      unit: 's',
      targets: [[quantile(0.99, 'millrace_request_duration_seconds', 'instance', 'api="produce"'), '{{instance}}']],
    },
    {
      title: 'Event-loop lag p99',
      unit: 's',
      targets: [[`millrace_nodejs_eventloop_lag_p99_seconds{${sel()}}`, '{{instance}}']],
    },
    {
      title: 'Resident memory',
      unit: 'bytes',
      targets: [[`millrace_process_resident_memory_bytes{${sel()}}`, '{{instance}}']],
    },
    {
      title: 'Data file system free',
      unit: 'percentunit',
      targets: [[`millrace_log_dir_free_bytes{${sel()}} / millrace_log_dir_size_bytes{${sel()}}`, '{{instance}}']],
    },
  ]),

  topics: dashboard(
    'millrace-topics',
    'Topics',
    [
      {
        title: 'Messages in',
        unit: 'ops',
        targets: [[`sum by (topic) (${rate('millrace_messages_in_total', inTopic)})`, '{{topic}}']],
      },
      {
        title: 'Messages out',
        unit: 'ops',
        targets: [[`sum by (topic) (${rate('millrace_messages_out_total', inTopic)})`, '{{topic}}']],
      },
      {
        title: 'Bytes in',
        unit: 'Bps',
        targets: [[`sum by (topic) (${rate('millrace_bytes_in_total', inTopic)})`, '{{topic}}']],
      },
      {
        title: 'Bytes out',
        unit: 'Bps',
        targets: [[`sum by (topic) (${rate('millrace_bytes_out_total', inTopic)})`, '{{topic}}']],
      },
      {
        title: 'Log size (all replicas)',
        unit: 'bytes',
        targets: [[`sum by (topic) (millrace_log_size_bytes{${sel(inTopic)}})`, '{{topic}}']],
      },
      {
        title: 'Partitions not on their preferred leader',
        unit: 'short',
        description: 'Reported by the active controller; `millrace partitions elect-leaders` moves them back.',
        targets: [[`sum by (topic) (millrace_partitions_not_on_preferred_leader{${sel(inTopic)}})`, '{{topic}}']],
      },
      {
        title: 'Records per partition (high watermark minus log start, leaders)',
        unit: 'short',
        targets: [
          [
            `sum by (topic, partition) ((millrace_high_watermark{${sel(inTopic)}} - millrace_log_start_offset{${sel(inTopic)}}) and on (instance, topic, partition) (millrace_follower_lag_offsets{${sel(inTopic)}} == -1))`,
            '{{topic}}-{{partition}}',
          ],
        ],
      },
    ],
    [topicVar],
  ),

  'consumer-groups': dashboard(
    'millrace-consumer-groups',
    'Consumer groups',
    [
      {
        title: 'Lag per group',
        unit: 'short',
        targets: [[`sum by (group) (millrace_consumer_group_lag{${sel(inGroup)}})`, '{{group}}']],
      },
      {
        title: 'Lag per partition',
        unit: 'short',
        targets: [
          [
            `sum by (group, topic, partition) (millrace_consumer_group_lag{${sel(inGroup)}})`,
            '{{group}} {{topic}}-{{partition}}',
          ],
        ],
      },
      {
        title: 'Members',
        unit: 'short',
        targets: [[`sum by (group) (millrace_consumer_group_members{${sel(inGroup)}})`, '{{group}}']],
      },
      {
        title: 'Rebalances',
        unit: 'ops',
        targets: [[`sum by (group) (${rate('millrace_consumer_group_rebalances_total', inGroup)})`, '{{group}}']],
      },
      {
        title: 'State',
        unit: 'short',
        type: 'table',
        w: 24,
        targets: [
          [`max by (group, state) (millrace_consumer_group_state{${sel(inGroup)}}) == 1`, '{{group}}: {{state}}'],
        ],
      },
    ],
    [groupVar],
  ),

  requests: dashboard('millrace-requests', 'Requests', [
    {
      title: 'NATS door: requests per API',
      unit: 'reqps',
      targets: [[`sum by (api) (${rate('millrace_requests_total')})`, '{{api}}']],
    },
    {
      title: 'NATS door: error ratio per API',
      unit: 'percentunit',
      targets: [[errorRatio('millrace_requests_total'), '{{api}}']],
    },
    {
      title: 'NATS door: errors by code',
      unit: 'reqps',
      targets: [[`sum by (api, error) (${rate('millrace_requests_total', 'error!="NONE"')})`, '{{api}} {{error}}']],
    },
    {
      title: 'NATS door: latency p50 and p99 per API',
      unit: 's',
      targets: [
        [quantile(0.5, 'millrace_request_duration_seconds'), 'p50 {{api}}'],
        [quantile(0.99, 'millrace_request_duration_seconds'), 'p99 {{api}}'],
      ],
    },
    {
      title: 'Kafka door: requests per API',
      unit: 'reqps',
      targets: [[`sum by (api) (${rate('millrace_kafka_requests_total')})`, '{{api}}']],
    },
    {
      title: 'Kafka door: error ratio per API',
      unit: 'percentunit',
      targets: [
        [
          `(sum by (api) (${rate('millrace_kafka_request_errors_total')}) or sum by (api) (${rate('millrace_kafka_requests_total')}) * 0) / sum by (api) (${rate('millrace_kafka_requests_total')})`,
          '{{api}}',
        ],
      ],
    },
    {
      title: 'Kafka door: errors by code',
      unit: 'ops',
      targets: [[`sum by (api, error) (${rate('millrace_kafka_request_errors_total')})`, '{{api}} {{error}}']],
    },
    {
      title: 'Kafka door: latency p50 and p99 per API',
      unit: 's',
      targets: [
        [quantile(0.5, 'millrace_kafka_request_duration_seconds'), 'p50 {{api}}'],
        [quantile(0.99, 'millrace_kafka_request_duration_seconds'), 'p99 {{api}}'],
      ],
    },
    { title: 'Kafka connections', unit: 'short', targets: [[`millrace_kafka_connections{${sel()}}`, '{{instance}}']] },
    {
      title: 'NATS requests timed out',
      unit: 'ops',
      description: "Requests brokers sent (replica fetches, the controller's APIs) that got no reply in time.",
      targets: [[`sum by (api) (${rate('millrace_nats_request_timeouts_total')})`, '{{api}}']],
    },
  ]),

  replication: dashboard('millrace-replication', 'Replication', [
    {
      title: 'ISR shrinks and expands',
      unit: 'ops',
      targets: [
        [`sum by (instance) (${rate('millrace_isr_shrinks_total')})`, 'shrinks {{instance}}'],
        [`sum by (instance) (${rate('millrace_isr_expands_total')})`, 'expands {{instance}}'],
      ],
    },
    {
      title: 'Under-replicated partitions per leader',
      unit: 'short',
      targets: [[`millrace_under_replicated_partitions{${sel()}}`, '{{instance}}']],
    },
    {
      title: 'Follower lag (largest, offsets)',
      unit: 'short',
      targets: [[`max by (instance) (millrace_follower_lag_offsets{${sel()}})`, '{{instance}}']],
    },
    {
      title: 'Replica fetches served',
      unit: 'reqps',
      targets: [[`sum by (instance) (${rate('millrace_requests_total', 'api="replica_fetch"')})`, '{{instance}}']],
    },
    {
      title: 'Replica fetch p99 (long polls included)',
      unit: 's',
      targets: [
        [quantile(0.99, 'millrace_request_duration_seconds', 'instance', 'api="replica_fetch"'), '{{instance}}'],
      ],
    },
    {
      title: 'Replicas hosted and led',
      unit: 'short',
      targets: [
        [`millrace_partitions{${sel()}}`, 'hosted {{instance}}'],
        [`millrace_leader_partitions{${sel()}}`, 'led {{instance}}'],
      ],
    },
  ]),

  storage: dashboard('millrace-storage', 'Storage', [
    {
      title: 'Log size per broker',
      unit: 'bytes',
      targets: [[`sum by (instance) (millrace_log_size_bytes{${sel()}})`, '{{instance}}']],
    },
    {
      title: 'Data file system free',
      unit: 'bytes',
      targets: [[`millrace_log_dir_free_bytes{${sel()}}`, '{{instance}} {{dir}}']],
    },
    {
      title: 'Segments per broker',
      unit: 'short',
      targets: [[`sum by (instance) (millrace_log_segments{${sel()}})`, '{{instance}}']],
    },
    {
      title: 'Open log files and evictions',
      unit: 'short',
      targets: [
        [`millrace_log_open_files{${sel()}}`, 'open {{instance}}'],
        [`${rate('millrace_log_file_evictions_total')}`, 'evictions/s {{instance}}'],
      ],
    },
    {
      title: 'Cleaner: passes and records removed',
      unit: 'ops',
      targets: [
        [`${rate('millrace_log_cleaner_runs_total')}`, 'passes {{instance}}'],
        [`${rate('millrace_log_cleaner_records_removed_total')}`, 'removed {{instance}}'],
      ],
    },
    {
      title: 'Cleaner: bytes read and written',
      unit: 'Bps',
      targets: [
        [`${rate('millrace_log_cleaner_bytes_read_total')}`, 'read {{instance}}'],
        [`${rate('millrace_log_cleaner_bytes_written_total')}`, 'written {{instance}}'],
      ],
    },
    {
      title: 'Cleaner: largest dirty ratio',
      unit: 'percentunit',
      targets: [[`millrace_log_cleaner_max_dirty_ratio{${sel()}}`, '{{instance}}']],
    },
  ]),

  process: dashboard('millrace-process', 'Process', [
    {
      title: 'CPU (1 = one core)',
      unit: 'percentunit',
      targets: [[rate('millrace_process_cpu_seconds_total'), '{{instance}}']],
    },
    {
      title: 'Memory',
      unit: 'bytes',
      targets: [
        [`millrace_process_resident_memory_bytes{${sel()}}`, 'resident {{instance}}'],
        [`sum by (instance) (millrace_nodejs_heap_size_used_bytes{${sel()}})`, 'heap used {{instance}}'],
      ],
    },
    {
      title: 'GC time (share of wall time)',
      unit: 'percentunit',
      targets: [
        [`sum by (instance, kind) (${rate('millrace_nodejs_gc_duration_seconds_sum')})`, '{{instance}} {{kind}}'],
      ],
    },
    {
      title: 'Event-loop lag',
      unit: 's',
      targets: [
        [`millrace_nodejs_eventloop_lag_p50_seconds{${sel()}}`, 'p50 {{instance}}'],
        [`millrace_nodejs_eventloop_lag_p99_seconds{${sel()}}`, 'p99 {{instance}}'],
      ],
    },
    {
      title: 'Open file descriptors',
      unit: 'short',
      targets: [[`millrace_process_open_fds{${sel()}}`, '{{instance}}']],
    },
    {
      title: 'NATS connection',
      unit: 'short',
      targets: [
        [`millrace_nats_connected{${sel()}}`, 'connected {{instance}}'],
        [`increase(millrace_nats_reconnects_total{${sel()}}[1h])`, 'reconnects (1h) {{instance}}'],
      ],
    },
    {
      title: 'Restarts (1h)',
      unit: 'short',
      targets: [[`changes(millrace_process_start_time_seconds{${sel()}}[1h])`, '{{instance}}']],
    },
  ]),
};

/** Each dashboard as the file text it is kept in. */
export function renderDashboards() {
  return Object.entries(dashboards).map(([name, d]) => ({
    file: `${name}.json`,
    text: `${JSON.stringify(d, null, 2)}\n`,
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dashboards');
  for (const { file, text } of renderDashboards()) fs.writeFileSync(path.join(dir, file), text);
  console.log(JSON.stringify({ dashboards: Object.keys(dashboards) }));
}
