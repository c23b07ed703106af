import { afterEach } from 'vitest';
import { TopologyTestDriver, type TestDriverOptions, type Topology } from '../../src/streams/index.js';

const open: TopologyTestDriver[] = [];

afterEach(async () => {
  for (const d of open.splice(0)) await d.close();
});

/** A test driver closed (its stores, its state directory) after the test. */
export function testDriver(topology: Topology, options?: TestDriverOptions): TopologyTestDriver {
  const driver = new TopologyTestDriver(topology, options);
  open.push(driver);
  return driver;
}
