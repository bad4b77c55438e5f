// One of the racing processes of chaos scenario 3: on each 'round' message it waits for the
// agreed instant, then claims every priority of the round with Store.claimRun — the one
// atomic step every spawn request (CLI, extension, loop) ends in — and reports what it
// won and why it lost. No git work before the claim, so the five claims really collide.
import * as path from 'node:path';
import { logPathFor } from '../../src/core/requests';
import { branchName, worktreeDirName } from '../../src/core/roadmap/priorityId';
import { Store } from '../../src/core/db/store';

interface RoundMessage {
  type: 'round';
  round: number;
  at: number;
  priorities: string[];
}

const [stateDir, repo, agentCommand] = process.argv.slice(2);
const store = Store.open(stateDir);
const command = JSON.parse(agentCommand) as string[];

process.on('message', async (m: RoundMessage | { type: 'exit' }) => {
  if (m.type === 'exit') {
    store.close();
    process.exit(0);
  }
  const won: Array<{ priority: string; runId: string }> = [];
  const lost: Array<{ priority: string; code: string; message: string }> = [];
  while (Date.now() < m.at) {
    // spin: all five start within the same millisecond or so
  }
  for (const priority of m.priorities) {
    try {
      const run = store.claimRun({
        repo,
        priority,
        newAttempt: true,
        requestedBy: `racer ${process.pid}`,
        plan: (attempt, runId) => ({
          worktree: path.join(`${repo}.worktrees`, worktreeDirName(priority, attempt)),
          branch: branchName(priority, attempt),
          baseRef: 'main',
          command,
          logPath: logPathFor(stateDir, runId),
        }),
      });
      won.push({ priority, runId: run.id });
    } catch (e) {
      lost.push({ priority, code: (e as { code?: string }).code ?? 'UNEXPECTED', message: (e as Error).message });
    }
  }
  process.send!({ type: 'result', round: m.round, won, lost });
});
process.send!({ type: 'ready' });
