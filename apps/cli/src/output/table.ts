/** Plain aligned columns (no borders); the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[], options: { header?: readonly string[] } = {}): string {
  const all = options.header ? [options.header, ...rows] : rows;
  if (all.length === 0) return '';
  const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
  const strip = (s: string): string => s.replace(ansi, '');
  const widths: number[] = [];
  for (const r of all) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, strip(c).length)));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - strip(c).length))).join('  '))
    .join('\n')
    .concat('\n');
}
