import { Code, ConnectError } from "@connectrpc/connect";

// "Push notifications on this device": the browser's side of the push channel (docs/web.md, Push
// notifications). The browser APIs and the NotificationService calls come in as Deps, so the
// logic is tested with fakes (push.test.ts) and used with the real ones (browserDeps).

/** The browser's PushSubscription, as much of it as is used. */
export interface SubscriptionLike {
  endpoint: string;
  toJSON(): { endpoint?: string; keys?: Record<string, string> };
  unsubscribe(): Promise<boolean>;
}
export interface RegistrationLike {
  pushManager: {
    getSubscription(): Promise<SubscriptionLike | null>;
    subscribe(o: { userVisibleOnly: boolean; applicationServerKey: Uint8Array<ArrayBuffer> }): Promise<SubscriptionLike>;
  };
}
export interface Deps {
  /** false when the browser has no service workers, PushManager or Notification. */
  supported: boolean;
  permission(): NotificationPermission;
  requestPermission(): Promise<NotificationPermission>;
  /** Registers /sw.js and waits until it is active. */
  register(): Promise<RegistrationLike>;
  /** The registration already there, if any; never registers or prompts. */
  existing(): Promise<RegistrationLike | undefined>;
  deviceLabel: string;
  api: {
    getPushPublicKey(): Promise<{ publicKey: string }>;
    registerPushSubscription(r: { endpoint: string; p256dh: string; auth: string; deviceLabel: string }): Promise<unknown>;
    listPushSubscriptions(): Promise<{ subscriptions: { subscriptionId: string; endpoint: string }[] }>;
    removePushSubscription(r: { subscriptionId: string }): Promise<unknown>;
  };
}

/** An error to show as it is, next to the switch. */
export class PushError extends Error {}

export const UNSUPPORTED = "This browser cannot receive push notifications.";
export const BLOCKED = "Notifications are blocked for this site: allow them in the browser's site settings, then try again.";
export const DISMISSED = "Notifications were not allowed. Turn the switch on again to be asked again.";
export const NOT_CONFIGURED = "Push notifications are not configured on this server.";

/**
 * Whether this device is subscribed: the browser holds a subscription and the server has it for
 * the signed-in person (it drops it when the session that registered it ends, docs/notification.md,
 * while the browser keeps it). Reads what is there, never prompts or registers.
 */
export async function isSubscribed(d: Deps): Promise<boolean> {
  if (!d.supported || d.permission() !== "granted") return false;
  const sub = await (await d.existing())?.pushManager.getSubscription();
  if (!sub) return false;
  const { subscriptions } = await d.api.listPushSubscriptions();
  return subscriptions.some((s) => s.endpoint === sub.endpoint);
}

/**
 * Turns push on for this device. Call it only from a user gesture (the switch's change): the
 * permission prompt is asked for here and nowhere else.
 */
export async function enablePush(d: Deps): Promise<void> {
  if (!d.supported) throw new PushError(UNSUPPORTED);
  let perm = d.permission();
  if (perm === "denied") throw new PushError(BLOCKED);
  if (perm !== "granted") perm = await d.requestPermission();
  if (perm === "denied") throw new PushError(BLOCKED);
  if (perm !== "granted") throw new PushError(DISMISSED);

  let key: string;
  try {
    key = (await d.api.getPushPublicKey()).publicKey;
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.FailedPrecondition) throw new PushError(NOT_CONFIGURED);
    throw err;
  }
  const reg = await d.register();
  let sub = await reg.pushManager.getSubscription();
  // A subscription made with another key (the server's key was rotated) cannot be used: the push
  // service would refuse our VAPID signature. Start again.
  if (sub && !sameKey(sub, key)) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) {
    try {
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(key) });
    } catch (err) {
      throw new PushError(`The browser could not subscribe to its push service: ${(err as Error)?.message ?? err}`);
    }
  }
  const keys = sub.toJSON().keys ?? {};
  try {
    await d.api.registerPushSubscription({ endpoint: sub.endpoint, p256dh: keys.p256dh ?? "", auth: keys.auth ?? "", deviceLabel: d.deviceLabel });
  } catch (err) {
    // Not registered, so nothing would ever be pushed to it: do not leave it behind.
    await sub.unsubscribe().catch(() => undefined);
    throw err;
  }
}

/**
 * At start: a subscription made with a key the server no longer has (it was rotated,
 * docs/notification.md) is replaced by one with the new key, registered again. Never prompts: it
 * acts only where the permission is granted and a subscription exists.
 */
export async function renewIfRotated(d: Deps): Promise<boolean> {
  if (!(await isSubscribed(d))) return false;
  const reg = (await d.existing())!;
  const sub = await reg.pushManager.getSubscription();
  let key: string;
  try {
    key = (await d.api.getPushPublicKey()).publicKey;
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.FailedPrecondition) return false;
    throw err;
  }
  if (!sub || sameKey(sub, key)) return false;
  await enablePush(d);
  return true;
}

/** Turns push off for this device: the server forgets the subscription, the browser drops it. */
export async function disablePush(d: Deps): Promise<void> {
  if (!d.supported) return;
  const reg = await d.existing();
  const sub = await reg?.pushManager.getSubscription();
  if (!sub) return;
  const { subscriptions } = await d.api.listPushSubscriptions();
  for (const s of subscriptions) {
    if (s.endpoint === sub.endpoint) await d.api.removePushSubscription({ subscriptionId: s.subscriptionId });
  }
  await sub.unsubscribe();
}

function sameKey(sub: SubscriptionLike, key: string): boolean {
  const have = (sub as { options?: { applicationServerKey?: ArrayBuffer | null } }).options?.applicationServerKey;
  if (!have) return true; // the browser does not say: keep it
  const want = fromBase64url(key);
  const got = new Uint8Array(have);
  return got.length === want.length && got.every((b, i) => b === want[i]);
}

export function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A label the person recognises the device by: "Chrome on Linux", "Firefox on Android". */
export function deviceLabel(nav: { userAgent: string; platform?: string; userAgentData?: { platform?: string; brands?: { brand: string }[] } }): string {
  const ua = nav.userAgent;
  // Client hints name the browser (Chromium's list carries a decoy "Not A Brand" and "Chromium"
  // beside the product); without them, the user agent string.
  const brands = (nav.userAgentData?.brands ?? []).map((b) => b.brand).filter((b) => !/not.?a.?brand/i.test(b));
  const brand =
    brands.find((b) => b !== "Chromium") ??
    brands[0] ??
    (/Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser");
  const os =
    nav.userAgentData?.platform ||
    (/Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : nav.platform || "");
  return (os ? `${brand} on ${os}` : brand).slice(0, 100);
}

/** The real browser. */
export function browserDeps(api: Deps["api"]): Deps {
  const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  return {
    supported,
    permission: () => Notification.permission,
    requestPermission: () => Notification.requestPermission(),
    register: async () => {
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      return (await navigator.serviceWorker.ready) as unknown as RegistrationLike;
    },
    existing: async () => (await navigator.serviceWorker.getRegistration("/")) as unknown as RegistrationLike | undefined,
    deviceLabel: deviceLabel(navigator as unknown as Parameters<typeof deviceLabel>[0]),
    api,
  };
}
