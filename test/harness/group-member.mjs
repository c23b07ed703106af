// A child process for consumer-group tests: one member of a group, printing JSON lines:
// {"e":"assigned"|"revoked"|"lost","tps":["t-0",...],"t":ms} and {"e":"r","p":partition,"o":offset,"v":value}.
// Options come as one JSON argument. SIGTERM closes the consumer cleanly (commit, leave).
import { Millrace } from '../../dist/src/client/index.js';

const o = JSON.parse(process.argv[2]);
const client = new Millrace({ servers: o.nats, cluster: o.cluster, clientId: o.clientId ?? 'member' });
const out = (line) => process.stdout.write(`${JSON.stringify({ ...line, t: Date.now() })}\n`);
const names = (tps) => tps.map((tp) => `${tp.topic}-${tp.partition}`);
const consumer = client.consumer({
  groupId: o.group,
  groupInstanceId: o.instanceId,
  sessionTimeoutMs: o.sessionTimeoutMs ?? 3000,
  heartbeatIntervalMs: o.heartbeatIntervalMs ?? 300,
  maxPollIntervalMs: o.maxPollIntervalMs ?? 30000,
  autoCommitIntervalMs: o.autoCommitIntervalMs ?? 500,
  assignors: o.assignors,
});
consumer.subscribe({
  topics: [o.topic],
  fromBeginning: true,
  listener: {
    assigned: (tps) => out({ e: 'assigned', tps: names(tps) }),
    revoked: (tps) => out({ e: 'revoked', tps: names(tps) }),
    lost: (tps) => out({ e: 'lost', tps: names(tps) }),
  },
});
process.on('SIGTERM', () => {
  void consumer
    .close()
    .then(() => client.close())
    .then(() => process.exit(0));
});
consumer
  .run({
    eachMessage: async ({ partition, message }) => {
      out({ e: 'r', p: partition, o: Number(message.offset), v: message.value.toString() });
      if (o.handlerDelayMs) await new Promise((r) => setTimeout(r, o.handlerDelayMs));
    },
  })
  .catch((err) => {
    out({ e: 'error', message: String(err?.message ?? err) });
    process.exit(1);
  });
