/**
 * The Host model's one parser: the `spec` fields of a `kind: Host` document that say where a
 * host is ({@link HostAddress}), read and checked by {@link parseHostAddress} for both callers
 * — the inventory (`inventory.ts`) and `@flotilla/cluster`'s manifest validator, which adds
 * its own fields (capacity, taints, agent, …) on top. No YAML, ssh or file I/O here.
 */

/**
 * Where a host is: an ssh address (or ssh_config alias) with the user, port, key and jump host
 * to use, or a directory on this machine (the `local` transport). The one model of a host's
 * whereabouts: the inventory's hosts are these, and `@flotilla/cluster`'s `HostSpec` extends it.
 */
export interface HostAddress {
  /** Address or ssh_config alias (absent for a local host). */
  address?: string;
  user?: string;
  port?: number;
  identityFile?: string;
  proxyJump?: string;
  /** A host that is a directory on this machine. */
  local?: { dir: string };
}

/** A problem in a Host document: where (`['spec', 'port']`) and what, as manifest validation reports them. */
export interface HostIssue {
  path: readonly (string | number)[];
  message: string;
}

/** The `spec` fields {@link parseHostAddress} reads: {@link HostAddress}'s. */
export const HOST_ADDRESS_FIELDS = ['address', 'user', 'port', 'identityFile', 'proxyJump', 'local'] as const;

/** Options of {@link parseHostAddress}. */
export interface ParseHostAddressOptions {
  /**
   * The manifest's rules (`@flotilla/cluster`, `flo apply`): a spec names exactly one of
   * `address` and `local`, `local` holds `dir` alone, and `dir` is not empty. Without it (the
   * inventory's rules, kept so that every inventory that loaded still loads), a spec with both
   * is read and `local` wins (as `connectHostAddress` does), and other keys of `local`
   * are ignored. Every other rule is the same under both.
   * @default false
   */
  strict?: boolean;
}

/** What {@link parseHostAddress} found: the address when the fields are valid, and every problem. */
export interface ParsedHostAddress {
  /** Present when `issues` is empty. */
  address?: HostAddress;
  issues: HostIssue[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const absent = (v: unknown): v is null | undefined => v === undefined || v === null;

/** How a value is named in a message: `"x"`, `a list`, `a mapping`, `7`. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (isRecord(v)) return 'a mapping';
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : v === null ? 'null' : typeof v;
}

const WHERE = 'address: (an ssh address or ssh_config alias) or local: {dir} (a directory on this machine)';

/**
 * Reads the {@link HostAddress} fields of a Host's `spec` (`address`, `user`, `port`,
 * `identityFile`, `proxyJump`, `local: {dir}`) and reports every problem at once, each with its
 * path from the document (`spec.port`). A field set to `null` counts as absent. Other fields of
 * the spec are the caller's: the inventory keeps them, the manifest validator checks them.
 *
 * @example
 * parseHostAddress({ address: 'web1', port: 70000 }).issues
 * // [{ path: ['spec', 'port'], message: 'must be between 1 and 65535, not 70000' }]
 */
export function parseHostAddress(spec: unknown, options: ParseHostAddressOptions = {}): ParsedHostAddress {
  const issues: HostIssue[] = [];
  const add = (path: readonly (string | number)[], message: string): void => {
    issues.push({ path, message });
  };
  if (absent(spec)) return { issues: [{ path: ['spec'], message: `is required: ${WHERE}` }] };
  if (!isRecord(spec)) return { issues: [{ path: ['spec'], message: `must be a mapping, not ${show(spec)}` }] };
  const strict = options.strict === true;
  // the whole spec first, then field by field
  const hasAddress = !absent(spec.address);
  const hasLocal = !absent(spec.local);
  if (!hasAddress && !hasLocal) add(['spec'], `needs ${WHERE}`);
  else if (strict && hasAddress && hasLocal) add(['spec'], 'set either address or local, not both');


  const text = (key: 'address' | 'user' | 'identityFile' | 'proxyJump'): string | undefined => {
    const v = spec[key];
    if (absent(v)) return undefined;
    if (typeof v === 'string') return v;
    add(['spec', key], `must be a string, not ${show(v)}`);
    return undefined;
  };
  const address = text('address');
  const user = text('user');
  const identityFile = text('identityFile');
  const proxyJump = text('proxyJump');

  let port: number | undefined;
  if (!absent(spec.port)) {
    if (typeof spec.port !== 'number' || !Number.isInteger(spec.port)) add(['spec', 'port'], `must be an integer, not ${show(spec.port)}`);
    else if (spec.port < 1 || spec.port > 65535) add(['spec', 'port'], `must be between 1 and 65535, not ${spec.port}`);
    else port = spec.port;
  }

  let local: { dir: string } | undefined;
  if (!absent(spec.local)) {
    if (!isRecord(spec.local)) add(['spec', 'local'], `must be a mapping {dir: <path>}, not ${show(spec.local)}`);
    else {
      if (strict)
        for (const key of Object.keys(spec.local)) if (key !== 'dir') add(['spec', 'local', key], 'unknown field (expected one of: dir)');
      const dir = spec.local.dir;
      if (absent(dir)) add(['spec', 'local', 'dir'], 'is required');
      else if (typeof dir !== 'string') add(['spec', 'local', 'dir'], `must be a string, not ${show(dir)}`);
      else if (strict && dir === '') add(['spec', 'local', 'dir'], 'must not be empty');
      else local = { dir };
    }
  }

  if (issues.length > 0) return { issues };
  return {
    address: {
      ...(address !== undefined ? { address } : {}),
      ...(user !== undefined ? { user } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(identityFile !== undefined ? { identityFile } : {}),
      ...(proxyJump !== undefined ? { proxyJump } : {}),
      ...(local !== undefined ? { local } : {}),
    },
    issues,
  };
}
