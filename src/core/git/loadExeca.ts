/**
 * execa, loaded on first use: evaluating it from the bundle costs about 30 ms, and only
 * merge, diff, the warm pool, setup commands and crash recovery need it — not activation,
 * nor most CLI commands.
 */
export const loadExeca = async (): Promise<typeof import('execa').execa> => (await import('execa')).execa;
