/** `millrace bench security` runs both sides (plain and secured, both doors), prints its JSON and exits. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

describe('millrace bench security', () => {
  it('measures produce without and with security through both doors, and exits', async () => {
    const r = await runCli(['bench', 'security', '--records', '20000', '--partitions', '2'], undefined, 110_000);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      recordsPerSecond: Record<'plain' | 'secured', Record<'nats' | 'kafka', number>>;
      securedOverPlain: Record<'nats' | 'kafka', number>;
    };
    for (const side of ['plain', 'secured'] as const)
      for (const door of ['nats', 'kafka'] as const) expect(result.recordsPerSecond[side][door]).toBeGreaterThan(0);
    expect(result.securedOverPlain.nats).toBeGreaterThan(0);
    expect(result.securedOverPlain.kafka).toBeGreaterThan(0);
  });
});
