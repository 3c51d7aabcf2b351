/**
 * The options every `flo` command shares (help, version, output) and those of the commands
 * that reach hosts over ssh (-H, -R, -l, batch, timeouts, identity).
 */
import type { OptionSpec, ParsedArgs } from './args.js';

/** Options every command understands. */
export const basicOptions: readonly OptionSpec[] = [
  { name: 'help', short: 'h', type: 'boolean', description: 'show help' },
  { name: 'version', type: 'boolean', description: 'print the version' },
  { name: 'verbose', short: 'v', type: 'boolean', description: 'say more on stderr: every retry of a store call, and the stack of an error (as FLOTILLA_DEBUG=1)' },
  { name: 'output', short: 'o', type: 'string', value: 'FORMAT', description: 'output format: text (default), wide, json, yaml or name — which ones a command prints: flo <command> --help' },
];

/** Host selection, connection and failure-policy options (DESIGN.md, CLI). */
export const deployOptions: readonly OptionSpec[] = [
  { name: 'hosts', short: 'H', type: 'string', multiple: true, value: 'h1,h2', description: 'hosts: inventory names, ssh_config aliases or [user@]address[:port]' },
  { name: 'roles', short: 'R', type: 'string', multiple: true, value: 'ROLE', description: 'inventory hosts with label role=ROLE' },
  { name: 'selector', short: 'l', type: 'string', value: 'SELECTOR', description: 'inventory hosts matching a label selector (e.g. env=prod,zone in (a,b))' },
  { name: 'list-hosts', type: 'boolean', description: 'print the hosts the selection matches (per task for deployfile tasks) and exit, connecting to none (Ansible\'s --list-hosts)' },
  { name: 'file', short: 'f', type: 'string', value: 'FILE', description: 'deployfile (default: flotilla.config.{ts,mts,js,mjs} here or above)' },
  { name: 'inventory', short: 'i', type: 'string', value: 'FILE', description: 'inventory of kind: Host documents (default ./hosts.yaml)' },
  { name: 'ssh-config', type: 'string', value: 'FILE', description: 'ssh_config file instead of ~/.ssh/config and /etc/ssh/ssh_config' },
  { name: 'accept-new-host-keys', type: 'boolean', description: 'accept and record unknown host keys (changed keys are always refused)' },
  { name: 'user', short: 'u', type: 'string', value: 'USER', description: 'remote user (overrides inventory and ssh_config)' },
  { name: 'port', type: 'string', value: 'PORT', description: 'ssh port (overrides inventory and ssh_config)' },
  { name: 'identity', type: 'string', multiple: true, value: 'FILE', description: 'private key file, tried first' },
  { name: 'parallel', type: 'string', value: 'N', description: 'hosts worked on at once (default 64)' },
  { name: 'serial', type: 'boolean', description: 'one host at a time' },
  { name: 'batch', type: 'string', value: 'N|P%', description: 'rolling batches of N hosts (or P% of them)' },
  { name: 'batch-wait', type: 'string', value: 'SECONDS', description: 'pause between batches' },
  { name: 'health-check', type: 'string', value: 'COMMAND', description: 'command run on each host of a batch before the next batch starts' },
  { name: 'max-fail', type: 'string', value: 'N|P%', description: 'stop starting hosts once more than this many failed (default 0)' },
  { name: 'threads', type: 'string', value: 'N', description: 'worker threads for the ssh work of many hosts (default 1: this thread)' },
  {
    name: 'timeout',
    type: 'string',
    value: 'SECONDS',
    description: 'bound on each remote operation of a host (a command, an upload, a download; waiting for the connection included): at the timeout the host fails, even one that stopped answering',
  },
  {
    name: 'connect-timeout',
    type: 'string',
    value: 'SECONDS',
    description: 'give up connecting (TCP, ssh handshake, authentication) after this long; the host is unreachable (default ssh_config ConnectTimeout, else 20)',
  },
  {
    name: 'persist',
    type: 'string',
    value: 'DURATION',
    description: 'keep ssh connections open in a background daemon for DURATION after last use (30s, 10m, 1h; 0 = off), so the next flo skips the handshakes; default $FLO_PERSIST, else off. `flo disconnect` closes them',
  },
  { name: 'sudo-password-stdin', type: 'boolean', description: 'read the sudo password from the first line of stdin (else asked on the terminal when needed)' },
];

/** `-v`/`--verbose`, or `FLOTILLA_DEBUG` set (its older spelling, which keeps working). */
export function isVerbose(args: ParsedArgs, env: NodeJS.ProcessEnv): boolean {
  return args.options.verbose === true || (env.FLOTILLA_DEBUG !== undefined && env.FLOTILLA_DEBUG !== '');
}
