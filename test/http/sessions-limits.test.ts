import { sessionsLimitsSuite } from "./sessions-limits-suite";

describe("session text limits and GET /sessions paging on SQLite", () => sessionsLimitsSuite(() => ({}), 2 ** 53 - 1));
