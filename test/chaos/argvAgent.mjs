#!/usr/bin/env node
// Writes the arguments it received, as JSON, to $CHAOS_ARGV_OUT: proof of what arrived.
import * as fs from 'node:fs';

fs.writeFileSync(process.env.CHAOS_ARGV_OUT, JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), pid: process.pid }));
