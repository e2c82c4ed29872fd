import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { renewIfRotated, BLOCKED, deviceLabel, disablePush, DISMISSED, enablePush, fromBase64url, isSubscribed, NOT_CONFIGURED, PushError, UNSUPPORTED, type Deps, type SubscriptionLike } from "./push";

// The browser's Notification, service worker and PushManager are faked: Node has none of them,
// and a real PushManager.subscribe needs the browser vendor's push service (e2e/run.mjs covers the
// worker in Chromium). The fake server keeps subscriptions as NotificationService does.

const KEY = "BPcMbnWQL5GOYX_5vKm0zT3cuyNBMDZaohaJ68BKd5KC3tRU3eFX7NQ7WqLdJOTvY4rwTXe-lzZBJlT7ZQwrJR0";

class Fake {
  permission: NotificationPermission = "default";
  answer: NotificationPermission = "granted";
  prompts = 0;
  registered = false;
  sub: (SubscriptionLike & { key: Uint8Array }) | null = null;
  subscribeError: Error | null = null;
  vapid: string | null = KEY;
  registerError: Error | null = null;
  server: { subscriptionId: string; endpoint: string; p256dh: string; auth: string; deviceLabel: string }[] = [];
  n = 0;

  deps(supported = true): Deps {
    const reg = {
      pushManager: {
        getSubscription: async () => this.sub,
        subscribe: async (o: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }) => {
          if (!o.userVisibleOnly) throw new Error("userVisibleOnly must be true");
          if (this.subscribeError) throw this.subscribeError;
          const endpoint = `https://push.example/${++this.n}`;
          const sub = {
            endpoint,
            key: o.applicationServerKey,
            options: { applicationServerKey: o.applicationServerKey.buffer },
            toJSON: () => ({ endpoint, keys: { p256dh: `p${this.n}`, auth: `a${this.n}` } }),
            unsubscribe: async () => {
              if (this.sub === sub) this.sub = null;
              return true;
            },
          };
          this.sub = sub;
          return sub;
        },
      },
    };
    return {
      supported,
      permission: () => this.permission,
      requestPermission: async () => {
        this.prompts++;
        this.permission = this.answer;
        return this.answer;
      },
      register: async () => {
        this.registered = true;
        return reg;
      },
      existing: async () => (this.registered ? reg : undefined),
      deviceLabel: "Chrome on Linux",
      api: {
        getPushPublicKey: async () => {
          if (!this.vapid) throw new ConnectError("push notifications are not configured on this server", Code.FailedPrecondition);
          return { publicKey: this.vapid };
        },
        registerPushSubscription: async (r) => {
          if (this.registerError) throw this.registerError;
          this.server = this.server.filter((s) => s.endpoint !== r.endpoint);
          this.server.unshift({ subscriptionId: `id-${r.endpoint}`, ...r });
          return {};
        },
        listPushSubscriptions: async () => ({ subscriptions: this.server.map(({ subscriptionId, endpoint }) => ({ subscriptionId, endpoint })) }),
        removePushSubscription: async ({ subscriptionId }) => {
          this.server = this.server.filter((s) => s.subscriptionId !== subscriptionId);
          return {};
        },
      },
    };
  }
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof PushError)) throw new Error(`want a PushError, got ${String(err)}`);
  return err.message;
}

describe("enablePush", () => {
  it("asks permission, subscribes with the server's key and registers the subscription", async () => {
    const f = new Fake();
    expect(await isSubscribed(f.deps())).toBe(false);
    expect(f.prompts).toBe(0); // looking never prompts
    await enablePush(f.deps());
    expect(f.prompts).toBe(1);
    expect(Array.from(f.sub!.key)).toEqual(Array.from(fromBase64url(KEY)));
    expect(f.sub!.key.length).toBe(65);
    expect(f.server).toEqual([{ subscriptionId: "id-https://push.example/1", endpoint: "https://push.example/1", p256dh: "p1", auth: "a1", deviceLabel: "Chrome on Linux" }]);
    expect(await isSubscribed(f.deps())).toBe(true);

    // Again: the same subscription registered again, no second prompt.
    await enablePush(f.deps());
    expect(f.prompts).toBe(1);
    expect(f.server.map((s) => s.endpoint)).toEqual(["https://push.example/1"]);
  });

  it("says why when the browser refuses", async () => {
    const f = new Fake();
    expect(await refusal(enablePush(f.deps(false)))).toBe(UNSUPPORTED);
    f.answer = "default"; // the prompt dismissed
    expect(await refusal(enablePush(f.deps()))).toBe(DISMISSED);
    f.answer = "denied";
    expect(await refusal(enablePush(f.deps()))).toBe(BLOCKED);
    // Once blocked the browser would not ask again: nor do we.
    expect(await refusal(enablePush(f.deps()))).toBe(BLOCKED);
    expect(f.prompts).toBe(2);
    expect(f.registered).toBe(false);
    expect(f.server).toEqual([]);
  });

  it("says the server has push off (FailedPrecondition), subscribing nothing", async () => {
    const f = new Fake();
    f.vapid = null;
    expect(await refusal(enablePush(f.deps()))).toBe(NOT_CONFIGURED);
    expect(f.sub).toBeNull();
  });

  it("reports a push service that cannot be reached", async () => {
    const f = new Fake();
    f.subscribeError = new Error("Registration failed - push service error");
    expect(await refusal(enablePush(f.deps()))).toMatch(/could not subscribe.*push service error/);
    expect(f.server).toEqual([]);
  });

  it("drops the browser's subscription when the server refuses it", async () => {
    const f = new Fake();
    f.registerError = new ConnectError("endpoint: host 10.0.0.7 is a private address, not a public one", Code.InvalidArgument);
    await expect(enablePush(f.deps())).rejects.toBe(f.registerError);
    expect(f.sub).toBeNull();
  });

  it("replaces a subscription made with a rotated key", async () => {
    const f = new Fake();
    await enablePush(f.deps());
    f.vapid = "BOr_8ZZ8TqN9BkVm9b6b0lNUpVb1MdfOsqgbN3A0fP3W1C3bL4c2gkA_qT0j2F6xzKq0mYl1m5H7E2F6wFq8y1s";
    await enablePush(f.deps());
    expect(f.sub!.endpoint).toBe("https://push.example/2");
    expect(Array.from(f.sub!.key)).toEqual(Array.from(fromBase64url(f.vapid)));
    expect(f.server[0].endpoint).toBe("https://push.example/2");
  });
});

describe("renewIfRotated", () => {
  it("resubscribes with a rotated key at start, and does nothing otherwise", async () => {
    const f = new Fake();
    expect(await renewIfRotated(f.deps())).toBe(false); // not subscribed: no call, no prompt
    await enablePush(f.deps());
    expect(await renewIfRotated(f.deps())).toBe(false);
    expect(f.sub!.endpoint).toBe("https://push.example/1");
    f.vapid = "BOr_8ZZ8TqN9BkVm9b6b0lNUpVb1MdfOsqgbN3A0fP3W1C3bL4c2gkA_qT0j2F6xzKq0mYl1m5H7E2F6wFq8y1s";
    expect(await renewIfRotated(f.deps())).toBe(true);
    expect(f.sub!.endpoint).toBe("https://push.example/2");
    expect(f.server[0].endpoint).toBe("https://push.example/2");
    expect(f.prompts).toBe(1);
    f.vapid = null; // push turned off on the server: leave the subscription be
    expect(await renewIfRotated(f.deps())).toBe(false);
  });
});

describe("isSubscribed", () => {
  it("is off when the server dropped the subscription the browser still holds (the session ended)", async () => {
    const f = new Fake();
    await enablePush(f.deps());
    f.server = [];
    expect(await isSubscribed(f.deps())).toBe(false);
    expect(await renewIfRotated(f.deps())).toBe(false); // not brought back behind the person's back
    await enablePush(f.deps()); // switched on again: the browser's subscription registered again
    expect(f.server.map((s) => s.endpoint)).toEqual(["https://push.example/1"]);
    expect(await isSubscribed(f.deps())).toBe(true);
  });
});

describe("disablePush", () => {
  it("removes this device's subscription on the server and in the browser, and only it", async () => {
    const f = new Fake();
    f.server.push({ subscriptionId: "other", endpoint: "https://push.example/phone", p256dh: "x", auth: "y", deviceLabel: "phone" });
    await enablePush(f.deps());
    await disablePush(f.deps());
    expect(f.sub).toBeNull();
    expect(f.server.map((s) => s.subscriptionId)).toEqual(["other"]);
    expect(await isSubscribed(f.deps())).toBe(false);
    await disablePush(f.deps()); // nothing left: nothing to do
  });
});

describe("deviceLabel", () => {
  it("names the browser and the system", () => {
    expect(deviceLabel({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/140", userAgentData: { platform: "Linux", brands: [{ brand: "Not)A;Brand" }, { brand: "Chromium" }, { brand: "Google Chrome" }] } })).toBe("Google Chrome on Linux");
    expect(deviceLabel({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/140", userAgentData: { platform: "Linux", brands: [{ brand: "Chromium" }] } })).toBe("Chromium on Linux");
    expect(deviceLabel({ userAgent: "Mozilla/5.0 (Android 14; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0" })).toBe("Firefox on Android");
    expect(deviceLabel({ userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Version/18.0 Mobile Safari/604.1" })).toBe("Safari on iOS");
  });
});
