/**
 * What a server start runs (runtime-contract §17.2): the program and its arguments (the `command`
 * split with POSIX shell-word rules when `args` is absent — no shell is ever run), the working
 * directory (`~` expanded, relative to the project root) and the environment (an allow-list of the
 * backend's environment, plus `env` with `${VAR}` references resolved, plus the secret, §24).
 *
 * The backend's environment is a parameter: lib/config.ts is the only reader of process.env.
 */
import path from "node:path";

/** Variables of the backend's environment a server process inherits (§17.2). */
export const ENV_ALLOW_LIST: readonly string[] = ["PATH", "HOME", "USER", "LANG", "TERM", "TMPDIR"];

export type BackendEnv = Readonly<Record<string, string | undefined>>;

/** A command line, `env` or `cwd` that cannot be turned into a process launch; the message reads well to an operator. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** The catalog fields a launch reads (§17.2, §17.3). */
export interface LaunchFields {
  id: string;
  command: string;
  /** Absent, null or `[]` (as stored): `command` is split into words. */
  args?: readonly string[] | null;
  env?: Readonly<Record<string, string>> | null;
  cwd?: string | null;
  secret_env?: string | null;
}

export interface LaunchContext {
  /** The backend's environment (config's view of process.env). */
  backendEnv: BackendEnv;
  /** Absolute project root: the default `cwd` and the base of a relative one. */
  projectRoot: string;
  /** The server's secret (§24), or null when it has none. */
  secret: string | null;
}

/** Everything spawn needs, computed and checked before anything runs. */
export interface Launch {
  /** Program: a name looked up in the environment's PATH, or a path. */
  file: string;
  args: string[];
  /** Absolute working directory. */
  cwd: string;
  env: Record<string, string>;
  /** §18.1 `command`: program and arguments joined with spaces. */
  commandLine: string;
  /** The variable the secret went into, when there is a secret. */
  secretEnv: string;
  /** `${VAR}` references of `env` that named a variable absent from the backend's environment (became ""). */
  missingVars: string[];
}

/** §17.2 default of `secret_env`: `<ID>_API_KEY`, id upper-cased, non-alphanumerics → `_`. */
export function defaultSecretEnv(id: string): string {
  return `${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY`;
}

/** One word of a split: its text and whether it began with an unquoted `~` (tilde prefix). */
interface Word {
  text: string;
  tilde: boolean;
}

function splitWords(line: string): Word[] {
  const words: Word[] = [];
  let current: Word | null = null;
  const push = (ch: string) => {
    if (current === null) current = { text: "", tilde: false };
    current.text += ch;
  };
  let i = 0;
  while (i < line.length) {
    const ch = line[i];
    if (ch === " " || ch === "\t" || ch === "\n") {
      if (current !== null) words.push(current);
      current = null;
      i++;
    } else if (ch === "\\") {
      if (i + 1 >= line.length) throw new CommandError("Cannot split the command: it ends with a lone backslash");
      // A backslash-newline is a line continuation: nothing.
      if (line[i + 1] !== "\n") push(line[i + 1]);
      i += 2;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new CommandError("Cannot split the command: unbalanced single quote");
      if (current === null) current = { text: "", tilde: false };
      current.text += line.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      if (current === null) current = { text: "", tilde: false };
      let j = i + 1;
      for (;;) {
        if (j >= line.length) throw new CommandError("Cannot split the command: unbalanced double quote");
        const c = line[j];
        if (c === '"') break;
        // Inside double quotes a backslash escapes only $ ` " \ and newline.
        if (c === "\\" && j + 1 < line.length && '$`"\\\n'.includes(line[j + 1])) {
          if (line[j + 1] !== "\n") current.text += line[j + 1];
          j += 2;
        } else {
          current.text += c;
          j++;
        }
      }
      i = j + 1;
    } else {
      if (current === null) current = { text: "", tilde: ch === "~" };
      current.text += ch;
      i++;
    }
  }
  if (current !== null) words.push(current);
  return words;
}

/**
 * Splits a command line into words with POSIX shell-word rules: blanks separate words, single quotes
 * keep everything literally, double quotes keep everything but `\$`, `` \` ``, `\"`, `\\` escapes,
 * a backslash outside quotes escapes the next character. Nothing is expanded or run (no variables,
 * globs, pipes, redirections: `|`, `>` and `$X` are plain characters). A word that starts with an
 * unquoted `~` followed by `/` or its end gets the home directory (tilde expansion) when `home` is given.
 * Throws CommandError on an unbalanced quote, a trailing backslash, or a line with no word.
 */
export function splitCommand(line: string, home?: string): string[] {
  const words = splitWords(line);
  if (words.length === 0) throw new CommandError("The command is empty");
  return words.map((w) => (w.tilde && home !== undefined ? expandHome(w.text, home) : w.text));
}

/** `~` and `~/…` → the home directory; anything else unchanged (`~user` is not expanded). */
export function expandHome(value: string, home: string): string {
  if (value === "~") return home;
  if (value.startsWith("~/")) return path.join(home, value.slice(2));
  return value;
}

/**
 * Replaces each `${NAME}` (NAME: letters, digits, `_`, not starting with a digit) with the backend
 * environment's value, "" when absent (reported in `missing`). Other `$` text stays as written.
 */
export function expandVars(value: string, backendEnv: BackendEnv, missing: string[] = []): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = backendEnv[name];
    if (v === undefined) {
      if (!missing.includes(name)) missing.push(name);
      return "";
    }
    return v;
  });
}

const ENV_NAME_RE = /^[^=\0]+$/;

/**
 * The launch of a server (§17.2, §24): program, arguments, absolute cwd, environment (allow-list of
 * `backendEnv` + `env` expanded + the secret in `secret_env`, or `<ID>_API_KEY`), and the command
 * line shown in §18.1. Throws CommandError for a command that cannot be split, or an environment
 * name or value spawn cannot pass (`=` or NUL in a name, NUL in a value).
 */
export function buildLaunch(server: LaunchFields, ctx: LaunchContext): Launch {
  const home = ctx.backendEnv.HOME !== undefined && ctx.backendEnv.HOME !== "" ? ctx.backendEnv.HOME : undefined;
  let file: string;
  let args: string[];
  if (server.args && server.args.length > 0) {
    if (server.command.trim() === "") throw new CommandError("The command is empty");
    file = home !== undefined ? expandHome(server.command, home) : server.command;
    args = [...server.args];
  } else {
    [file, ...args] = splitCommand(server.command, home);
  }
  if (file.includes("\0") || args.some((a) => a.includes("\0"))) throw new CommandError("The command contains a NUL character");

  let cwd = ctx.projectRoot;
  if (server.cwd !== undefined && server.cwd !== null && server.cwd !== "") {
    const expanded = home !== undefined ? expandHome(server.cwd, home) : server.cwd;
    cwd = path.resolve(ctx.projectRoot, expanded);
  }

  const env: Record<string, string> = {};
  for (const name of ENV_ALLOW_LIST) {
    const v = ctx.backendEnv[name];
    if (v !== undefined) env[name] = v;
  }
  const missingVars: string[] = [];
  for (const [name, value] of Object.entries(server.env ?? {})) {
    if (!ENV_NAME_RE.test(name)) throw new CommandError(`Invalid environment variable name ${JSON.stringify(name)}`);
    const expanded = expandVars(value, ctx.backendEnv, missingVars);
    if (expanded.includes("\0")) throw new CommandError(`The value of environment variable ${name} contains a NUL character`);
    env[name] = expanded;
  }
  const secretEnv = server.secret_env && server.secret_env !== "" ? server.secret_env : defaultSecretEnv(server.id);
  if (ctx.secret !== null) {
    if (!ENV_NAME_RE.test(secretEnv)) throw new CommandError(`Invalid secret_env name ${JSON.stringify(secretEnv)}`);
    if (ctx.secret.includes("\0")) throw new CommandError("The secret contains a NUL character");
    env[secretEnv] = ctx.secret;
  }
  return { file, args, cwd, env, commandLine: [file, ...args].join(" "), secretEnv, missingVars };
}
