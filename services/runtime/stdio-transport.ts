/**
 * The MCP stdio transport over a process the runtime spawned itself (runtime-contract §18.2, §21):
 * newline-delimited JSON-RPC on the child's stdin/stdout, implementing the SDK's `Transport` with the
 * SDK's own framing (ReadBuffer, serializeMessage). The runtime owns the process — its spawn, its
 * environment, its stderr and its group kill — so the SDK's StdioClientTransport (which spawns,
 * signals only the direct child and leaves stderr unread when piped) is not used.
 *
 * close() ends stdin and detaches; it never signals the process (the owner kills the group).
 */
import type { Readable, Writable } from "node:stream";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

export class ChildStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;

  private readonly readBuffer = new ReadBuffer();
  private started = false;
  private closed = false;
  private protocolVersion: string | undefined;

  constructor(
    private readonly stdin: Writable,
    private readonly stdout: Readable,
  ) {}

  /** The protocol version agreed in `initialize` (set by the SDK's Client). */
  get negotiatedProtocolVersion(): string | undefined {
    return this.protocolVersion;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      this.readBuffer.append(chunk);
    } catch (err) {
      // A message larger than the SDK's buffer limit: dropped, the stream goes on.
      this.onerror?.(err as Error);
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.readBuffer.readMessage();
      } catch (err) {
        // A line that is not JSON-RPC (a stray print on stdout): skipped, reported.
        this.onerror?.(new Error(`Ignored a stdout line that is not a JSON-RPC message: ${(err as Error).name}`));
        continue;
      }
      if (message === null) break;
      this.onmessage?.(message);
    }
  };

  private readonly onEnd = () => {
    void this.close();
  };

  private readonly onStreamError = (err: Error) => {
    this.onerror?.(err);
  };

  async start(): Promise<void> {
    if (this.started) throw new Error("ChildStdioTransport already started");
    if (this.closed) throw new Error("ChildStdioTransport is closed");
    this.started = true;
    this.stdout.on("data", this.onData);
    this.stdout.on("end", this.onEnd);
    this.stdout.on("close", this.onEnd);
    this.stdin.on("error", this.onStreamError);
    this.stdout.on("error", this.onStreamError);
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed || this.stdin.destroyed || this.stdin.writableEnded) {
        reject(new Error("Not connected"));
        return;
      }
      const flushed = this.stdin.write(serializeMessage(message), (err) => {
        if (err) reject(err);
      });
      if (flushed) {
        resolve();
        return;
      }
      // Wait for the pipe to take more, or for it to close (the process died): never hang.
      const settle = () => {
        this.stdin.off("drain", settle);
        this.stdin.off("close", settle);
        if (this.stdin.destroyed) reject(new Error("Not connected"));
        else resolve();
      };
      this.stdin.on("drain", settle);
      this.stdin.on("close", settle);
    });
  }

  /** Ends stdin, stops reading stdout and calls onclose once. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdout.off("data", this.onData);
    this.stdout.off("end", this.onEnd);
    this.stdout.off("close", this.onEnd);
    this.readBuffer.clear();
    if (!this.stdin.destroyed && !this.stdin.writableEnded) this.stdin.end();
    // Nothing more will be read: let the pipe go.
    this.stdout.resume();
    this.onclose?.();
  }
}
