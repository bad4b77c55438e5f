import * as fs from 'node:fs';

/**
 * Port blocks for runs: each run gets `portsPerRun` consecutive ports, leased in the database
 * (one row per port, the port the primary key: two active runs can never hold the same port,
 * whatever repository or process asks) and released by a trigger when the run ends. Blocks
 * come from below Linux's ephemeral range (32768-60999), so outgoing connections do not use them.
 */
export const PORT_RANGE_START = 20_000;
export const PORT_RANGE_END = 32_768;
export const DEFAULT_PORTS_PER_RUN = 10;
export const MAX_PORTS_PER_RUN = 1000;

/**
 * Ports something on this machine already holds (TCP listening, or UDP bound), read from
 * /proc/net: synchronous, so it can be asked inside the claim's transaction. Elsewhere than
 * Linux it is empty, and only the database keeps runs apart.
 */
export function portsInUse(): Set<number> {
  const used = new Set<number>();
  for (const [file, listenOnly] of [['tcp', true], ['tcp6', true], ['udp', false], ['udp6', false]] as const) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/net/${file}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // "  0: 0100007F:4E20 00000000:0000 0A ..." local address:port, remote, state (0A = LISTEN)
      const m = /^\s*\d+:\s+[0-9A-F]+:([0-9A-F]{4})\s+[0-9A-F]+:[0-9A-F]{4}\s+([0-9A-F]{2})/i.exec(line);
      if (m && (!listenOnly || m[2] === '0A')) used.add(parseInt(m[1], 16));
    }
  }
  return used;
}

/** The environment a run's agent gets for its block: WTO_PORT is the first port. */
export function portEnv(block: { first: number; count: number } | undefined): Record<string, string> {
  return block ? { WTO_PORT: String(block.first), WTO_PORT_COUNT: String(block.count) } : {};
}
