// The app has one address, "/"; these are the pages a push notification's or an email's url
// names (docs/notification.md), opened by the app at start or when the service worker says so.
// Apart from pushnotify.ts, which only the service worker imports, so the two builds share no chunk.

/** Where a push's (or an email's) url leads inside the app: the pages docs/notification.md lists. */
export type Route = { view: "chats"; chatId?: string } | { view: "people" } | { view: "notifications" } | { view: "account" };

export function routeOf(path: string): Route | null {
  const chat = /^\/chats\/([0-9a-fA-F-]{36})\/?$/.exec(path);
  if (chat) return { view: "chats", chatId: chat[1].toLowerCase() };
  if (path === "/chats" || path === "/chats/") return { view: "chats" };
  if (/^\/friends(\/|$)/.test(path)) return { view: "people" };
  if (/^\/(notifications|settings\/notifications)\/?$/.test(path)) return { view: "notifications" };
  if (/^\/settings\/sessions\/?$/.test(path)) return { view: "account" };
  return null;
}
