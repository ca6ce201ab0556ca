/**
 * lib/secrets/cipher.ts and key.ts (runtime-contract §24): AES-256-GCM round trips, a fresh nonce per
 * value, the server id as associated data (a value copied to another server does not open), tamper
 * detection on every stored field, a value under another key named as such; the key file (0600,
 * created once by racing processes, refused when readable by others or malformed); the config's
 * parsing of CONSOLE_MCP_SECRETS_KEY without ever echoing it.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ConfigError, loadConfig } from "../../lib/config";
import { generateKey, keyId, open, seal, SecretDecryptError } from "../../lib/secrets/cipher";
import { createKeyFile, loadSecretsKey, readKeyFile } from "../../lib/secrets/key";

const run = promisify(execFile);

function flipBase64Byte(text: string, index: number): string {
  const bytes = Buffer.from(text, "base64");
  bytes[index] ^= 0x01;
  return bytes.toString("base64");
}

function decryptError(fn: () => unknown): SecretDecryptError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SecretDecryptError);
    return err as SecretDecryptError;
  }
  throw new Error("expected a SecretDecryptError");
}

describe("seal / open", () => {
  const key = generateKey();

  it.each(["sk-live-abc", "x", "ünïcødé ✓ 🔑", "a".repeat(8192)])("round trip of %#", (value) => {
    const sealed = seal(key, "gemini", value);
    expect(sealed.ciphertext).not.toContain(Buffer.from(value).toString("base64"));
    expect(open(key, "gemini", sealed)).toBe(value);
  });

  it("a random nonce per value: the same value sealed twice differs", () => {
    const a = seal(key, "gemini", "same");
    const b = seal(key, "gemini", "same");
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(Buffer.from(a.nonce, "base64")).toHaveLength(12);
  });

  it("a value copied to another server's row does not open (the server id is associated data)", () => {
    const sealed = seal(key, "gemini", "sk-gemini");
    const err = decryptError(() => open(key, "codex", sealed));
    expect(err.reason).toBe("altered");
    expect(err.message).toBe(
      "Secret for provider 'codex' cannot be decrypted: the stored value does not authenticate (it was altered, or copied from another server)",
    );
    expect(err.message).not.toContain("sk-gemini");
  });

  it("any edited field fails to open: ciphertext, tag, nonce, truncation", () => {
    const sealed = seal(key, "gemini", "sk-gemini-123");
    const bodyLength = Buffer.from(sealed.ciphertext, "base64").length;
    const edits = [
      { ...sealed, ciphertext: flipBase64Byte(sealed.ciphertext, 0) },
      { ...sealed, ciphertext: flipBase64Byte(sealed.ciphertext, bodyLength - 1) },
      { ...sealed, nonce: flipBase64Byte(sealed.nonce, 5) },
      { ...sealed, ciphertext: Buffer.from(sealed.ciphertext, "base64").subarray(0, 10).toString("base64") },
      { ...sealed, nonce: "" },
      { ...sealed, ciphertext: "not base64 at all!" },
    ];
    for (const edited of edits) expect(decryptError(() => open(key, "gemini", edited)).reason).toBe("altered");
  });

  it("a value under another key is named as such, with both key ids", () => {
    const other = generateKey();
    const sealed = seal(other, "gemini", "sk");
    const err = decryptError(() => open(key, "gemini", sealed));
    expect(err.reason).toBe("other_key");
    expect(err.message).toContain(keyId(other));
    expect(err.message).toContain(keyId(key));
    // A forged key id does not help: the tag still fails.
    expect(decryptError(() => open(key, "gemini", { ...sealed, key_id: keyId(key) })).reason).toBe("altered");
  });

  it("key ids are 16 hex digits and differ between keys", () => {
    expect(keyId(key)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyId(generateKey())).not.toBe(keyId(key));
  });
});

describe("the key file", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "console-mcp-key-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("is created on first use only, mode 0600, and read back the same afterwards", () => {
    const keyFile = path.join(dir, "sub", "secrets.key");
    const config = { key: null, keyFile, newKey: null };
    expect(loadSecretsKey(config, false)).toBeNull();
    expect(fs.existsSync(keyFile)).toBe(false);
    const key = loadSecretsKey(config, true) as Buffer;
    expect(key).toHaveLength(32);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(loadSecretsKey(config, true)?.equals(key)).toBe(true);
    expect(fs.readdirSync(path.dirname(keyFile))).toEqual(["secrets.key"]);
  });

  it("CONSOLE_MCP_SECRETS_KEY wins over the file, which is then never created", () => {
    const keyFile = path.join(dir, "secrets.key");
    const key = generateKey();
    expect(loadSecretsKey({ key, keyFile, newKey: null }, true)?.equals(key)).toBe(true);
    expect(fs.existsSync(keyFile)).toBe(false);
  });

  it("an existing file is never replaced: createKeyFile answers false", () => {
    const keyFile = path.join(dir, "secrets.key");
    const first = generateKey();
    expect(createKeyFile(keyFile, first)).toBe(true);
    expect(createKeyFile(keyFile, generateKey())).toBe(false);
    expect(readKeyFile(keyFile).equals(first)).toBe(true);
  });

  it("processes racing to create it agree on one key", async () => {
    const keyFile = path.join(dir, "race.key");
    const script = `
      require("tsx/cjs");
      const { loadSecretsKey } = require(${JSON.stringify(path.resolve(__dirname, "../../lib/secrets/key.ts"))});
      process.stdout.write(loadSecretsKey({ key: null, keyFile: ${JSON.stringify(keyFile)}, newKey: null }, true).toString("hex"));
    `;
    const outputs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ["-e", script])));
    const keys = new Set(outputs.map((o) => o.stdout));
    expect(keys.size).toBe(1);
    expect(readKeyFile(keyFile).toString("hex")).toBe([...keys][0]);
    expect(fs.readdirSync(dir)).toEqual(["race.key"]);
  }, 60_000);

  it("a file readable by others, or not a 32-byte key, is refused with its path", () => {
    const keyFile = path.join(dir, "secrets.key");
    createKeyFile(keyFile, generateKey());
    fs.chmodSync(keyFile, 0o644);
    expect(() => readKeyFile(keyFile)).toThrow(`The secrets key file ${keyFile} may be read by other users (mode 644); chmod 600 it`);
    fs.chmodSync(keyFile, 0o600);
    fs.writeFileSync(keyFile, "c2hvcnQ=\n");
    expect(() => readKeyFile(keyFile)).toThrow(`The secrets key file ${keyFile} does not hold the base64 text of 32 bytes`);
  });
});

describe("CONSOLE_MCP_SECRETS_KEY and the other keys in the configuration", () => {
  it("accepts the base64 of 32 bytes (standard or URL alphabet)", () => {
    const key = generateKey();
    expect(loadConfig({ CONSOLE_MCP_SECRETS_KEY: key.toString("base64") }).secrets.key?.equals(key)).toBe(true);
    expect(loadConfig({ CONSOLE_MCP_SECRETS_KEY: key.toString("base64url") }).secrets.key?.equals(key)).toBe(true);
    expect(loadConfig({}).secrets).toEqual({ key: null, keyFile: path.join(os.homedir(), ".mcp/secrets.key"), newKey: null });
  });

  it.each(["c2hvcnQ=", "not base64!", Buffer.alloc(33).toString("base64")])("refuses %s without echoing it", (value) => {
    let error: unknown;
    try {
      loadConfig({ CONSOLE_MCP_SECRETS_KEY: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'Invalid CONSOLE_MCP_SECRETS_KEY="<hidden>": expected the base64 text of 32 random bytes (e.g. from `openssl rand -base64 32`)',
    );
  });

  it("the backend's keys never reach a server's environment (allow-list or ${VAR})", () => {
    const config = loadConfig({
      CONSOLE_MCP_SECRETS_KEY: generateKey().toString("base64"),
      CONSOLE_MCP_ADMIN_KEY: "admin-key-0123456789",
      CONSOLE_MCP_SECRETS_NEW_KEY: generateKey().toString("base64"),
      OTHER: "kept",
    });
    expect(config.runtime.backendEnv.OTHER).toBe("kept");
    expect(Object.keys(config.runtime.backendEnv)).not.toEqual(expect.arrayContaining(["CONSOLE_MCP_SECRETS_KEY"]));
    expect(config.runtime.backendEnv.CONSOLE_MCP_ADMIN_KEY).toBeUndefined();
    expect(config.runtime.backendEnv.CONSOLE_MCP_SECRETS_NEW_KEY).toBeUndefined();
  });
});
