/** The generated message classes, with 64-bit integers as numbers (protocol/generate.sh). */
export { millrace as wire } from './generated/millrace.js';
