// Guides show code that lives in example files, which CI compiles and runs. A code block in a
// Markdown file preceded by
//     <!-- example: packages/cluster/examples/backup-controller.ts#kind -->
// must be exactly that file's region `kind` (the lines between `// #region kind` and
// `// #endregion kind`, or `# #region kind` in YAML and shell), or the whole file (minus region
// markers) when no region is named. `docExampleProblems` lists every block that differs, so a
// test fails when a guide and its example disagree.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const MARKER = /^<!-- example: (\S+?)(?:#([\w-]+))? -->$/;
const REGION = /^\s*(?:\/\/|#) #(end)?region(?: ([\w-]+))?\s*$/;

/** The text a marker names: a region of a file, or the whole file, without region markers. */
export function exampleText(root: string, file: string, region?: string): string {
  const lines = readFileSync(join(root, file), 'utf8').replace(/\n$/, '').split('\n');
  if (region === undefined) return lines.filter((l) => !REGION.test(l)).join('\n');
  const start = lines.findIndex((l) => REGION.exec(l)?.[1] === undefined && REGION.exec(l)?.[2] === region);
  const end = lines.findIndex((l, i) => i > start && REGION.exec(l)?.[1] === 'end' && REGION.exec(l)?.[2] === region);
  if (start < 0 || end < 0) throw new Error(`${file} has no region ${region} (// #region ${region} … // #endregion ${region})`);
  return lines.slice(start + 1, end).filter((l) => !REGION.test(l)).join('\n');
}

/** Where the examples of a Markdown file are: each marker with the fenced block after it. */
export function docExamples(markdown: string): { line: number; file: string; region?: string; block: string }[] {
  const lines = markdown.split('\n');
  const out: { line: number; file: string; region?: string; block: string }[] = [];
  lines.forEach((text, i) => {
    const m = MARKER.exec(text.trim());
    if (!m) return;
    const open = lines[i + 1] ?? '';
    const fence = /^(`{3,})\w*/.exec(open)?.[1];
    if (fence === undefined) {
      out.push({ line: i + 1, file: m[1]!, ...(m[2] ? { region: m[2] } : {}), block: '\u0000no code block after the marker' });
      return;
    }
    const close = lines.findIndex((l, j) => j > i + 1 && l.trimEnd() === fence);
    out.push({ line: i + 1, file: m[1]!, ...(m[2] ? { region: m[2] } : {}), block: lines.slice(i + 2, close < 0 ? undefined : close).join('\n') });
  });
  return out;
}

/** Every block of `markdownFile` (relative to `root`; its text may be given) that is not its example's text, as `file:line: problem`. */
export function docExampleProblems(root: string, markdownFile: string, markdown = readFileSync(join(root, markdownFile), 'utf8')): string[] {
  const problems: string[] = [];
  for (const ex of docExamples(markdown)) {
    const where = `${markdownFile}:${ex.line}`;
    if (!existsSync(join(root, ex.file))) {
      problems.push(`${where}: ${ex.file} does not exist`);
      continue;
    }
    let expected: string;
    try {
      expected = exampleText(root, ex.file, ex.region);
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
      continue;
    }
    if (ex.block !== expected) {
      const a = ex.block.split('\n');
      const b = expected.split('\n');
      const at = a.findIndex((l, i) => l !== b[i]);
      const n = at < 0 ? Math.min(a.length, b.length) : at;
      problems.push(
        `${where}: the block differs from ${ex.file}${ex.region ? `#${ex.region}` : ''} at its line ${n + 1}: guide ${JSON.stringify(a[n] ?? '(end)')}, file ${JSON.stringify(b[n] ?? '(end)')} — copy the file's text into the guide (node --import tsx packages/cluster/test/doc-examples.ts --write ${markdownFile})`,
      );
    }
  }
  return problems;
}

/** Rewrites every example block of `markdownFile` with its example's text (after editing an example). */
export function writeDocExamples(root: string, markdownFile: string): string {
  const lines = readFileSync(join(root, markdownFile), 'utf8').split('\n');
  for (const ex of docExamples(lines.join('\n')).reverse()) {
    const start = ex.line + 1; // index of the first line inside the fence
    const fence = /^(`{3,})/.exec(lines[ex.line] ?? '')?.[1];
    if (fence === undefined) continue;
    const close = lines.findIndex((l, j) => j >= start && l.trimEnd() === fence);
    lines.splice(start, (close < 0 ? lines.length : close) - start, ...exampleText(root, ex.file, ex.region).split('\n'));
  }
  return lines.join('\n');
}

// node --import tsx packages/cluster/test/doc-examples.ts --write docs/guides/*.md   (from the repository root)
if (process.argv[1]?.endsWith('doc-examples.ts') && process.argv[2] === '--write') {
  const { writeFileSync } = await import('node:fs');
  for (const file of process.argv.slice(3)) writeFileSync(join(process.cwd(), file), writeDocExamples(process.cwd(), file));
}
