/**
 * The encryption of stored secrets (runtime-contract §24): AES-256-GCM from node:crypto, a random
 * 12-byte nonce per value, the server id as associated data — so a value copied to another server's
 * row, or a row whose id, nonce, ciphertext or tag was edited, fails to decrypt instead of yielding
 * a wrong value. Each sealed value names the key that sealed it (`key_id`, a fingerprint), so a
 * value sealed under another key is reported as such rather than as tampering.
 *
 * Pure functions: no store, no files, no logging. Nothing here ever puts a plaintext or a key in an
 * error message.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** AES-256-GCM: 32-byte key, 12-byte nonce (the GCM standard size), 16-byte tag. */
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

/** One sealed value as stored: base64 texts and the fingerprint of the key that sealed it. */
export interface SealedValue {
  nonce: string;
  /** Ciphertext followed by the 16-byte GCM tag, base64. */
  ciphertext: string;
  key_id: string;
}

/** A stored value that cannot be opened; the message names the server and the cause, never a value. */
export class SecretDecryptError extends Error {
  constructor(
    readonly providerId: string,
    readonly reason: "other_key" | "altered",
    detail: string,
  ) {
    super(`Secret for provider '${providerId}' cannot be decrypted: ${detail}`);
    this.name = "SecretDecryptError";
  }
}

/** A key's fingerprint: the first 16 hex digits of SHA-256("console-mcp secrets key" NUL key). */
export function keyId(key: Buffer): string {
  return createHash("sha256").update("console-mcp secrets key\0").update(key).digest("hex").slice(0, 16);
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error(`a secrets key has ${KEY_BYTES} bytes`);
}

/** Seals `plaintext` for server `providerId` under `key` (a fresh random nonce each time). */
export function seal(key: Buffer, providerId: string, plaintext: string): SealedValue {
  checkKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(providerId, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return { nonce: nonce.toString("base64"), ciphertext: body.toString("base64"), key_id: keyId(key) };
}

/**
 * Opens a sealed value of server `providerId`. Throws SecretDecryptError `other_key` when it was
 * sealed under another key, `altered` when the authentication fails (the row was edited, or belongs
 * to another server) or its fields are malformed.
 */
export function open(key: Buffer, providerId: string, sealed: SealedValue): string {
  checkKey(key);
  if (sealed.key_id !== keyId(key)) {
    throw new SecretDecryptError(
      providerId,
      "other_key",
      `it was encrypted with the key ${sealed.key_id}, but this process has the key ${keyId(key)} (CONSOLE_MCP_SECRETS_KEY or the key file differ between replicas, or a rotation is under way)`,
    );
  }
  const altered = () =>
    new SecretDecryptError(providerId, "altered", "the stored value does not authenticate (it was altered, or copied from another server)");
  const nonce = Buffer.from(sealed.nonce, "base64");
  const body = Buffer.from(sealed.ciphertext, "base64");
  if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw altered();
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(providerId, "utf8"));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    return plain.toString("utf8");
  } catch {
    throw altered();
  }
}

/** A new random key (for the key file and for rotation). */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}
