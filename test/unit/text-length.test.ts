/**
 * Text lengths are counted in characters (code points), as the OpenAPI document's maxLength counts
 * them: a secret's value, a key's name and a tool call's session_id (a tester found these three
 * counting UTF-16 units, so 😀 × max, valid by the document, was refused).
 */
import { parseNewKey, MAX_KEY_NAME_CHARS } from "../../services/access/new-key";
import { MAX_SECRET_CHARS } from "../../lib/secrets/store";
import { parseToolCallBody, TOOL_CALL_LIMITS } from "../../services/runtime/views";
import { secretValue } from "../../services/secrets/value";
import { charCount } from "../../lib/validation";

const EMOJI = "\u{1F600}"; // one character, two UTF-16 units

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return (err as { data?: unknown; detail?: unknown }).data ?? err;
  }
  return null;
}

describe("text lengths count characters", () => {
  it("charCount counts code points", () => {
    expect(charCount("")).toBe(0);
    expect(charCount(`a${EMOJI}b`)).toBe(3);
    expect(`a${EMOJI}b`.length).toBe(4);
  });

  it("a secret's value: max characters of astral text pass, one more is refused", () => {
    expect(secretValue({ value: EMOJI.repeat(MAX_SECRET_CHARS) })).toHaveLength(2 * MAX_SECRET_CHARS);
    expect(refusal(() => secretValue({ value: EMOJI.repeat(MAX_SECRET_CHARS + 1) }))).not.toBeNull();
  });

  it("a key's name: max characters of astral text pass, one more is refused", () => {
    const now = Date.now();
    expect(parseNewKey({ name: EMOJI.repeat(MAX_KEY_NAME_CHARS), role: "viewer" }, now).name).toBe(EMOJI.repeat(MAX_KEY_NAME_CHARS));
    expect(refusal(() => parseNewKey({ name: EMOJI.repeat(MAX_KEY_NAME_CHARS + 1), role: "viewer" }, now))).not.toBeNull();
  });

  it("a tool call's session_id: max characters of astral text pass, one more is refused", () => {
    const max = TOOL_CALL_LIMITS.sessionIdChars;
    expect(parseToolCallBody({ session_id: EMOJI.repeat(max) }).session_id).toBe(EMOJI.repeat(max));
    expect(refusal(() => parseToolCallBody({ session_id: EMOJI.repeat(max + 1) }))).not.toBeNull();
  });
});
