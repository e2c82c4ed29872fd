import { describe, expect, it } from "vitest";
import { grant, LOCK_NAME, MARKER, MARKER_KEY, Session, SignedOutError, type ChannelLike, type Grant, type LockManagerLike, type StorageLike } from "./session";

// Two tabs share one storage, one lock manager and one broadcast bus, as a browser's tabs of one
// origin do; the fake auth server rotates refresh tokens and, like the real one, ends the session
// when a used one comes back.

class MemStorage implements StorageLike {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

class Locks implements LockManagerLike {
  private tail = new Map<string, Promise<unknown>>();
  request<T>(name: string, cb: () => Promise<T>): Promise<T> {
    const prev = this.tail.get(name) ?? Promise.resolve();
    const run = prev.then(cb, cb);
    this.tail.set(name, run.catch(() => undefined));
    return run;
  }
}

class Bus {
  members: ChannelLike[] = [];
  join(): ChannelLike {
    const ch: ChannelLike = {
      onmessage: null,
      postMessage: (data) => {
        for (const m of this.members) if (m !== ch) queueMicrotask(() => m.onmessage?.({ data }));
      },
    };
    this.members.push(ch);
    return ch;
  }
}

// The browser's cookie jar and the auth service behind the gateway: a refresh sends the cookie the
// jar holds when the request leaves, and the answer replaces it. The page never sees it.
class FakeAuth {
  jar = "rt-0";
  used = new Set<string>();
  revoked = false;
  calls = 0;
  n = 0;
  lifetimeMs = 15 * 60_000;
  refresh = async (): Promise<Grant> => {
    this.calls++;
    const rt = this.jar;
    await new Promise((r) => setTimeout(r, 5));
    if (this.revoked) throw new Error("unauthenticated");
    if (this.used.has(rt)) {
      this.revoked = true;
      throw new Error("unauthenticated");
    }
    this.used.add(rt);
    this.n++;
    this.jar = `rt-${this.n}`;
    return { token: `at-${this.n}`, lifetimeMs: this.lifetimeMs, userId: "u1" };
  };
}

function setup() {
  let t = 1_000_000;
  const now = () => t;
  const storage = new MemStorage();
  storage.setItem(MARKER_KEY, MARKER);
  const locks = new Locks();
  const bus = new Bus();
  const server = new FakeAuth();
  const timers: { at: number; fn: () => void }[] = [];
  const tab = () =>
    new Session({
      refresh: server.refresh,
      isFatal: (e) => e instanceof Error && e.message === "unauthenticated",
      storage,
      locks,
      channel: bus.join(),
      now,
      setTimeout: (fn, ms) => {
        const x = { at: t + ms, fn };
        timers.push(x);
        return x;
      },
      clearTimeout: (x) => {
        const i = timers.indexOf(x as (typeof timers)[number]);
        if (i >= 0) timers.splice(i, 1);
      },
    });
  const advance = (ms: number) => {
    t += ms;
    for (const x of timers.filter((x) => x.at <= t)) {
      timers.splice(timers.indexOf(x), 1);
      x.fn();
    }
  };
  return { storage, server, tab, advance, now, timers };
}

describe("Session", () => {
  it("two tabs renewing at once never present the same refresh token twice", async () => {
    const { server, tab } = setup();
    const a = tab();
    const b = tab();
    const [ta, tb] = await Promise.all([a.token(), b.token()]);
    expect(server.revoked).toBe(false);
    expect(ta).toMatch(/^at-/);
    expect(tb).toMatch(/^at-/);
    // The second tab either took the first one's token from the channel or rotated the new refresh token.
    expect(server.calls).toBeLessThanOrEqual(2);
  });

  it("without the shared lock the same tabs trip reuse detection (the fake server is strict)", async () => {
    const { server, storage } = setup();
    const noLock: LockManagerLike = { request: (_n, cb) => cb() };
    const tabs = [0, 1].map(
      () => new Session({ refresh: server.refresh, isFatal: () => true, storage, locks: noLock, setTimeout: () => 0, clearTimeout: () => undefined }),
    );
    await Promise.allSettled(tabs.map((s) => s.token()));
    expect(server.revoked).toBe(true);
  });

  it("many tabs and repeated renewals stay within one session", async () => {
    const { server, tab } = setup();
    const tabs = [tab(), tab(), tab(), tab()];
    for (let round = 0; round < 3; round++) {
      await Promise.all(tabs.map((s) => s.renew()));
    }
    expect(server.revoked).toBe(false);
  });

  it("a tab that got a fresh token from another tab does not refresh again", async () => {
    const { server, tab } = setup();
    const a = tab();
    const b = tab();
    await a.token();
    await new Promise((r) => setTimeout(r, 0));
    expect(b.current()?.token).toBe(a.current()?.token);
    await b.token();
    expect(server.calls).toBe(1);
  });

  it("renews before the access token expires", async () => {
    const { server, tab, advance } = setup();
    const a = tab();
    await a.token();
    expect(server.calls).toBe(1);
    advance(14 * 60_000 + 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.calls).toBe(2);
    expect(a.current()?.token).toBe("at-2");
  });

  it("a refused refresh token signs every tab out", async () => {
    const { server, storage, tab } = setup();
    const a = tab();
    const b = tab();
    await a.token();
    server.revoked = true;
    let bSignedOut = false;
    b.subscribe((x) => {
      if (x === null) bSignedOut = true;
    });
    // Force a renewal: the access token is still fresh, so empty it first.
    (a as unknown as { access: null }).access = null;
    await expect(a.token()).rejects.toBeInstanceOf(SignedOutError);
    expect(storage.getItem(MARKER_KEY)).toBeNull();
    await new Promise((r) => setTimeout(r, 0));
    expect(bSignedOut).toBe(true);
    expect(a.hasSession()).toBe(false);
  });

  it("a network failure keeps the session and retries later", async () => {
    const { storage, tab } = setup();
    const s = new Session({
      refresh: async () => {
        throw new Error("network");
      },
      isFatal: () => false,
      storage,
      setTimeout: () => 0,
      clearTimeout: () => undefined,
    });
    await expect(s.token()).rejects.toThrow("network");
    expect(storage.getItem(MARKER_KEY)).toBe(MARKER);
    void tab;
  });

  it("uses the Web Lock name every tab shares", async () => {
    const names: string[] = [];
    const { storage, server } = setup();
    const s = new Session({
      refresh: server.refresh,
      isFatal: () => true,
      storage,
      locks: { request: (n, cb) => (names.push(n), cb()) },
    });
    await s.token();
    expect(names).toEqual([LOCK_NAME]);
  });

  it("keeps nothing secret in storage: a sign-in leaves only the marker, and a refresh token an older version stored is wiped", () => {
    const { storage, tab } = setup();
    storage.setItem(MARKER_KEY, "rt-from-an-old-version");
    const a = tab();
    expect(storage.getItem(MARKER_KEY)).toBe(MARKER);
    expect(a.hasSession()).toBe(true);
    storage.removeItem(MARKER_KEY);
    a.signedIn({ userId: "u1", token: "at-x", lifetimeMs: 60_000 * 15 });
    expect([...storage.m.entries()]).toEqual([[MARKER_KEY, MARKER]]);
    expect(a.signOut()).toBe(true);
    expect(storage.m.size).toBe(0);
    expect(a.signOut()).toBe(false);
  });

  it("a token the server refused is renewed even though it looks fresh, unless another tab already replaced it", async () => {
    const { server, tab, advance } = setup();
    const a = tab();
    const b = tab();
    const first = await a.token();
    await new Promise((r) => setTimeout(r, 0));
    advance(1000);
    // The gateway refused it (4001/4002 on the socket): a plain renew would hand it back.
    const again = await a.renew(first);
    expect(again.token).not.toBe(first);
    expect(server.calls).toBe(2);
    await new Promise((r) => setTimeout(r, 0));
    // Tab b was refused the old token too, but a's broadcast already brought the new one.
    expect((await b.renew(first)).token).toBe(again.token);
    expect(server.calls).toBe(2);
  });
});

describe("grant", () => {
  const jwt = (claims: object) => ["e30", btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"), "sig"].join(".");
  // 2026-12-03T07:00:00Z as the server saw it; the token lives 15 minutes.
  const iat = 1_796_281_200;
  const tokens = { accessToken: jwt({ sub: "u1", iat, exp: iat + 900 }), accessTokenExpiresAt: { seconds: BigInt(iat + 900), nanos: 0 } };

  for (const [name, skewMs] of [
    ["a browser clock 10 minutes fast", 10 * 60_000],
    ["a browser clock an hour slow", -60 * 60_000],
    ["a browser clock that is right", 0],
  ] as const) {
    it(`renews on time with ${name}: the lifetime is the server's exp − iat, counted from the answer`, () => {
      const { tab, now, timers } = setup();
      const arrived = iat * 1000 + skewMs;
      const g = grant("u1", tokens as never, arrived);
      expect(g.lifetimeMs).toBe(900_000);
      const s = tab();
      s.signedIn(g);
      // The renewal timer is set for 60 s before the end of the lifetime, from now.
      expect(timers.map((x) => x.at - now())).toEqual([840_000]);
      expect(s.current()!.expiresAt - now()).toBe(900_000);
    });
  }

  it("falls back to the expiry time only when the token has no readable claims", () => {
    const g = grant("u1", { accessToken: "opaque", accessTokenExpiresAt: { seconds: 1000n, nanos: 0 } } as never, 400_000);
    expect(g.lifetimeMs).toBe(600_000);
  });

  it("refuses an answer without tokens", () => {
    expect(() => grant("u1", undefined)).toThrow("no tokens");
  });
});
