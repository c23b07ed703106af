/** The generated message classes, with 64-bit integers as numbers. */
import './protobuf-numbers.js';
export { millrace as wire } from './generated/millrace.js';
