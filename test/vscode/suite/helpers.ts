// Shared by the in-host suites (bundled into each test file that imports it).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { machineSettingsFile } from './env';
import { poll } from '../../support/wait';

/** The probe's first truthy value; throws naming `what` when none comes within `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const v = await poll(probe, timeoutMs, 100);
  if (!v) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  return v;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd, encoding: 'utf8' });
}

/** Writes the machine-scoped agent command and waits until the window has read it. */
export async function setAgentCommand(command: string[]): Promise<void> {
  const inspect = () => vscode.workspace.getConfiguration('worktreeOrchestrator').inspect<string[]>('codeDeveloper.command')?.globalValue;
  const file = machineSettingsFile();
  const current = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8') || '{}') as Record<string, unknown>) : {};
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...current, 'worktreeOrchestrator.codeDeveloper.command': command }, null, 2));
  await until('the machine-scoped agent command to be read', () => JSON.stringify(inspect()) === JSON.stringify(command));
}

/** Sets machine-scoped settings (code-server reads them from the Machine settings file) and waits until they are read. */
export async function setMachineSettings(values: Record<string, unknown>): Promise<void> {
  const file = machineSettingsFile();
  const current = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8') || '{}') as Record<string, unknown>) : {};
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...current, ...values }, null, 2));
  const read = (key: string) => vscode.workspace.getConfiguration().inspect(key)?.globalValue;
  await until('the machine-scoped settings to be read', () => Object.entries(values).every(([k, v]) => JSON.stringify(read(k)) === JSON.stringify(v)));
}

/** Appends planned priorities (`## ID: Title`) to the test repository's roadmap and commits them. */
export function addPriorities(repo: string, priorities: Array<[id: string, title: string]>): void {
  const roadmap = path.join(repo, 'docs', 'roadmap', 'ROADMAP.md');
  const have = fs.readFileSync(roadmap, 'utf8');
  const missing = priorities.filter(([id]) => !have.includes(`## ${id}:`));
  if (!missing.length) return;
  fs.appendFileSync(roadmap, missing.map(([id, title]) => `\n## ${id}: ${title}\n\n**Status**: 📝 Planned\n`).join(''));
  git(repo, 'commit', '-q', '-m', `roadmap: ${missing.map(([id]) => id).join(', ')}`, '--', roadmap);
}
