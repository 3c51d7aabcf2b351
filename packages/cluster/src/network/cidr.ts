/**
 * IPv4 addresses and CIDR blocks as plain numbers: parsing with clear errors, containment,
 * overlap, and the n-th subnet or address of a block. Pure; no I/O.
 */

/** An IPv4 block: its first address (as an unsigned 32-bit number) and its prefix length. */
export interface Cidr {
  /** The first address, host bits zero. */
  readonly base: number;
  /** 0–32. */
  readonly prefix: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** An IPv4 address as a number, or a message saying what is wrong with it. */
export function parseIpv4(text: string): number | string {
  const parts = text.split('.');
  if (parts.length !== 4) return `${JSON.stringify(text)} is not an IPv4 address (four numbers 0-255 separated by dots, e.g. 10.244.0.0)`;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p) || Number(p) > 255) return `${JSON.stringify(text)} is not an IPv4 address: ${JSON.stringify(p)} is not a number 0-255`;
    n = n * 256 + Number(p);
  }
  return n;
}

/** Dotted form of a number. */
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Parses `a.b.c.d/p`. Returns the block, or a message (what is wrong and how to write it).
 * Host bits must be zero (`10.244.1.0/16` is refused, naming `10.244.0.0/16`), as Kubernetes
 * refuses a cluster CIDR with host bits set.
 */
export function parseCidr(text: string): Cidr | string {
  if (typeof text !== 'string') return `must be a CIDR string like 10.244.0.0/16, not ${typeof text}`;
  const slash = text.indexOf('/');
  if (slash < 0) return `${JSON.stringify(text)} is not a CIDR block: expected ADDRESS/PREFIX, e.g. 10.244.0.0/16`;
  const ip = parseIpv4(text.slice(0, slash));
  if (typeof ip === 'string') return `${JSON.stringify(text)} is not a CIDR block: ${ip}`;
  const p = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(p) || Number(p) > 32) return `${JSON.stringify(text)} is not a CIDR block: the prefix ${JSON.stringify(p)} is not a number 0-32`;
  const prefix = Number(p);
  const base = maskOf(ip, prefix);
  if (base !== ip) return `${JSON.stringify(text)} has host bits set: the block is ${formatCidr({ base, prefix })}`;
  return { base, prefix };
}

function maskOf(ip: number, prefix: number): number {
  if (prefix === 0) return 0;
  return (ip & (~0 << (32 - prefix))) >>> 0;
}

/** `a.b.c.d/p`. */
export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** How many addresses the block holds. */
export function sizeOf(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** Is the address inside the block? */
export function containsIp(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + sizeOf(c);
}

/** Is `inner` wholly inside `outer`? */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && containsIp(outer, inner.base);
}

/** Do the two blocks share an address? (Two CIDR blocks overlap only when one contains the other.) */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return containsCidr(a, b) || containsCidr(b, a);
}

/** How many `/subnetPrefix` subnets the block divides into (0 when the subnet is larger). */
export function subnetCount(c: Cidr, subnetPrefix: number): number {
  return subnetPrefix < c.prefix ? 0 : 2 ** (subnetPrefix - c.prefix);
}

/** The `index`-th `/subnetPrefix` subnet of the block. */
export function nthSubnet(c: Cidr, subnetPrefix: number, index: number): Cidr {
  if (!Number.isInteger(index) || index < 0 || index >= subnetCount(c, subnetPrefix))
    throw new RangeError(`subnet ${index} is outside ${formatCidr(c)} (it has ${subnetCount(c, subnetPrefix)} /${subnetPrefix} subnets)`);
  return { base: c.base + index * 2 ** (32 - subnetPrefix), prefix: subnetPrefix };
}

/** The `index`-th address of the block (0 = its first). */
export function nthAddress(c: Cidr, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= sizeOf(c)) throw new RangeError(`address ${index} is outside ${formatCidr(c)}`);
  return c.base + index;
}
