// The one table `npm run bench` prints (and bench/RESULTS.md keeps).

export interface Row {
  measure: string;
  size: string;
  /** Same-run baseline, in `unit`. */
  baseline?: number;
  ours?: number;
  unit: 'ms' | '/s' | 'KiB' | 'ms CPU';
  /** ours / baseline for times (lower is better); baseline / ours for rates, so > 1 is always "slower". */
  ratio?: number;
  goal?: string;
  /** Whether the goal is met; undefined when there is no goal. */
  met?: boolean;
  note?: string;
}

export function fmt(v: number | undefined, unit: Row['unit']): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (unit === '/s') return `${Math.round(v).toLocaleString('en-US')}/s`;
  if (unit === 'KiB') return `${(v / 1024).toFixed(1)} KiB`;
  const n = Math.abs(v) < 10 ? v.toFixed(2) : Math.abs(v) < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
  return `${n} ${unit}`;
}

export const fmtRatio = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}×`);

function cells(r: Row): string[] {
  const goal = r.goal ? `${r.goal}${r.met === undefined ? '' : r.met ? ' ✓' : ' ✗'}` : '';
  return [r.measure, r.size, fmt(r.baseline, r.unit), fmt(r.ours, r.unit), fmtRatio(r.ratio), goal, r.note ?? ''];
}

const HEAD = ['measure', 'size', 'baseline', 'ours', 'ratio', 'goal', 'note'];

export function textTable(rows: Row[]): string {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((c) => [...c[i]].length)));
  const line = (c: string[]) => c.map((v, i) => (i >= 2 && i <= 4 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

/** `notes: false`: the README's shorter table (the notes stay in RESULTS.md). */
export function markdownTable(rows: Row[], o: { notes?: boolean } = {}): string {
  const n = o.notes === false ? HEAD.length - 1 : HEAD.length;
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${HEAD.slice(0, n).join(' | ')} |`,
    `|${HEAD.slice(0, n).map((_, i) => (i >= 2 && i <= 4 ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${cells(r).slice(0, n).map(esc).join(' | ')} |`),
  ].join('\n');
}

