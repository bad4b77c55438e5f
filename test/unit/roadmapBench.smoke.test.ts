import * as assert from 'node:assert/strict';
import { measureRoadmapParse, roadmapRatio } from '../../bench/roadmapParse';

// The bench's roadmap row on a small size: it must parse the whole generated roadmap.
// Correctness only; no time is asserted (the machines are noisy).
describe('bench smoke: roadmap parse row', () => {
  it('reads every generated priority and reports both timings', () => {
    const r = measureRoadmapParse({ bytes: 200_000, reps: 2 });
    assert.ok(r.bytes >= 200_000, `${r.bytes} bytes`);
    assert.equal(r.priorities, r.expected);
    assert.equal(r.warnings, 1, 'the appendix repeats PRIORITY 6');
    assert.equal(r.ours.length, 2);
    assert.equal(r.baseline.length, 2);
    assert.ok(Number.isFinite(roadmapRatio(r)) && roadmapRatio(r) > 0);
  });
});
