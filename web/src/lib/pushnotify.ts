import type { PushPayload } from "../gen/parley/notification/v1/notification_pb";

// The service worker's half of the push channel, kept free of imports with a runtime so the worker
// stays a few hundred bytes: the payload is PushPayload in proto3 JSON (docs/notification.md), read
// here by its JSON field names rather than through the protobuf runtime.

/** What the worker hands to showNotification. */
export interface ShownNotification {
  title: string;
  options: { body?: string; tag?: string; data: { url: string } };
}

type Fields = Partial<Pick<PushPayload, "title" | "body" | "tag" | "url" | "chatId">>;

/**
 * The notification a push shows. A payload that is not the JSON we send (a push from an older
 * server, a test's empty push) still shows something: browsers penalise a push that shows
 * nothing, and userVisibleOnly promises one.
 */
export function pushNotification(text: string | null | undefined, origin: string): ShownNotification {
  let p: Fields = {};
  try {
    const v: unknown = JSON.parse(text ?? "");
    if (v && typeof v === "object") p = v as Fields;
  } catch {
    // not JSON: the generic notification below
  }
  const str = (x: unknown) => (typeof x === "string" && x !== "" ? x : undefined);
  const options: ShownNotification["options"] = { data: { url: sameOrigin(str(p.url), origin) } };
  const body = str(p.body);
  if (body) options.body = body;
  const tag = str(p.tag);
  if (tag) options.tag = tag;
  return { title: str(p.title) ?? "Parley", options };
}

/** url when it points into the app at origin; the app's start page otherwise, so a push can never
 * make the worker open another site. */
export function sameOrigin(url: string | undefined, origin: string): string {
  if (url) {
    try {
      const u = new URL(url, origin);
      if (u.origin === origin) return u.href;
    } catch {
      // fall through
    }
  }
  return new URL("/", origin).href;
}
