/**
 * Where the secrets key comes from (runtime-contract §24): CONSOLE_MCP_SECRETS_KEY when it is set
 * (lib/config.ts decodes it; replicas on several hosts must share it), otherwise a key file of this
 * host — `~/.mcp/secrets.key` by default (CONSOLE_MCP_SECRETS_KEY_FILE) — created on first use with
 * mode 0600 and 32 random bytes written as base64.
 *
 * The file is created with O_EXCL, so processes of one host that need it at the same moment agree on
 * one key: the loser of the race reads the winner's file. A file that is not a valid key, or that
 * other users may read, is refused with a clear error rather than silently replaced (replacing it
 * would make every stored value unreadable).
 */
import fs from "node:fs";
import path from "node:path";
import type { SecretsConfig } from "../config";
import { generateKey, KEY_BYTES } from "./cipher";

/** The key's source could not give a key; the message names the file and the cause, never a key. */
export class SecretsKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretsKeyError";
  }
}

/** The key text as written in a key file (base64 and a newline). */
export function keyFileText(key: Buffer): string {
  return `${key.toString("base64")}\n`;
}

/** Reads a key file; throws SecretsKeyError when it is not the base64 text of 32 bytes or is readable by others. */
export function readKeyFile(file: string): Buffer {
  const stat = fs.statSync(file);
  if ((stat.mode & 0o077) !== 0) {
    throw new SecretsKeyError(`The secrets key file ${file} may be read by other users (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const text = fs.readFileSync(file, "utf8").trim();
  const key = /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, "base64") : Buffer.alloc(0);
  if (key.length !== KEY_BYTES) throw new SecretsKeyError(`The secrets key file ${file} does not hold the base64 text of ${KEY_BYTES} bytes`);
  return key;
}

/** Writes `key` into a new file `file` (mode 0600, O_EXCL); throws when it exists. */
function writeNewFile(file: string, key: Buffer): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeSync(fd, keyFileText(key));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Creates the key file `file` holding `key` (mode 0600, parent directories created 0700); false when
 * the file already exists (nothing written). The key is written to a temporary file first and
 * hard-linked into place, so another process never reads a half-written key file.
 */
export function createKeyFile(file: string, key: Buffer): boolean {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp-${process.pid}-${Date.now()}`;
  writeNewFile(temp, key);
  try {
    fs.linkSync(temp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Replaces a key file atomically with `key` (a temporary file of mode 0600 renamed over it), for the
 * rotation command.
 */
export function replaceKeyFile(file: string, key: Buffer): void {
  const temp = `${file}.new-${process.pid}-${Date.now()}`;
  writeNewFile(temp, key);
  fs.renameSync(temp, file);
}

/**
 * The store key of this process: the configured one, else the key file's, creating the file with a
 * new random key when it does not exist and `create` is true. Resolves null when there is no key and
 * `create` is false (nothing was ever encrypted on this host with a key file).
 */
export function loadSecretsKey(config: SecretsConfig, create: boolean): Buffer | null {
  if (config.key !== null) return config.key;
  if (fs.existsSync(config.keyFile)) return readKeyFile(config.keyFile);
  if (!create) return null;
  createKeyFile(config.keyFile, generateKey());
  // Read back: when another process created it first, its key is the one.
  return readKeyFile(config.keyFile);
}
