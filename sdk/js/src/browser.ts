/**
 * The browser-safe part of the SDK, for a custom checkout page: the User API with the URL your
 * backend signed, live order updates (WebSocket, polling fallback), the wire types and errors.
 * Nothing here holds or needs the merchant secret, and nothing imports a Node module.
 */

export { ApiError, InvalidResponseError, StablecheckoutError, TransportError } from "./errors.js";
export type { HttpOptions } from "./http.js";
export * from "./models.js";
export {
  type SignatureSource,
  type SignedPage,
  type SocketConstructor,
  type UserClientOptions,
  type Watch,
  type WatchOptions,
  UserClient,
  splitSignedUrl,
} from "./user.js";
