/** stablecheckout merchant SDK (Node 18+): everything in `./browser`, plus what needs the secret. */

export * from "./browser.js";
export { WebhookVerificationError } from "./errors.js";
export { Client, type CreateOrder, SessionsClient } from "./client.js";
export * from "./dialects.js";
export * from "./md5.js";
export * from "./signing.js";
export * from "./verifier.js";
export * from "./webhooks.js";
