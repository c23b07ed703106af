/** `millrace schema-registry`: Confluent Schema Registry's REST API, schemas kept in `_schemas`. */
import { Command } from 'commander';
import { SchemaRegistryServer } from '../registry/server.js';
import { client, integer, print, untilSignalled, withConnection, type ConnectionFlags } from './common.js';

export function schemaRegistryCommand(): Command {
  return withConnection(
    new Command('schema-registry').description(
      "serve Confluent Schema Registry's REST API (AVRO, PROTOBUF, JSON) from the cluster's compacted _schemas topic",
    ),
  )
    .option('--port <port>', 'HTTP port (0: any free one)', integer('--port', 0), 8081)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (flags: ConnectionFlags & { port: number; host: string }) => {
      const c = client(flags, 'millrace-schema-registry');
      try {
        const registry = await SchemaRegistryServer.start(c, { port: flags.port, host: flags.host });
        print(`schema registry at ${registry.url} (cluster '${flags.cluster}', schemas in _schemas); stop with Ctrl-C`);
        await untilSignalled(() => registry.close());
      } finally {
        await c.close();
      }
    });
}
