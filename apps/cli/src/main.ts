/**
 * The `flo` executable's entry (bin/flo.js imports the built copy of this file).
 */
import { main } from './cli.js';

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() });
process.stdout.write('', () => process.exit(code));
