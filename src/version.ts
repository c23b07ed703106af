import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Millrace's version, from the package.json above this file (works from src/ and from dist/). */
export const VERSION: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'millrace' && pkg.version) return pkg.version;
    } catch {
      // not here: look one level up
    }
  }
  return '0.0.0';
})();
