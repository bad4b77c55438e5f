import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { findRoadmapPath } from '../../core/roadmap/roadmap';
import type { Services } from '../host/services';
import * as settings from '../host/settings';

const TEMPLATE = `# Roadmap

Each priority is a heading with an id; Worktree Orchestrator spawns one code_developer agent
per priority, in its own git worktree and branch. Status comes from the **Status** line (or an
emoji in the heading): 📝 Planned, 🔄 In progress, ✅ Complete, ⏸️ Blocked.

## US-001: Describe the first thing to build

**Status**: 📝 Planned

What it is, why it matters, and how to tell it is done.

## US-002: Describe the next thing

**Status**: 📝 Planned

### Acceptance criteria

- …
`;

/**
 * Writes a roadmap from the template where the orchestrator looks for it
 * (worktreeOrchestrator.roadmapPath, else docs/roadmap/ROADMAP.md) and opens it. Never
 * overwrites an existing file.
 */
export async function createRoadmap(s: Services, arg?: unknown): Promise<string | undefined> {
  const repos = await s.repos.ready();
  const repo = (typeof arg === 'string' && repos.find((r) => r.root === arg)) || (repos.length === 1 ? repos[0] : await pick());
  if (!repo) {
    if (!repos.length) s.notifier.error('Open a git repository folder first: the roadmap lives in the repository.');
    return undefined;
  }
  const configured = settings.roadmapPath(repo.folder.uri);
  let existing: string | undefined;
  try {
    existing = findRoadmapPath(repo.root, configured);
  } catch (e) {
    s.notifier.failure(e, 'Creating the roadmap');
    return undefined;
  }
  const file = existing ?? path.resolve(repo.root, configured || 'docs/roadmap/ROADMAP.md');
  if (!existing) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, TEMPLATE, { flag: 'wx' });
    s.log.info(`Created ${file} from the template.`);
  }
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: false });
  void s.repos.refresh();
  return file;

  async function pick() {
    if (!repos.length) return undefined;
    return (await vscode.window.showQuickPick(repos.map((r) => ({ label: r.name, description: r.root, repo: r })), { placeHolder: 'Create a roadmap in which repository?' }))?.repo;
  }
}
