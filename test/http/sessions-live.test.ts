/** Live sessions over HTTP on SQLite (suite: ./sessions-live-suite.ts). */
import { sessionsLiveHttpSuite } from "./sessions-live-suite";

describe("live sessions over HTTP on SQLite", () => sessionsLiveHttpSuite(() => ({})));
