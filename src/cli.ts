console.log('worktree-orchestrator: not yet');
