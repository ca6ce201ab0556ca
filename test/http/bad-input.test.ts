import { badInputSuite } from "./bad-input-suite";

describe("bad request input on SQLite", () => badInputSuite(() => ({}), "sqlite"));
