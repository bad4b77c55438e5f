import * as fs from 'node:fs';

/**
 * Whether an agent waits for the user at its terminal (issue 16), as far as Linux tells:
 * every process of the terminal's foreground group sleeps (no thread running or in
 * uninterruptible I/O), and one of them waits on the terminal — in a read of it (the kernel's
 * wait channel `n_tty_read`/`wait_woken`, or the read syscall on a terminal fd), or in
 * epoll with the terminal in its interest set for input (Node and Rust agents: libuv, tokio),
 * or in poll/select with the terminal as its stdin. Where the wait channel reads "0" (hidden
 * by the kernel) and the syscall cannot be read, a sleeping process whose stdin is the
 * terminal counts. Undefined off Linux: the OS cannot tell, so only events and hooks mark it.
 */
export function waitsForTerminalInput(agentPid: number): boolean | undefined {
  if (process.platform !== 'linux') return undefined;
  const leader = stat(agentPid);
  if (!leader) return false;
  const tty = link(agentPid, 0);
  if (!tty || !/^\/dev\/(pts\/\d+|tty)/.test(tty)) return false;
  const group = leader.tpgid > 0 ? leader.tpgid : leader.pgrp;
  const members = groupMembers(group, agentPid, leader.pgrp);
  if (!members.length) return false;
  let waiting = false;
  for (const pid of members) {
    const threads = threadsOf(pid);
    if (threads.some((t) => t.state === 'R' || t.state === 'D')) return false;
    if (!waiting && waitsOn(pid, tty, threads)) waiting = true;
  }
  return waiting;
}

interface Stat {
  state: string;
  pgrp: number;
  tpgid: number;
}

function stat(pid: number, file = `/proc/${pid}/stat`): Stat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return { state: f[0], pgrp: Number(f[2]), tpgid: Number(f[5]) };
}

function link(pid: number, fd: number | string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The processes of a process group: the agent's own first, then a scan of /proc when the group is another. */
function groupMembers(pgrp: number, agentPid: number, agentPgrp: number): number[] {
  const out = agentPgrp === pgrp ? [agentPid] : [];
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === agentPid) continue;
    if (stat(Number(name))?.pgrp === pgrp) out.push(Number(name));
  }
  return out;
}

interface Thread {
  state: string;
  wchan: string;
  /** The syscall it sleeps in and its first argument, when the kernel shows them. */
  syscall?: { nr: number; arg0: number };
}

function threadsOf(pid: number): Thread[] {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    tids = [String(pid)];
  }
  const out: Thread[] = [];
  for (const tid of tids) {
    const base = `/proc/${pid}/task/${tid}`;
    const st = stat(pid, `${base}/stat`);
    if (!st) continue;
    const sc = read(`${base}/syscall`)?.trim().split(' ');
    const syscall = sc && /^\d+$/.test(sc[0]) ? { nr: Number(sc[0]), arg0: Number(sc[1]) } : undefined;
    out.push({ state: st.state, wchan: (read(`${base}/wchan`) ?? '').trim(), syscall });
  }
  return out;
}

// Syscall numbers by architecture (asm/unistd.h): read; epoll_wait/epoll_pwait/epoll_pwait2; poll/ppoll/select/pselect6.
const SYSCALLS: Record<string, { read: number[]; epoll: number[]; poll: number[] }> = {
  x64: { read: [0], epoll: [232, 281, 441], poll: [7, 271, 23, 270] },
  arm64: { read: [63], epoll: [22, 441], poll: [73, 72] },
};

function waitsOn(pid: number, tty: string, threads: Thread[]): boolean {
  const ttyFds = terminalFds(pid, tty);
  if (!ttyFds.size) return false;
  const nrs = SYSCALLS[process.arch];
  for (const t of threads) {
    if (t.state !== 'S') continue;
    if (/tty_read/.test(t.wchan)) return true;
    if (t.syscall && nrs) {
      if (nrs.read.includes(t.syscall.nr)) {
        if (ttyFds.has(t.syscall.arg0)) return true;
        continue;
      }
      if (nrs.epoll.includes(t.syscall.nr)) {
        if (epollWatchesInput(pid, t.syscall.arg0, ttyFds)) return true;
        continue;
      }
      if (nrs.poll.includes(t.syscall.nr)) {
        if (ttyFds.has(0)) return true;
        continue;
      }
      continue;
    }
    // No syscall to read: the wait channel alone.
    if (/wait_woken/.test(t.wchan) && ttyFds.has(0)) return true;
    if (/epoll/.test(t.wchan) && anyEpollWatchesInput(pid, ttyFds)) return true;
    if (/poll|select/.test(t.wchan) && ttyFds.has(0)) return true;
    if ((t.wchan === '0' || t.wchan === '') && ttyFds.has(0)) return true; // hidden by the kernel: sleeping, its stdin the terminal
  }
  return false;
}

function terminalFds(pid: number, tty: string): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) if (link(pid, fd) === tty) out.add(Number(fd));
  return out;
}

/** Whether epoll instance `epfd` of the process waits for input (EPOLLIN) on one of `fds`. */
function epollWatchesInput(pid: number, epfd: number, fds: Set<number>): boolean {
  const info = read(`/proc/${pid}/fdinfo/${epfd}`);
  if (!info) return false;
  for (const m of info.matchAll(/^tfd:\s+(\d+)\s+events:\s+([0-9a-f]+)/gm)) {
    if (fds.has(Number(m[1])) && (parseInt(m[2], 16) & 0x1) !== 0) return true;
  }
  return false;
}

function anyEpollWatchesInput(pid: number, fds: Set<number>): boolean {
  let all: string[];
  try {
    all = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return all.some((fd) => link(pid, fd) === 'anon_inode:[eventpoll]' && epollWatchesInput(pid, Number(fd), fds));
}
