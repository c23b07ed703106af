/** Brokers as child processes (`millrace broker`), for restart and crash tests. */
export { spawnBroker, type BrokerProcess } from '../../src/chaos/broker-process.js';
