import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "../gen/parley/auth/v1/auth_pb";
import { ChatService } from "../gen/parley/chat/v1/chat_pb";
import { FriendService } from "../gen/parley/friend/v1/friend_pb";
import { MediaService } from "../gen/parley/media/v1/media_pb";
import { NotificationService } from "../gen/parley/notification/v1/notification_pb";
import { ProfileService } from "../gen/parley/profile/v1/profile_pb";
import { browserDeps } from "./push";
import { grant, Session, type ChannelLike, type LockManagerLike } from "./session";

// Same origin: the gateway serves the app and the API (`/api`), and `vite dev`/`preview` proxy
// both to it, so there is no CORS and no base URL to configure.
const baseUrl = new URL("/api", location.origin).toString();

// Ask the gateway to keep the refresh token in its httpOnly cookie (docs/auth.md, Browser clients);
// procedures that do not concern it ignore the header.
const refreshCookie: Interceptor = (next) => (req) => {
  if (req.service.typeName === AuthService.typeName) req.header.set("X-Parley-Refresh-Cookie", "1");
  return next(req);
};

const publicTransport = createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [refreshCookie] });

export const authPublic = createClient(AuthService, publicTransport);

export const session = new Session({
  refresh: async () => {
    // Empty: the gateway fills the token in from its cookie.
    const r = await authPublic.refreshToken({});
    return grant(r.userId, r.tokens);
  },
  // The refresh token itself was refused (expired, revoked, reused, or no cookie); anything else is retried.
  isFatal: (err) =>
    err instanceof ConnectError && (err.code === Code.Unauthenticated || err.code === Code.InvalidArgument),
  storage: localStorage,
  locks: "locks" in navigator ? (navigator.locks as unknown as LockManagerLike) : undefined,
  channel: "BroadcastChannel" in globalThis ? (new BroadcastChannel("parley.session") as unknown as ChannelLike) : undefined,
});

// A token the gateway refuses although it looked valid here (the session was revoked, or the
// estimate of its expiry was off) gets one renewal and one retry; a refused renewal signs out.
const bearer: Interceptor = (next) => async (req) => {
  const token = await session.token();
  req.header.set("Authorization", "Bearer " + token);
  try {
    return await next(req);
  } catch (err) {
    if (!(err instanceof ConnectError && err.code === Code.Unauthenticated)) throw err;
    req.header.set("Authorization", "Bearer " + (await session.renew(token)).token);
    return await next(req);
  }
};

const transport = createConnectTransport({ baseUrl, useBinaryFormat: true, interceptors: [refreshCookie, bearer] });

export const auth = createClient(AuthService, transport);
export const chat = createClient(ChatService, transport);
export const friends = createClient(FriendService, transport);
export const media = createClient(MediaService, transport);
export const notifications = createClient(NotificationService, transport);
export const profiles = createClient(ProfileService, transport);

export function wsUrl(): string {
  const u = new URL("/ws", location.origin);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

// Push on this device (lib/push.ts) with the real browser and NotificationService.
export const push = browserDeps({
  getPushPublicKey: () => notifications.getPushPublicKey({}),
  registerPushSubscription: (r) => notifications.registerPushSubscription(r),
  listPushSubscriptions: () => notifications.listPushSubscriptions({}),
  removePushSubscription: (r) => notifications.removePushSubscription(r),
});
