import { badInputCorpusSuite } from "./bad-input-corpus-suite";

describe("generated bad-input corpus on SQLite", () => badInputCorpusSuite(() => ({}), 20251129, 2400));
