/**
 * The inventory, a YAML file of `kind: Host` documents (other kinds in the same file are
 * ignored), read with the Host model's one parser ({@link parseHostAddress} in `host.ts`, which
 * `@flotilla/cluster`'s manifest validator uses too); host selection: `-H` names, `-R role`,
 * `-l <selector>`; and how to connect to a host ({@link connectHostAddress}).
 */
import { readFileSync } from 'node:fs';
import { parseSelector, selectorFromSet, validateLabels, type Selector } from '@flotilla/labels';
import { LineCounter, parseAllDocuments } from 'yaml';
import { Connection, type ConnectionOptions } from './connection.js';
import { DeployError } from './errors.js';
import { parseHostAddress, type HostAddress } from './host.js';
import type { SshOptions } from './ssh-target.js';

export type { HostAddress } from './host.js';

/** One `kind: Host` document. */
export interface InventoryHost extends HostAddress {
  name: string;
  labels: Record<string, string>;
  /** The whole `spec`, for layers that read more of it (capacity, taints, …). */
  spec: Record<string, unknown>;
}

/** An inventory file had problems; `issues` lists every one, with its place. */
export class InventoryError extends DeployError {
  override name = 'InventoryError';
  readonly issues: string[];
  constructor(file: string, issues: string[]) {
    super('inventory', `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `['spec', 'local', 'dir']` → `spec.local.dir` (the manifest validator's spelling). */
const formatHostPath = (path: readonly (string | number)[]): string => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

/** Parses inventory YAML; reports every problem at once with document and line. */
export function parseInventory(text: string, file = 'hosts.yaml'): InventoryHost[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc });
  const issues: string[] = [];
  const hosts: InventoryHost[] = [];
  const seen = new Set<string>();
  docs.forEach((doc, i) => {
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lc.linePos(start).line;
    const where = `document ${i + 1} (line ${line})`;
    for (const e of doc.errors) issues.push(`${where}: ${e.message}`);
    if (doc.errors.length) return;
    let v: unknown;
    try {
      // aliases resolve here: an unresolved one or an alias bomb (the library's limit,
      // 100 expansions) is an issue of this document, not a bare ReferenceError
      v = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      return void issues.push(`${where}: YAML: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (v === null || v === undefined) return;
    if (!isRecord(v)) return void issues.push(`${where}: expected a mapping`);
    if (v.kind !== 'Host') return;
    const meta = isRecord(v.metadata) ? v.metadata : {};
    const spec = isRecord(v.spec) ? v.spec : {};
    const name = meta.name;
    if (typeof name !== 'string' || name === '') issues.push(`${where}: metadata.name is required`);
    else if (seen.has(name)) issues.push(`${where}: metadata.name "${name}" is used twice`);
    const labels: Record<string, string> = {};
    if (meta.labels !== undefined) {
      if (!isRecord(meta.labels)) issues.push(`${where}: metadata.labels must be a mapping`);
      else
        for (const [k, lv] of Object.entries(meta.labels)) {
          if (typeof lv === 'string' || typeof lv === 'number' || typeof lv === 'boolean') labels[k] = String(lv);
          else issues.push(`${where}: metadata.labels.${k} must be a string`);
        }
      for (const m of validateLabels(labels)) issues.push(`${where}: metadata.labels: ${m}`);
    }
    // where the host is: the Host model's parser, with the inventory's rules (not strict)
    const parsed = parseHostAddress(v.spec);
    for (const issue of parsed.issues) issues.push(`${where}: ${formatHostPath(issue.path)}: ${issue.message}`);
    if (typeof name === 'string' && name !== '' && !seen.has(name)) {
      seen.add(name);
      if (parsed.address) hosts.push({ name, labels, spec, ...parsed.address });
    }
  });
  if (issues.length) throw new InventoryError(file, issues);
  return hosts;
}

/** Reads an inventory. A missing file is an empty inventory unless `required`. */
export function loadInventory(file = 'hosts.yaml', options: { required?: boolean } = {}): InventoryHost[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !options.required) return [];
    throw new DeployError('inventory', `cannot read inventory ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseInventory(text, file);
}

/** Which hosts: `-H` entries, `-R` roles, `-l` selector. */
export interface HostSelection {
  /** `-H a,b`: inventory names, else ssh_config aliases, else `[user@]address[:port]`. */
  hosts?: string[];
  /** `-R web` means `-l role=web`; several roles mean `role in (…)`. */
  roles?: string[];
  /** `-l <selector>` over inventory labels. */
  selector?: string | Selector;
}

/** A selected host: an inventory entry or a bare destination. */
export interface HostRef {
  name: string;
  inventory?: InventoryHost;
  /** For hosts not in the inventory: the destination given. */
  destination?: string;
}

/** True when nothing is selected. */
export function isEmptySelection(s: HostSelection): boolean {
  return !s.hosts?.length && !s.roles?.length && (s.selector === undefined || s.selector === '');
}

/**
 * Resolves a selection against the inventory: `-H` entries in order, then hosts matched by
 * `-R`/`-l` in inventory order, without duplicates.
 */
export function selectHosts(inventory: readonly InventoryHost[], selection: HostSelection): HostRef[] {
  const out: HostRef[] = [];
  const seen = new Set<string>();
  const add = (r: HostRef): void => {
    if (seen.has(r.name)) return;
    seen.add(r.name);
    out.push(r);
  };
  const byName = new Map(inventory.map((h) => [h.name, h]));
  for (const h of selection.hosts ?? []) {
    if (h === '') continue;
    const inv = byName.get(h);
    add(inv ? { name: h, inventory: inv } : { name: h, destination: h });
  }
  const selectors: Selector[] = [];
  if (selection.roles?.length) {
    selectors.push(selection.roles.length === 1 ? selectorFromSet({ role: selection.roles[0]! }) : parseSelector(`role in (${selection.roles.join(',')})`));
  }
  if (selection.selector !== undefined && selection.selector !== '') {
    selectors.push(typeof selection.selector === 'string' ? parseSelector(selection.selector) : selection.selector);
  }
  if (selectors.length) {
    for (const h of inventory) if (selectors.every((s) => s.matches(h.labels))) add({ name: h.name, inventory: h });
  }
  return out;
}

/**
 * Opens (lazily) a {@link Connection} named `name` to the host at `where`: its local
 * directory, else ssh to its address. `options.user`/`port`/`proxyJump` (the CLI's) override
 * the host's, which override ssh_config; the host's `identityFile` is tried after
 * `options.identityFiles`. Throws a `TypeError` when `where` has neither address nor local.
 */
export function connectHostAddress(name: string, where: HostAddress, options: SshOptions & ConnectionOptions = {}): Connection {
  if (where.local) return Connection.localDir(where.local.dir, { ...options, name });
  if (where.address === undefined) throw new TypeError(`host ${name}: expected spec.address or spec.local.dir, received neither`);
  const opts: SshOptions & ConnectionOptions = {
    ...options,
    ...(options.user === undefined && where.user !== undefined ? { user: where.user } : {}),
    ...(options.port === undefined && where.port !== undefined ? { port: where.port } : {}),
    ...(where.proxyJump !== undefined && options.proxyJump === undefined ? { proxyJump: where.proxyJump } : {}),
    identityFiles: [...(options.identityFiles ?? []), ...(where.identityFile ? [where.identityFile] : [])],
  };
  return Connection.ssh(where.address, { ...opts, name });
}

/** Opens (lazily) a {@link Connection} to a selected host ({@link connectHostAddress} for an inventory host). CLI-level `user`/`port`/`identityFiles` override the inventory, which overrides ssh_config. */
export function connectHost(ref: HostRef, options: SshOptions & ConnectionOptions = {}): Connection {
  if (ref.inventory) return connectHostAddress(ref.name, ref.inventory, options);
  return Connection.ssh(ref.destination ?? ref.name, { ...options, name: ref.name });
}
