// Roadmap parse time on a generated big roadmap (the replaced system's was 1.1 MB; this is
// about 5 MB), against reading and splitting the same file into lines: the least any
// line-based reader does. Interleaved, median of the repetitions.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadRoadmap } from '../src/core/roadmap/roadmap';
import { generateBigRoadmap } from '../test/fixtures/bigRoadmap';
import { median, now, rmrf, tempDir } from './lib';

export interface RoadmapParseResult {
  bytes: number;
  priorities: number;
  expected: number;
  warnings: number;
  /** readFileSync + split into lines, ms. */
  baseline: number[];
  /** loadRoadmap (find, stat, read, parse with warnings), ms. */
  ours: number[];
}

export function measureRoadmapParse(o: { bytes: number; reps: number }): RoadmapParseResult {
  const dir = tempDir('roadmap');
  try {
    const big = generateBigRoadmap(Math.max(5, Math.round((o.bytes / 1_150_000) * 140)), o.bytes);
    const file = path.join(dir, 'ROADMAP.md');
    fs.writeFileSync(file, big.text);
    const baseline: number[] = [];
    const ours: number[] = [];
    let last = loadRoadmap(dir);
    for (let i = 0; i < 3; i++) {
      fs.readFileSync(file, 'utf8').split(/\r\n|\r|\n/); // warm both paths up
      last = loadRoadmap(dir);
    }
    for (let i = 0; i < o.reps; i++) {
      const order = i % 2 ? ['ours', 'baseline'] : ['baseline', 'ours'];
      for (const which of order) {
        const t0 = now();
        if (which === 'baseline') fs.readFileSync(file, 'utf8').split(/\r\n|\r|\n/);
        else last = loadRoadmap(dir);
        (which === 'baseline' ? baseline : ours).push(now() - t0);
      }
    }
    return { bytes: Buffer.byteLength(big.text), priorities: last.priorities.length, expected: big.expected.length, warnings: last.warnings.length, baseline, ours };
  } finally {
    rmrf(dir);
  }
}

export const roadmapRatio = (r: RoadmapParseResult): number => median(r.ours) / median(r.baseline);
