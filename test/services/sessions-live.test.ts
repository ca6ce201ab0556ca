/** Live sessions on SQLite (suite: ./sessions-live-suite.ts). */
import { sessionsLiveSuite, sessionsStoreOnSqlite } from "./sessions-live-suite";

sessionsLiveSuite("SQLite", sessionsStoreOnSqlite);
