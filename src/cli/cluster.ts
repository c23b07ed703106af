/** `millrace cluster status`: brokers, controller and topics at a glance. */
import { Command } from 'commander';
import { client, print, withConnection, type ConnectionFlags } from './common.js';

export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('the cluster as a whole');
  withConnection(cluster.command('status').description('brokers, controller, topics and partitions without a leader'))
    .option('--json', 'as JSON')
    .action(async (flags: ConnectionFlags & { json?: boolean }) => {
      const c = client(flags, 'millrace-cli');
      try {
        const admin = c.admin();
        const status = await admin.describeCluster();
        const topics = await admin.describeTopics();
        const partitions = topics.reduce((n, t) => n + t.partitions.length, 0);
        const offline = topics.flatMap((t) =>
          t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}-${p.partition}`),
        );
        if (flags.json) {
          print(JSON.stringify({ ...status, topics: topics.length, partitions, offlinePartitions: offline }, null, 2));
          return;
        }
        print(
          `cluster ${status.cluster}: controller broker ${status.controllerId} (epoch ${status.controllerEpoch}), metadata version ${status.metadataVersion}`,
        );
        for (const b of status.brokers)
          print(
            `  broker ${b.id}${b.rack ? ` rack ${b.rack}` : ''}: ${b.fenced ? 'fenced' : 'live'}${b.kafkaEndpoint ? `, Kafka at ${b.kafkaEndpoint}` : ''}`,
          );
        print(
          `${topics.length} topics, ${partitions} partitions, ${offline.length} offline${offline.length ? `: ${offline.join(', ')}` : ''}`,
        );
      } finally {
        await c.close();
      }
    });
  return cluster;
}
