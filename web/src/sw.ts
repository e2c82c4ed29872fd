// The service worker (served as /sw.js): shows a Web Push as a notification and opens the app at
// the push's page when it is clicked. Built by Vite as its own entry with no imports left, so it
// registers as a classic worker in every browser (docs/web.md, Push notifications).
import { pushNotification, sameOrigin } from "./lib/pushnotify";

// Just the parts of the worker's global scope used here: the WebWorker lib's types cannot share a
// program with the DOM lib the app is checked against.
interface WindowClient {
  url: string;
  focus(): Promise<WindowClient>;
  postMessage(message: unknown): void;
}
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface PushEvent extends ExtendableEvent {
  data: { text(): string } | null;
}
interface NotificationEvent extends ExtendableEvent {
  notification: Notification;
}
interface Scope {
  location: Location;
  registration: ServiceWorkerRegistration;
  clients: {
    matchAll(o: { type: "window"; includeUncontrolled: boolean }): Promise<WindowClient[]>;
    openWindow(url: string): Promise<WindowClient | null>;
    claim(): Promise<void>;
  };
  skipWaiting(): Promise<void>;
  addEventListener(type: "push", fn: (e: PushEvent) => void): void;
  addEventListener(type: "notificationclick", fn: (e: NotificationEvent) => void): void;
  addEventListener(type: "install" | "activate", fn: (e: ExtendableEvent) => void): void;
}
const sw = self as unknown as Scope;
const origin = sw.location.origin;

// A new version takes over at once: the worker keeps no caches whose versions could clash.
sw.addEventListener("install", (e) => e.waitUntil(sw.skipWaiting()));
sw.addEventListener("activate", (e) => e.waitUntil(sw.clients.claim()));

sw.addEventListener("push", (e) => {
  const n = pushNotification(e.data?.text(), origin);
  e.waitUntil(sw.registration.showNotification(n.title, n.options));
});

// An open tab of the app is focused and told which page to show (it routes without reloading, so
// it keeps its session and socket); with none, a new window opens at the page.
sw.addEventListener("notificationclick", (e) => {
  e.notification.close();
  const url = sameOrigin((e.notification.data as { url?: string } | null)?.url, origin);
  e.waitUntil(
    (async () => {
      const open = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
      const tab = open.find((c) => new URL(c.url).origin === origin);
      if (tab) {
        await tab.focus();
        tab.postMessage({ type: "parley.open", url });
        return;
      }
      await sw.clients.openWindow(url);
    })(),
  );
});
