// Activation as the real extension host measures it: VS Code's own "Developer: Startup
// Performance" report (the `perf:Startup Performance` document) has a row per activated
// extension with the time to load its code, to call activate() and to finish it. Runs
// first (name order), in a window that opened on a git repository, so the extension was
// activated at start-up by `workspaceContains:.git`, like a user's window.
//
// With WTO_BENCH_ACTIVATION_OUT set (by `npm run bench`), the figures are appended there
// as one JSON line.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { ExtensionApi } from '../../../src/ui/host/extensionApi';
import { EXTENSION_ID } from './env';
import { until } from './helpers';

interface ActivationRow {
  extension: string;
  loadCode: number;
  callActivate: number;
  finishActivate: number;
  event: string;
}

/** Rows of the report's "Extension Activation Stats" markdown table. */
function activationRows(report: string): ActivationRow[] {
  const lines = report.split('\n');
  const at = lines.findIndex((l) => /^#+\s*Extension Activation Stats/.test(l));
  if (at < 0) return [];
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
  // The table: the run of '|' lines after the heading (more tables follow it).
  const start = lines.findIndex((l, i) => i > at && l.startsWith('|'));
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  const table = lines.slice(start, end < 0 ? undefined : end);
  const header = cells(table[0]);
  const col = (name: string) => header.indexOf(name);
  const rows: ActivationRow[] = [];
  for (const l of table.slice(2)) {
    const c = cells(l);
    rows.push({ extension: c[col('Extension')], loadCode: Number(c[col('Load Code')]), callActivate: Number(c[col('Call Activate')]), finishActivate: Number(c[col('Finish Activate')]), event: c[col('Event')] });
  }
  return rows;
}

/** "Developer: Startup Performance": its command registers the `perf:` document, then opens it. */
async function startupReport(): Promise<string> {
  await vscode.commands.executeCommand('perfview.show');
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.from({ scheme: 'perf', path: 'Startup Performance' }));
  return doc.getText();
}

describe('activation in the real extension host', () => {
  it("appears in VS Code's startup performance report, activated by the git repository", async function () {
    this.timeout(60_000);
    const ext = vscode.extensions.getExtension<ExtensionApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed`);
    await until('the extension to activate on its own', () => ext.isActive, 30_000);
    const api = ext.exports;
    assert.ok(api, 'activate returned the extension API');

    // The report is computed when opened; the row appears once activate() has resolved.
    let rows: ActivationRow[] = [];
    const deadline = Date.now() + 30_000;
    try {
      for (;;) {
        rows = activationRows(await startupReport());
        if (rows.some((r) => r.extension === EXTENSION_ID) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      // The report opened an editor; the suites after this one start from an empty window.
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    }
    const ours = rows.find((r) => r.extension === EXTENSION_ID);
    assert.ok(ours, `no row for ${EXTENSION_ID} in: ${rows.map((r) => r.extension).join(', ')}`);
    for (const k of ['loadCode', 'callActivate', 'finishActivate'] as const) assert.ok(Number.isFinite(ours[k]) && ours[k] >= 0, `${k}: ${ours[k]}`);
    assert.match(ours.event, /workspaceContains:\.git|onStartupFinished/);

    // The tree can render once activate has returned: its first roots, as the view asks.
    const t0 = performance.now();
    const roots = await api.agentsTree.getChildren();
    const treeMs = performance.now() - t0;
    assert.ok(Array.isArray(roots));

    const out = process.env.WTO_BENCH_ACTIVATION_OUT;
    if (out) {
      const git = rows.find((r) => r.extension === 'vscode.git');
      fs.appendFileSync(out, JSON.stringify({ ours, git, treeMs, extensions: rows.length, deferred: api.testing.startup }) + '\n');
    }
  });
});
