import { unstorableTextSuite } from "./unstorable-text-suite";

describe("unstorable text on SQLite", () => unstorableTextSuite(() => ({})));
