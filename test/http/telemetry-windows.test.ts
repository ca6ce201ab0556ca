/**
 * The rollup levels behind the dashboard reads over random windows, on SQLite files.
 */
import { windowsSuite } from "./telemetry-windows-suite";

windowsSuite("sqlite", async () => ({ env: {}, drop: async () => undefined }));
