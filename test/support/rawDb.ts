import type Database from 'better-sqlite3';
import type { Store } from '../../src/core/db/store';

/**
 * The Store's own SQLite connection, for tests and benchmarks only: seeding history in bulk,
 * planting bad rows, counting queries. Production code cannot reach it (`db` is private):
 * every SQL statement of the product lives in src/core/db.
 */
export const rawDb = (store: Store): Database.Database => (store as unknown as { db: Database.Database }).db;
