/**
 * IPv4 addresses and CIDR blocks as numbers: parse, format, contain, overlap. Pure.
 */

/** An IPv4 block: `base` is the network address (host bits zero) as an unsigned 32-bit number. */
export interface Cidr {
  base: number;
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The address as an unsigned 32-bit number, or `undefined` when `text` is no dotted-quad IPv4 address. */
export function parseIPv4(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** `a.b.c.d` of an unsigned 32-bit number. */
export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Whether `text` is an IPv4 address. */
export function isIPv4(text: unknown): text is string {
  return typeof text === 'string' && parseIPv4(text) !== undefined;
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses `a.b.c.d/p`. With `strict` (the default) host bits must be zero (`10.0.0.1/24` is
 * refused: say `10.0.0.0/24`); otherwise they are cleared.
 */
export function parseCidr(text: string, options: { strict?: boolean } = {}): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const addr = parseIPv4(m[1]!);
  const prefix = Number(m[2]);
  if (addr === undefined || prefix > 32) return undefined;
  const base = (addr & mask(prefix)) >>> 0;
  if (base !== addr && options.strict !== false) return undefined;
  return { base, prefix };
}

/** `a.b.c.d/p`. */
export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

/** Whether the address `ip` (a number) lies in `c`. */
export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

/** Whether two blocks share an address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The block's `n`-th address (0 = the network address). */
export function cidrAddress(c: Cidr, n: number): number {
  return (c.base + n) >>> 0;
}

/** The number of addresses in the block. */
export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}
