/**
 * Reading manifests: YAML streams of several documents, parsed with source positions so
 * that every problem names its file, line, column and YAML path. Nothing is returned
 * unless every document of every file is valid.
 */
import { LineCounter, isMap, isNode, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import { ManifestError, type ManifestIssue } from '../errors.js';
import { MAX_ALIAS_COUNT, largestAlias, scanAliases } from './aliases.js';
import type { Manifest } from './types.js';
import { formatPath, validateManifest, type Path } from './validate.js';

/** Options of {@link parseManifests}. */
export interface ParseManifestsOptions {
  /** The file name used in issues. @default undefined */
  file?: string;
}

/** The result of {@link parseManifests}: the objects when valid, and every issue found. */
export interface ParsedManifests {
  objects: Manifest[];
  issues: ManifestIssue[];
}

function nodeAt(doc: Document, path: Path): { node: Node | undefined; keyNode: Node | undefined } {
  let current: unknown = doc.contents;
  let keyNode: Node | undefined;
  for (const part of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => (isNode(p.key) ? (p.key as { value?: unknown }).value : p.key) === part);
      if (!pair) return { node: undefined, keyNode: undefined };
      keyNode = isNode(pair.key) ? pair.key : undefined;
      current = pair.value;
    } else if (isSeq(current) && typeof part === 'number') {
      current = current.items[part];
      keyNode = undefined;
    } else {
      return { node: undefined, keyNode: undefined };
    }
  }
  return { node: isNode(current) ? current : undefined, keyNode };
}

/** The position of the deepest node along `path` that exists (the value, else its key). */
function locate(doc: Document, path: Path, lines: LineCounter): { line: number; col: number } | undefined {
  for (let n = path.length; n >= 0; n--) {
    const { node, keyNode } = nodeAt(doc, path.slice(0, n));
    const target = n === path.length ? (node ?? keyNode) : (keyNode ?? node);
    const offset = target?.range?.[0];
    if (offset !== undefined) return lines.linePos(offset);
  }
  return undefined;
}

/** Where a parsed object came from: its file and document, and the line of any path in it. */
export interface ManifestSource {
  file?: string;
  document: number;
  /** The position of `path` (or of its deepest existing parent) in the file. */
  locate(path: Path): { line: number; column: number } | undefined;
}

const sources = new WeakMap<object, ManifestSource>();

/**
 * Where a manifest object returned by {@link parseManifests} or {@link loadManifests} was
 * written, so that a check made later (reading an image, in `apply`) can name the file,
 * line and YAML path as validation does. `undefined` for an object built in code.
 */
export function manifestSource(object: object): ManifestSource | undefined {
  return sources.get(object);
}

/** A {@link ManifestIssue} at `path` of `object`, with its file and line when the object was parsed. */
export function issueAt(object: object, path: Path, message: string): ManifestIssue {
  const src = manifestSource(object);
  const pos = src?.locate(path);
  return {
    path: formatPath(path),
    message,
    ...(src?.file !== undefined ? { file: src.file } : {}),
    ...(pos ? { line: pos.line, column: pos.column } : {}),
    ...(src ? { document: src.document } : {}),
  };
}

/**
 * Parses a YAML stream of manifests (documents separated by `---`) and validates every
 * document. Empty documents are skipped. Never throws on bad input: problems are in
 * `issues` (and `objects` is empty when there is any).
 */
export function parseManifests(text: string, options: ParseManifestsOptions = {}): ParsedManifests {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const issues: ManifestIssue[] = [];
  const objects: Manifest[] = [];
  const where = (document: number, pos: { line: number; col: number } | undefined): Partial<ManifestIssue> => ({
    ...(options.file !== undefined ? { file: options.file } : {}),
    ...(pos ? { line: pos.line, column: pos.col } : {}),
    document,
  });
  if (!Array.isArray(docs)) return { objects, issues };
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
        issues.push({ path: '', message: `YAML: ${err.message.split('\n')[0] ?? err.message}`, ...where(index, pos) });
      }
      return;
    }
    // Aliases are resolved while converting: check them first, so that a missing anchor or
    // an alias bomb is an issue with a line, not a bare ReferenceError from the library.
    const unresolved = scanAliases(doc);
    if (unresolved.length > 0) {
      for (const a of unresolved) issues.push({ path: formatPath(a.path), message: a.message, ...where(index, lines.linePos(a.offset)) });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      // the library refuses a document whose aliases expand too much (its only
      // ReferenceError left once scanAliases passed): name the alias that expands most
      const culprit = e instanceof ReferenceError ? largestAlias(doc) : undefined;
      const start = doc.contents?.range?.[0] ?? doc.range[0];
      issues.push(
        culprit
          ? { path: formatPath(culprit.path), message: culprit.message, ...where(index, lines.linePos(culprit.offset)) }
          : { path: '', message: `YAML: ${e instanceof Error ? e.message : String(e)}`, ...where(index, lines.linePos(start)) },
      );
      return;
    }
    if (value === null || value === undefined) return; // an empty document (e.g. a trailing ---)
    const found = validateManifest(value).map((issue) => ({
      path: formatPath(issue.path),
      message: issue.message,
      ...where(index, locate(doc, issue.path, lines)),
    }));
    // in source order: people fix files top to bottom
    found.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    issues.push(...found);
    if (found.length === 0) {
      objects.push(value as Manifest);
      sources.set(value, {
        ...(options.file !== undefined ? { file: options.file } : {}),
        document: index,
        locate: (path) => {
          const pos = locate(doc, path, lines);
          return pos ? { line: pos.line, column: pos.col } : undefined;
        },
      });
    }
  });
  // Duplicate names of one kind in one stream are a mistake the user wants to hear about.
  const seen = new Map<string, number>();
  objects.forEach((o) => {
    const key = `${o.kind}/${o.metadata.name}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  });
  for (const [key, count] of seen) {
    if (count > 1) issues.push({ path: 'metadata.name', message: `${key} is declared ${count} times`, ...(options.file !== undefined ? { file: options.file } : {}) });
  }
  return { objects: issues.length === 0 ? objects : [], issues };
}

/** One input of {@link loadManifests}: a file's text, its name for issues, and where its relative paths start. */
export interface ManifestText {
  /** The file name used in issues. @default undefined */
  file?: string;
  text: string;
  /** The directory relative artifact, image and `local.dir` paths in it start from (apply's `baseDir`). @default undefined (apply uses the cwd) */
  baseDir?: string;
}

/** One object {@link loadManifests} read, with the file it came from and that file's base directory. */
export interface LoadedManifest {
  object: Manifest;
  file?: string;
  baseDir?: string;
}

/**
 * Parses and validates several files at once, each once, and throws one
 * {@link ManifestError} listing every problem in all of them; returns every object, in
 * file and then document order, with the file (and base directory) it came from — what
 * `applyManifests` takes, so that relative paths resolve against their own file.
 */
export function loadManifests(sources: readonly ManifestText[]): LoadedManifest[] {
  const issues: ManifestIssue[] = [];
  const loaded: LoadedManifest[] = [];
  for (const source of sources) {
    const r = parseManifests(source.text, source.file !== undefined ? { file: source.file } : {});
    issues.push(...r.issues);
    for (const object of r.objects)
      loaded.push({ object, ...(source.file !== undefined ? { file: source.file } : {}), ...(source.baseDir !== undefined ? { baseDir: source.baseDir } : {}) });
  }
  const seen = new Set<string>();
  for (const { object: o } of loaded) {
    const key = `${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) issues.push({ path: 'metadata.name', message: `${key} is declared more than once` });
    seen.add(key);
  }
  if (issues.length > 0) throw new ManifestError(issues);
  return loaded;
}
