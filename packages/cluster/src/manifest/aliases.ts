/**
 * YAML anchors and aliases in manifests, checked before a document is turned into data.
 *
 * The `yaml` library resolves aliases while it builds JavaScript values and throws a bare
 * `ReferenceError` (no file, no line) for an alias without an anchor before it, and for an
 * "alias bomb" (billion laughs: anchors that alias anchors, growing exponentially). This
 * module finds those aliases in the parsed document itself, with their offsets and YAML
 * paths, so that they become ordinary manifest issues:
 * - {@link scanAliases}: aliases whose anchor is missing or comes later, and aliases inside
 *   the node they name (a cycle) — before any conversion;
 * - {@link largestAlias}: when the library refused a document for its alias count, the
 *   alias that expands to the most nodes (the one to blame), counted without expanding.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Alias, type Document, type Node } from 'yaml';
import type { Path } from './validate.js';

/**
 * How many alias resolutions (weighted by the aliases nested in what they name, the `yaml`
 * library's measure) one document may make. The library's default; plenty for manifests
 * that share an `env` or `resources` block, and far below what an alias bomb needs.
 */
export const MAX_ALIAS_COUNT = 100;

/** An alias found in a document: where it is, and what is wrong with it. */
export interface AliasFinding {
  /** Offset of the alias (`*name`) in the source text. */
  offset: number;
  /** YAML path of the alias. */
  path: Path;
  message: string;
}

interface Visit {
  alias: Alias;
  path: Path;
  /** The anchored node it names, when an anchor of that name comes before it. */
  target: Node | undefined;
}

/**
 * Walks the document in source order (the order in which the library resolves aliases:
 * a node's anchor is defined before its children) and yields every alias with the node it
 * names, and whether it sits inside that node.
 */
function walkAliases(doc: Document): { visits: Visit[]; cyclic: Set<Alias> } {
  const anchors = new Map<string, Node>();
  const open: Node[] = []; // anchored collections we are inside of
  const visits: Visit[] = [];
  const cyclic = new Set<Alias>();
  const walk = (node: unknown, path: Path): void => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      visits.push({ alias: node, path, target });
      if (target !== undefined && open.includes(target)) cyclic.add(node);
      return;
    }
    if (!isMap(node) && !isSeq(node) && !isScalar(node)) return;
    if (node.anchor !== undefined) anchors.set(node.anchor, node);
    if (isScalar(node)) return;
    if (node.anchor !== undefined) open.push(node);
    if (isSeq(node)) node.items.forEach((item, i) => walk(item, [...path, i]));
    else {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        walk(pair.key, path);
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        walk(pair.value, typeof key === 'string' || typeof key === 'number' ? [...path, key] : path);
      }
    }
    if (node.anchor !== undefined) open.pop();
  };
  walk(doc.contents, []);
  return { visits, cyclic };
}

/** Aliases that cannot be resolved: no anchor of that name before them, or inside the node they name. */
export function scanAliases(doc: Document): AliasFinding[] {
  const { visits, cyclic } = walkAliases(doc);
  const found: AliasFinding[] = [];
  for (const v of visits) {
    const offset = v.alias.range?.[0] ?? 0;
    if (v.target === undefined) {
      found.push({
        offset,
        path: v.path,
        message: `YAML: alias *${v.alias.source} has no anchor &${v.alias.source} before it (define the anchor first, in the same document)`,
      });
    } else if (cyclic.has(v.alias)) {
      found.push({ offset, path: v.path, message: `YAML: alias *${v.alias.source} is inside the node &${v.alias.source} names (a cycle)` });
    }
  }
  return found;
}

/**
 * The alias that expands to the most nodes, and how many: what to name when the library
 * refused a document for its aliases. Sizes are counted once per anchored node (memoised),
 * so a billion-laughs document is measured in time linear in its text.
 * `undefined` when the document has no alias.
 */
export function largestAlias(doc: Document): (AliasFinding & { nodes: number }) | undefined {
  const { visits } = walkAliases(doc);
  const targets = new Map<Alias, Node | undefined>(visits.map((v) => [v.alias, v.target]));
  const sizes = new Map<Node, number>();
  const busy = new Set<Node>();
  const size = (node: unknown): number => {
    if (isAlias(node)) {
      const target = targets.get(node);
      return target === undefined || busy.has(target) ? 1 : size(target);
    }
    if (isScalar(node)) return 1;
    if (!isMap(node) && !isSeq(node)) return 0;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    busy.add(node);
    let n = 1;
    for (const item of node.items) n += isPair(item) ? size(item.key) + size(item.value) : size(item);
    busy.delete(node);
    sizes.set(node, n);
    return n;
  };
  let best: { visit: Visit; nodes: number } | undefined;
  for (const v of visits) {
    const nodes = v.target === undefined ? 1 : size(v.target);
    if (best === undefined || nodes > best.nodes) best = { visit: v, nodes };
  }
  if (best === undefined) return undefined;
  const { visit, nodes } = best;
  return {
    offset: visit.alias.range?.[0] ?? 0,
    path: visit.path,
    nodes,
    message:
      `YAML: too many aliases (more than ${MAX_ALIAS_COUNT} expansions in one document: an alias bomb?): ` +
      `${visits.length} aliases; the largest, *${visit.alias.source} here, expands to ${nodes.toLocaleString('en-US')} node${nodes === 1 ? '' : 's'}`,
  };
}
