/** Errors: what the server said (status and text) travels with the error. Browser-safe. */

export class StablecheckoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The server answered with a non-success status. Ocrch routes (Service and User API) answer plain
 * text with exact strings (`order not found`); Checkout Sessions answer
 * `{"error": {"type", "message", "param"}}`. `text` is always the raw body.
 */
export class ApiError extends StablecheckoutError {
  readonly status: number;
  readonly text: string;
  readonly type: string | null;
  readonly param: string | null;
  readonly serverMessage: string;

  constructor(
    status: number,
    text: string,
    detail: { type?: string | null; message?: string | null; param?: string | null } = {},
  ) {
    const message = detail.message ?? text;
    super(`${status}: ${message}`);
    this.status = status;
    this.text = text;
    this.type = detail.type ?? null;
    this.param = detail.param ?? null;
    this.serverMessage = message;
  }

  static fromSessionResponse(status: number, text: string): ApiError {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return new ApiError(status, text);
    }
    const error = (data as { error?: unknown } | null)?.error;
    if (typeof error !== "object" || error === null) return new ApiError(status, text);
    const e = error as Record<string, unknown>;
    const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
    return new ApiError(status, text, { type: str(e.type), message: str(e.message), param: str(e.param) });
  }
}

/** The request never got an answer (connection refused, DNS, timeout). */
export class TransportError extends StablecheckoutError {}

/** A webhook's signature is missing, malformed, wrong or too old: answer 400. */
export class WebhookVerificationError extends StablecheckoutError {}

/** A success answer whose body is not what the wire contract promises. */
export class InvalidResponseError extends StablecheckoutError {}
