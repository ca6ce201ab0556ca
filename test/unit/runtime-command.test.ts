/**
 * What a server start runs (runtime-contract §17.2, §24): shell-word split without a shell, `~`,
 * the environment allow-list, `${VAR}` and the secret.
 */
import path from "node:path";
import { buildLaunch, CommandError, defaultSecretEnv, expandVars, splitCommand } from "../../services/runtime/command";

const ROOT = "/srv/console";
const BACKEND = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/op",
  USER: "op",
  LANG: "C.UTF-8",
  TERM: "xterm",
  TMPDIR: "/tmp",
  CONSOLE_MCP_SECRETS_KEY: "must-not-leak",
  CONSOLE_MCP_DB_URL: "postgres://secret@db",
  GITHUB_TOKEN: "gh-123",
};

describe("splitCommand (POSIX shell words, no shell)", () => {
  const cases: [string, string[]][] = [
    ["npx -y @modelcontextprotocol/server-everything", ["npx", "-y", "@modelcontextprotocol/server-everything"]],
    ["  node   server.js  ", ["node", "server.js"]],
    ["node 'my server.js' --flag", ["node", "my server.js", "--flag"]],
    ['node "my server.js" "a\\"b" "\\$HOME" "\\x"', ["node", "my server.js", 'a"b', "$HOME", "\\x"]],
    ["echo a\\ b c\\\\d", ["echo", "a b", "c\\d"]],
    ["echo ''", ["echo", ""]],
    ["echo 'it'\"'\"'s'", ["echo", "it's"]],
    ["echo $HOME ${USER} *.js | cat > out; rm -rf /", ["echo", "$HOME", "${USER}", "*.js", "|", "cat", ">", "out;", "rm", "-rf", "/"]],
    ["a\tb\nc", ["a", "b", "c"]],
    ["say line\\\ncontinued", ["say", "linecontinued"]],
  ];
  for (const [line, words] of cases) {
    it(`splits ${JSON.stringify(line)}`, () => {
      expect(splitCommand(line)).toEqual(words);
    });
  }

  it("expands an unquoted leading ~ when a home is given, nothing else", () => {
    expect(splitCommand("~/bin/srv ~ '~/x' \"~/y\" a~/z ~user", "/home/op")).toEqual(["/home/op/bin/srv", "/home/op", "~/x", "~/y", "a~/z", "~user"]);
    expect(splitCommand("~/bin/srv")).toEqual(["~/bin/srv"]);
  });

  it("refuses unbalanced quotes, a trailing backslash and an empty line", () => {
    for (const bad of ["node 'server.js", 'node "server.js', "node server.js\\", "", "   "]) {
      expect(() => splitCommand(bad)).toThrow(CommandError);
    }
    expect(() => splitCommand("node 'x")).toThrow("unbalanced single quote");
    expect(() => splitCommand('node "x')).toThrow("unbalanced double quote");
  });
});

describe("expandVars", () => {
  it("replaces ${VAR} from the backend environment, '' for an absent one (reported)", () => {
    const missing: string[] = [];
    expect(expandVars("Bearer ${GITHUB_TOKEN}/${NOPE}/$USER/${1BAD}/${USER}", BACKEND, missing)).toBe("Bearer gh-123//$USER/${1BAD}/op");
    expect(missing).toEqual(["NOPE"]);
  });
});

describe("defaultSecretEnv", () => {
  it("is <ID>_API_KEY with non-alphanumerics as _", () => {
    expect(defaultSecretEnv("github")).toBe("GITHUB_API_KEY");
    expect(defaultSecretEnv("my-server.v2")).toBe("MY_SERVER_V2_API_KEY");
  });
});

describe("buildLaunch", () => {
  it("splits command when args is absent or empty, and keeps the command line", () => {
    for (const args of [undefined, null, []]) {
      const l = buildLaunch({ id: "s", command: "node ~/srv.js --port 1", args }, { backendEnv: BACKEND, projectRoot: ROOT, secret: null });
      expect(l.file).toBe("node");
      expect(l.args).toEqual(["/home/op/srv.js", "--port", "1"]);
      expect(l.commandLine).toBe("node /home/op/srv.js --port 1");
    }
  });

  it("with args, runs command as the program (~ expanded) and args as written", () => {
    const l = buildLaunch(
      { id: "s", command: "~/bin/my server", args: ["~/a", "$X", "a b"] },
      { backendEnv: BACKEND, projectRoot: ROOT, secret: null },
    );
    expect(l.file).toBe("/home/op/bin/my server");
    expect(l.args).toEqual(["~/a", "$X", "a b"]);
  });

  it("cwd: project root by default, ~ expanded, relative to the project root", () => {
    const ctx = { backendEnv: BACKEND, projectRoot: ROOT, secret: null };
    expect(buildLaunch({ id: "s", command: "x" }, ctx).cwd).toBe(ROOT);
    expect(buildLaunch({ id: "s", command: "x", cwd: "~/work" }, ctx).cwd).toBe("/home/op/work");
    expect(buildLaunch({ id: "s", command: "x", cwd: "data/srv" }, ctx).cwd).toBe(path.join(ROOT, "data/srv"));
    expect(buildLaunch({ id: "s", command: "x", cwd: "/opt/srv" }, ctx).cwd).toBe("/opt/srv");
  });

  it("environment = allow-list + env (expanded) + the secret, nothing else", () => {
    const l = buildLaunch(
      { id: "git-hub", command: "srv", env: { TOKEN: "${GITHUB_TOKEN}", MODE: "fast", PATH: "/custom" } },
      { backendEnv: BACKEND, projectRoot: ROOT, secret: "s3cr3t" },
    );
    expect(l.env).toEqual({
      PATH: "/custom",
      HOME: "/home/op",
      USER: "op",
      LANG: "C.UTF-8",
      TERM: "xterm",
      TMPDIR: "/tmp",
      TOKEN: "gh-123",
      MODE: "fast",
      GIT_HUB_API_KEY: "s3cr3t",
    });
    expect(l.secretEnv).toBe("GIT_HUB_API_KEY");
    expect(JSON.stringify(l.env)).not.toContain("must-not-leak");
  });

  it("puts the secret in secret_env when given, and no secret variable without a secret", () => {
    const withName = buildLaunch({ id: "s", command: "x", secret_env: "MY_KEY" }, { backendEnv: BACKEND, projectRoot: ROOT, secret: "k" });
    expect(withName.env.MY_KEY).toBe("k");
    expect(withName.env.S_API_KEY).toBeUndefined();
    const none = buildLaunch({ id: "s", command: "x" }, { backendEnv: BACKEND, projectRoot: ROOT, secret: null });
    expect(Object.keys(none.env).sort()).toEqual(["HOME", "LANG", "PATH", "TERM", "TMPDIR", "USER"]);
  });

  it("leaves out allow-listed variables the backend does not have, reports missing ${VAR}s", () => {
    const l = buildLaunch({ id: "s", command: "x", env: { A: "${MISSING}" } }, { backendEnv: { PATH: "/bin" }, projectRoot: ROOT, secret: null });
    expect(l.env).toEqual({ PATH: "/bin", A: "" });
    expect(l.missingVars).toEqual(["MISSING"]);
  });

  it("refuses what spawn cannot pass, with a CommandError", () => {
    const ctx = { backendEnv: BACKEND, projectRoot: ROOT, secret: null };
    expect(() => buildLaunch({ id: "s", command: "node 'x" }, ctx)).toThrow(CommandError);
    expect(() => buildLaunch({ id: "s", command: "x", env: { "A=B": "1" } }, ctx)).toThrow(CommandError);
    expect(() => buildLaunch({ id: "s", command: "x", env: { A: "1\0" } }, ctx)).toThrow(CommandError);
    expect(() => buildLaunch({ id: "s", command: "x\0y" }, ctx)).toThrow(CommandError);
    expect(() => buildLaunch({ id: "s", command: " ", args: ["a"] }, ctx)).toThrow(CommandError);
  });
});
