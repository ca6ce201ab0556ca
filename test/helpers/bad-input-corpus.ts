/**
 * A generated corpus of bad (and some good) HTTP requests over every route of the route table and
 * over unknown paths and methods: nesting depth, sizes, wrong types, byte and percent encodings,
 * repeated and bracket query keys, prototype keys, huge numbers, bad cursors and dates. Generated
 * from a seed (lib/prng.ts), so a failure names a request that the same seed rebuilds.
 */
import { seededRandom } from "../../lib/prng";
import { fullPath, ROUTES, RouteSpec } from "../../services/api/routes";

export interface CorpusRequest {
  /** What the request tries, for failure messages. */
  label: string;
  method: string;
  /** Path with query, as written on the request line. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

type Rng = () => number;

const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)];
const int = (rng: Rng, min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));

export const PROTOTYPE_WORDS = [
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "prototype",
  "isPrototypeOf",
  "__defineGetter__",
  "toLocaleString",
  "propertyIsEnumerable",
];

const TEXTS = [
  "gemini",
  "codex",
  "glm46",
  "claude",
  "unknown-provider",
  "",
  " ",
  "  padded  ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff",
  "é",
  "💥",
  "Ω≈ç",
  "x".repeat(201),
  "y".repeat(5000),
  "null",
  "true",
  "123",
  "1e999",
  "[]",
  "{}",
  "<script>",
  "'; DROP TABLE telemetry_events; --",
  "%00",
  "%zz",
  "\\",
  '"',
  "\n\r\t",
  "ok",
  "SUCCESS",
  "failed",
  "retry",
  "economy",
  "balanced",
  "turbo",
  "finops",
  "latency",
  "resilience",
  "none",
  ...PROTOTYPE_WORDS,
  ...PROTOTYPE_WORDS.map((w) => w.toUpperCase()),
  " constructor ",
];

/** Raw JSON number texts (written verbatim into bodies: some are not doubles JSON.stringify can make). */
const NUMBER_TEXTS = [
  "0",
  "-0",
  "1",
  "-1",
  "1.5",
  "5.0",
  "2147483647",
  "2147483648",
  "-2147483649",
  "4294967296",
  "9007199254740991",
  "9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "18446744073709551616",
  "1e308",
  "-1e308",
  "1e400",
  "-1e400",
  "5e-324",
  "1E2",
  "123456789012345678901234567890",
  "0.1e1",
  "1e-400",
  "253402300799999",
  "253402300800000",
  "-62135596800",
  "-62135596801",
  "20000000000",
  "1e20",
];

const DATE_TEXTS = [
  "2025-03-07T21:45:12Z",
  "2025-03-07",
  "0001-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999Z",
  "0000-01-01",
  "0000-12-31T23:59:59Z",
  "10000-01-01T00:00:00Z",
  "+010000-01-01T00:00:00Z",
  "-000001-01-01T00:00:00Z",
  "2025-02-29",
  "2024-02-29",
  "2025-13-45T00:00:00Z",
  "2025-01-01T24:00:00Z",
  "2025-01-01T23:59:60Z",
  "2025-01-01T00:00:00+24:00",
  "2025-01-01T00:00:00+23:59",
  "2025-01-01T00:00:00-2359",
  "2025-01-01T00:00:00.1234567Z",
  "2025-01-01 00:00",
  "not-a-date",
  "",
  " ",
  "now",
  "-1",
  "0",
  "1e20",
  "99999999999999999999",
  "253402300799999",
  "253402300800000",
  "-62135596800",
  "-62135596801",
  "-62135596800000",
  "1.5",
  ".5",
  "5.",
  "+5",
  "--5",
  "0x10",
  "Infinity",
  "NaN",
  "2025-03-07T21:45:12z",
  "2025-3-7",
  "２０２５-01-01",
];

const INT_TEXTS = [
  "",
  "0",
  "1",
  "4",
  "5",
  "12",
  "13",
  "20",
  "90",
  "91",
  "100",
  "101",
  "-1",
  "+5",
  "-0",
  "2.5",
  "abc",
  "1e2",
  "0x10",
  " 5",
  "5 ",
  "05",
  "2147483647",
  "2147483648",
  "9007199254740993",
  "9".repeat(30),
  "9".repeat(400),
  "-" + "9".repeat(400),
  "Infinity",
  "NaN",
  "١٢",
];

/** Malformed or unusual percent-encodings, written verbatim into a query or path. */
const ENCODED = [
  "%",
  "%%",
  "%zz",
  "%4",
  "%E9",
  "%C3",
  "%C3%28",
  "%ED%A0%80",
  "%ED%BF%BF",
  "%C0%80",
  "%F4%90%80%80",
  "%FF%FE",
  "%00",
  "%2B",
  "+",
  "++",
  "%20",
  "a%26b%3Dc",
  "%25",
  "%2525",
  "%F0%9F%92%A5",
  "%EF%BB%BF",
  "%u0041",
  "%E2%82",
];

const PATH_PARAMS = [
  "gemini",
  "codex",
  "nope",
  ...PROTOTYPE_WORDS,
  "%00",
  "%zz",
  "%E9",
  "%ED%A0%80",
  "a%2Fb",
  "%2e%2e",
  "..",
  "x".repeat(300),
  "00000000-0000-4000-8000-000000000000",
  "%20",
  "caf%C3%A9",
  "%F0%9F%92%A5",
  "1e999",
  "-1",
  "2147483648",
];

/** Percent-encodes the UTF-8 bytes of a text (a lone surrogate becomes U+FFFD's bytes, as a browser sends it). */
function enc(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function b64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}

function cursorText(rng: Rng): string {
  const ids = [
    "0",
    "1",
    "-1",
    "1.5",
    "2147483647",
    "2147483648",
    "4294967296",
    "9007199254740991",
    "9007199254740993",
    "1e308",
    "1e400",
    '"1"',
    "null",
    "true",
    "[]",
    "{}",
  ];
  const tss = [
    '"2025-01-01T00:00:00Z"',
    '"0001-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59.999Z"',
    '"10000-01-01"',
    '"2025-02-30"',
    "0",
    "null",
    '""',
    "1735689600",
    '"constructor"',
  ];
  switch (int(rng, 0, 7)) {
    case 0:
      return b64url(`{"ts":${pick(rng, tss)},"id":${pick(rng, ids)}}`);
    case 1:
      return b64url(`{"ts":${pick(rng, tss)},"id":${pick(rng, ids)},"${pick(rng, PROTOTYPE_WORDS)}":1}`);
    case 2:
      return b64url(`{"__proto__":{"ts":"2025-01-01T00:00:00Z","id":1}}`);
    case 3:
      return b64url(pick(rng, ["[]", "null", "1", '"x"', "{", '{"ts":"2025-01-01"}', '{"id":1}', "\u00ff\u00fe"]));
    case 4:
      return "A".repeat(pick(rng, [1, 5, 511, 512, 513, 2000]));
    case 5:
      return pick(rng, ["%00", "%zz", "a=b", "eyJ0cyI6IjIwMjUifQ==", "eyJ0cyI6IjIwMjUifQ", "+/", "***", "%E9"]);
    case 6:
      return Buffer.from([0xff, 0xfe, 0x00, 0x7b]).toString("base64url");
    default:
      return b64url(`{"ts":"2025-01-01T00:00:00Z","id":${int(rng, 0, 2 ** 31 + 5)}}`);
  }
}

/**
 * The query parameters each route reads (api-contract §10, §12, §9; runtime-contract §18.5, §19,
 * §20, §22, §23.1), by `METHOD path` of the route table. Every route whose input kind reads the query
 * has an entry (test/http/bad-input-suite.ts checks it), so a new route says here what it lists.
 */
export const QUERY_PARAMETERS: ReadonlyMap<string, readonly string[]> = new Map([
  ["GET /healthz", []],
  ["GET /readyz", []],
  ["GET /openapi.json", []],
  ["GET /providers", []],
  ["GET /servers", []],
  ["GET /servers/processes", []],
  ["POST /servers/:id/process/start", ["wait"]],
  ["POST /servers/:id/process/stop", []],
  ["POST /servers/:id/process/restart", ["wait"]],
  ["GET /servers/:id/process/logs", ["cursor", "limit"]],
  ["GET /servers/:id/health", ["limit"]],
  ["POST /servers/:id/health/ping", []],
  ["GET /secrets", []],
  ["GET /sessions", ["status", "provider_id", "limit", "cursor"]],
  ["GET /telemetry/metrics", ["start", "end", "provider_id", "route"]],
  ["GET /telemetry/heatmap", ["start", "end", "provider_id", "route"]],
  ["GET /telemetry/timeseries", ["start", "end", "provider_id", "lane"]],
  ["GET /telemetry/pareto", ["start", "end", "provider_id", "lane"]],
  ["GET /telemetry/runs", ["start", "end", "provider_id", "route", "lane", "limit", "cursor"]],
  ["GET /telemetry/finops/sprints", ["start", "end", "provider_id", "lane", "window_days", "limit"]],
  ["GET /telemetry/finops/pull-requests", ["start", "end", "provider_id", "lane", "window_days", "limit"]],
  ["GET /events", ["types", "server_id", "last_event_id"]],
  ["GET /notifications", []],
  ["GET /security/api-keys", []],
  ["GET /security/roles", []],
  ["GET /audit/logs", ["actor", "action", "target", "start", "end", "limit", "cursor"]],
  ["GET /metrics", []],
]);

/** Every listed query parameter of every route. */
const QUERY_NAMES = [...new Set([...QUERY_PARAMETERS.values()].flat())];

const BOOL_TEXTS = ["", "true", "false", "0", "1", "TRUE", "yes", "no", "2", "-1", " true", "null"];

function queryValue(rng: Rng, name: string): string {
  switch (name) {
    case "start":
    case "end":
      return enc(pick(rng, DATE_TEXTS));
    case "limit":
    case "window_days":
      return enc(pick(rng, INT_TEXTS));
    case "cursor":
      return rng() < 0.2 ? pick(rng, ["0", "1", "007", "-1", "1.5", "9".repeat(19), "abc"]) : cursorText(rng);
    case "wait":
      return enc(pick(rng, BOOL_TEXTS));
    case "types":
      return enc(pick(rng, ["", "process", "process,health", "log", "run,runs", "nope", ",,", "process,nope", "__proto__"]));
    default:
      return rng() < 0.3 ? pick(rng, ENCODED) : enc(pick(rng, TEXTS));
  }
}

/** A query string (without `?`) of one of the shapes the corpus tries. */
function queryString(rng: Rng): string {
  const name = pick(rng, QUERY_NAMES);
  switch (int(rng, 0, 8)) {
    case 0: {
      // repeated keys, any count; the last one differs
      const n = int(rng, 2, 120);
      const parts = Array.from({ length: n }, () => `${name}=${queryValue(rng, name)}`);
      return parts.join("&");
    }
    case 1: {
      // bracket and dotted keys
      const shapes = [
        `${name}[]`,
        `${name}[0]`,
        `${name}[a]`,
        `${name}[a][b]`,
        `${name}.x`,
        `a[${name}]`,
        `${name}[__proto__]`,
        `${name}[constructor][prototype]`,
        `${name}[]=1&${name}[]`,
        `${name}[${"9".repeat(20)}]`,
      ];
      return Array.from({ length: int(rng, 1, 6) }, () => `${pick(rng, shapes)}=${queryValue(rng, name)}`).join("&");
    }
    case 2: {
      // prototype keys, plain and bracketed, with any value
      const key = pick(rng, PROTOTYPE_WORDS);
      const forms = [key, `${key}[x]`, `${key}[prototype][limit]`, `__proto__[${name}]`, enc(key), `%5F%5Fproto%5F%5F`];
      return (
        Array.from({ length: int(rng, 1, 4) }, () => `${pick(rng, forms)}=${queryValue(rng, name)}`).join("&") + `&${name}=${queryValue(rng, name)}`
      );
    }
    case 3:
      // malformed encodings in keys and values
      return `${pick(rng, ENCODED)}=${pick(rng, ENCODED)}&${name}${pick(rng, ["", pick(rng, ENCODED)])}=${pick(rng, ENCODED)}`;
    case 4:
      // odd separators and empty pieces
      return pick(rng, [
        "&&&",
        "=",
        "==",
        `${name}`,
        `${name}=`,
        `=${name}`,
        `${name}==x`,
        `&${name}=1&`,
        `;${name}=1`,
        `${name}=1;x=2`,
        `${name}=a=b`,
        "?",
        "#frag",
        `${name}=#x`,
      ]);
    case 5:
      // a long value (kept under Node's 16 KiB header limit)
      return `${name}=${"z".repeat(int(rng, 1000, 12000))}`;
    case 6: {
      // many distinct keys
      return Array.from({ length: int(rng, 20, 400) }, (_, i) => `k${i}=${i}`).join("&") + `&${name}=${queryValue(rng, name)}`;
    }
    default: {
      // a mix of the listed parameters with random values
      return Array.from({ length: int(rng, 1, 6) }, () => {
        const n = pick(rng, QUERY_NAMES);
        return `${n}=${queryValue(rng, n)}`;
      }).join("&");
    }
  }
}

/** A path for a route, path parameters filled with awkward values. */
function routePath(rng: Rng, route: RouteSpec): string {
  return fullPath(route).replace(/:[a-z_]+/g, () => pick(rng, PATH_PARAMS));
}

/** Nesting of `depth` arrays/objects around a value. */
function nested(depth: number, inner = "1", rng?: Rng): string {
  let open = "";
  let close = "";
  for (let i = 0; i < depth; i++) {
    if (rng !== undefined && rng() < 0.5) {
      open += '{"a":';
      close = "}" + close;
    } else {
      open += "[";
      close = "]" + close;
    }
  }
  return open + inner + close;
}

/** The Server fields of runtime-contract §17.3 a catalog write reads. */
const SERVER_FIELDS = [
  "id",
  "name",
  "command",
  "description",
  "tags",
  "capabilities",
  "transport",
  "args",
  "env",
  "cwd",
  "autostart",
  "startup_timeout_s",
  "secret_env",
  "restart",
  "max_restarts",
  "degraded_latency_ms",
  "tool_timeout_s",
];

const FIELDS: Record<string, string[]> = {
  "sessions.create": ["reason", "client", "overrides"],
  "telemetry.ingest": [
    "provider_id",
    "tool",
    "route",
    "tokens_in",
    "tokens_out",
    "duration_ms",
    "status",
    "cost_usd",
    "metadata",
    "ts",
    "experiment_cohort",
    "experiment_tag",
  ],
  "finops.ingestPullRequest": ["id", "title", "owner", "merged_at", "provider_id", "route"],
  "routing.simulate": ["provider_ids", "strategy", "failover_provider_id", "volume_millions", "intents", "custom_rules"],
  "providers.createServer": SERVER_FIELDS,
  "providers.updateServer": SERVER_FIELDS,
};

/** A JSON value text of any type for a field. */
function anyValue(rng: Rng, depth = 0): string {
  switch (int(rng, 0, 9)) {
    case 0:
      return JSON.stringify(pick(rng, TEXTS));
    case 1:
      return pick(rng, NUMBER_TEXTS);
    case 2:
      return pick(rng, ["null", "true", "false"]);
    case 3:
      return JSON.stringify(pick(rng, DATE_TEXTS));
    case 4:
      return depth > 2 ? "[]" : `[${Array.from({ length: int(rng, 0, 4) }, () => anyValue(rng, depth + 1)).join(",")}]`;
    case 5:
      return depth > 2
        ? "{}"
        : `{${Array.from({ length: int(rng, 0, 4) }, () => `${JSON.stringify(pick(rng, [...PROTOTYPE_WORDS, "a", "error", "cache", "hit"]))}:${anyValue(rng, depth + 1)}`).join(",")}}`;
    case 6:
      return nested(int(rng, 60, 70), anyValue(rng, 3), rng);
    case 7:
      return JSON.stringify(pick(rng, PROTOTYPE_WORDS));
    case 8:
      return `{"__proto__":{"polluted":true,"status":"x"},"constructor":{"prototype":{"polluted":true}}}`;
    default:
      return JSON.stringify(pick(rng, ["gemini", "codex", "ok", "2025-01-01T00:00:00Z", "chat"]));
  }
}

/** A JSON object text with some of the route's fields (and maybe unknown keys) holding any value. */
function objectBody(rng: Rng, action: string, nestedRun = false): string {
  const fields = FIELDS[action] ?? [];
  const parts: string[] = [];
  for (const field of fields) if (rng() < 0.6) parts.push(`${JSON.stringify(field)}:${anyValue(rng)}`);
  if (rng() < 0.3) parts.push(`${JSON.stringify(pick(rng, [...PROTOTYPE_WORDS, "extra", "runs"]))}:${anyValue(rng)}`);
  if (action === "telemetry.ingest" && !nestedRun && rng() < 0.3) {
    const runs = Array.from({ length: int(rng, 0, 30) }, () => objectBody(rng, action, true));
    return `{"runs":[${runs.join(",")}]}`;
  }
  return `{${parts.join(",")}}`;
}

/** A body of one of the shapes the corpus tries, with its content type. */
function body(rng: Rng, action: string): { bytes: Buffer; contentType?: string; label: string } {
  const json = "application/json";
  switch (int(rng, 0, 11)) {
    case 0:
      return { bytes: Buffer.from(objectBody(rng, action)), contentType: json, label: "fields of any type" };
    case 1: {
      const depth = pick(rng, [63, 64, 65, 66, 100, 5000, 100000, 400000]);
      const where = int(rng, 0, 3);
      const deep = nested(depth, "1", rng);
      const text = [deep, `{"metadata":${deep},"provider_id":"x"}`, `{"extra":${deep}}`, `{"provider_ids":${deep}}`][where];
      return { bytes: Buffer.from(text), contentType: json, label: `nesting ${depth}` };
    }
    case 2: {
      const size = pick(rng, [1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024]);
      const filler = "[" + "1,".repeat(Math.max(0, Math.floor((size - 2) / 2))) + "1]";
      const text = pick(rng, [`{"reason":"${"r".repeat(Math.max(0, size - 14))}"}`, filler]);
      return { bytes: Buffer.from(text), contentType: json, label: `size ${size}` };
    }
    case 3: {
      // bytes that are not UTF-8, a BOM, UTF-16
      const inner = objectBody(rng, action);
      const forms: [string, Buffer][] = [
        ["invalid utf-8", Buffer.concat([Buffer.from('{"reason":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')])],
        ["encoded surrogate", Buffer.concat([Buffer.from('{"provider_id":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
        ["bom", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(inner)])],
        ["utf-16", Buffer.from(inner, "utf16le")],
        ["latin1", Buffer.from('{"reason":"caf\u00e9"}', "latin1")],
        ["nul bytes", Buffer.from([0x00, 0x00, 0x7b, 0x7d])],
      ];
      const [label, bytes] = pick(rng, forms);
      return { bytes, contentType: json, label };
    }
    case 4:
      return {
        bytes: Buffer.from(objectBody(rng, action)),
        contentType: pick(
          rng,
          [
            "text/plain",
            "application/json; charset=latin1",
            "application/x-www-form-urlencoded",
            "application/vnd.api+json",
            "",
            "multipart/form-data; boundary=x",
            "application/json;;;",
            "APPLICATION/JSON",
            "application/json\u0000",
          ].filter((c) => !c.includes("\u0000")),
        ),
        label: "content type",
      };
    case 5:
      return {
        bytes: Buffer.from(
          pick(rng, [
            "",
            " ",
            "null",
            "[]",
            "{}",
            "1",
            '"x"',
            "true",
            "{",
            "}",
            '{"a":}',
            '{"a":1,}',
            "[1,]",
            "NaN",
            '{"a":1}garbage',
            '{"a":"\\ud800"}',
            '{"a":"\\u0000"}',
            '"\\',
            "{'a':1}",
            '{"a":01}',
            '{"a":.5}',
          ]),
        ),
        contentType: json,
        label: "bare value or syntax",
      };
    case 6: {
      // a prototype word in every string field
      const word = pick(rng, PROTOTYPE_WORDS);
      const fields = FIELDS[action] ?? ["reason"];
      const text = `{${fields.map((f) => `${JSON.stringify(f)}:${JSON.stringify(f === "provider_ids" ? [word] : word)}`).join(",")}}`;
      return { bytes: Buffer.from(text), contentType: json, label: `prototype word ${word}` };
    }
    case 7: {
      // prototype keys as JSON keys at the top and inside metadata
      const key = pick(rng, PROTOTYPE_WORDS);
      const text = `{${JSON.stringify(key)}:${anyValue(rng)},"provider_id":"p","metadata":{${JSON.stringify(key)}:{"error":"x"},"error":{${JSON.stringify(key)}:1}},"id":"pr-${int(rng, 0, 1e6)}","title":"t","merged_at":"2025-01-01"}`;
      return { bytes: Buffer.from(text), contentType: json, label: `prototype key ${key}` };
    }
    case 8: {
      // huge numbers in every number field
      const n = pick(rng, NUMBER_TEXTS);
      const text = `{"provider_id":"p","tokens_in":${n},"tokens_out":${n},"duration_ms":${n},"cost_usd":${n},"ts":${n},"volume_millions":${n},"merged_at":${n},"id":"pr-n","title":"t"}`;
      return { bytes: Buffer.from(text), contentType: json, label: `number ${n}` };
    }
    case 9: {
      // a valid-looking batch with one bad item somewhere
      const runs = Array.from(
        { length: int(rng, 1, 200) },
        (_, i) => `{"provider_id":"corpus-${i % 3}","tokens_in":${i},"status":"${pick(rng, ["ok", "constructor", "__proto__", "retry"])}"}`,
      );
      if (rng() < 0.5) runs[int(rng, 0, runs.length - 1)] = anyValue(rng);
      return { bytes: Buffer.from(`{"runs":[${runs.join(",")}]}`), contentType: json, label: "batch" };
    }
    case 10: {
      const count = pick(rng, [0, 1, 5000, 5001]);
      const text = `{"runs":[${Array.from({ length: count }, () => '{"provider_id":"b"}').join(",")}]}`;
      return { bytes: Buffer.from(text), contentType: json, label: `batch of ${count}` };
    }
    default:
      return { bytes: Buffer.from(anyValue(rng)), contentType: json, label: "any value" };
  }
}

const OTHER_METHODS = ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "FOO"];

const UNKNOWN_PATHS = [
  "/",
  "/api",
  "/api/v1",
  "/api/v1/",
  "/api/v2/healthz",
  "/api/v1/nope",
  "/api/v1/sessions/a/b",
  "/api/v1/providers/x",
  "//api/v1/healthz",
  "/api/v1//sessions",
  "/api/v1/sessions/",
  "/api/v1/telemetry",
  "/api/v1/telemetry/runs/1",
  "/api/v1/%2e%2e/%2e%2e/etc/passwd",
  "/api/v1/../../etc/passwd",
  "/api/v1/$node/list",
  "/api/v1/~node/health",
  "/api/v1/api.healthz",
  "/api/v1/telemetry.metrics",
  "/api/v1/list-aliases",
  "/api/v1/__proto__",
  "/api/v1/constructor",
  "/api/v1/providers/__proto__/sessions/x",
  "/api/v1/%zz",
  "/api/v1/%",
  `/api/v1/${"p".repeat(8000)}`,
  "/api/v1/sessions%2Fx",
  "/API/V1/HEALTHZ",
  "/api/v1/healthz.json",
  "/api/v1/healthz;x",
  "*",
];

/** `count` requests from `seed`: about one in six on unknown paths or methods, the rest over every route. */
export function generateCorpus(seed: number, count: number): CorpusRequest[] {
  const rng = seededRandom(seed);
  const out: CorpusRequest[] = [];
  for (let n = 0; n < count; n++) {
    const kind = rng();
    if (kind < 0.1) {
      const path = pick(rng, UNKNOWN_PATHS) + (rng() < 0.5 ? `?${queryString(rng)}` : "");
      out.push({ label: "unknown path", method: pick(rng, ["GET", "POST", ...OTHER_METHODS]), path, headers: {} });
      continue;
    }
    const route = ROUTES[n % ROUTES.length];
    if (kind < 0.17) {
      const method = pick(rng, [...OTHER_METHODS, route.method === "GET" ? "POST" : "GET"]);
      out.push({ label: `${method} on ${route.path}`, method, path: routePath(rng, route), headers: {} });
      continue;
    }
    const query = rng() < (route.method === "GET" ? 0.95 : 0.3) ? `?${queryString(rng)}` : "";
    const request: CorpusRequest = { label: `${route.method} ${route.path}`, method: route.method, path: routePath(rng, route) + query, headers: {} };
    if (route.method !== "GET" || rng() < 0.1) {
      const b = body(rng, route.action);
      request.body = b.bytes;
      request.label += ` (${b.label})`;
      if (b.contentType !== undefined) request.headers["content-type"] = b.contentType;
    }
    out.push(request);
  }
  return out;
}
