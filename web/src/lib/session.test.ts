import { describe, expect, it } from "vitest";
import { COOKIE, LOCK_NAME, REFRESH_KEY, Session, SignedOutError, type ChannelLike, type Issued, type LockManagerLike, type StorageLike } from "./session";

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

class FakeAuth {
  current = "rt-0";
  used = new Set<string>();
  revoked = false;
  calls = 0;
  n = 0;
  constructor(private now: () => number) {}
  refresh = async (rt: string): Promise<Issued> => {
    this.calls++;
    await new Promise((r) => setTimeout(r, 5));
    if (this.revoked) throw new Error("unauthenticated");
    if (this.used.has(rt)) {
      this.revoked = true;
      throw new Error("unauthenticated");
    }
    if (rt !== this.current) throw new Error("unauthenticated");
    this.used.add(rt);
    this.n++;
    this.current = `rt-${this.n}`;
    return { token: `at-${this.n}`, expiresAt: this.now() + 15 * 60_000, userId: "u1", refreshToken: this.current };
  };
}

function setup() {
  let t = 1_000_000;
  const now = () => t;
  const storage = new MemStorage();
  storage.setItem(REFRESH_KEY, "rt-0");
  const locks = new Locks();
  const bus = new Bus();
  const server = new FakeAuth(now);
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
  return { storage, server, tab, advance, now };
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
    expect(storage.getItem(REFRESH_KEY)).toBeNull();
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
    expect(storage.getItem(REFRESH_KEY)).toBe("rt-0");
    void tab;
  });

  it("with the refresh token in the gateway's cookie, tabs refresh with empty requests, one at a time", async () => {
    const { tab, storage, server } = setup();
    // The browser's cookie jar: the server reads and rotates it; the page never sees it.
    let jar = "rt-0";
    const cookieRefresh = async (rt: string): Promise<Issued> => {
      expect(rt).toBe("");
      const sent = jar;
      const r = await server.refresh(sent);
      jar = r.refreshToken;
      return { ...r, refreshToken: "" };
    };
    storage.setItem(REFRESH_KEY, COOKIE);
    const mk = () => {
      const s = tab();
      (s as unknown as { d: { refresh: typeof cookieRefresh } }).d.refresh = cookieRefresh;
      return s;
    };
    const tabs = [mk(), mk(), mk()];
    await Promise.all(tabs.map((s) => s.token()));
    await Promise.all(tabs.map((s) => s.renew()));
    expect(server.revoked).toBe(false);
    expect(storage.getItem(REFRESH_KEY)).toBe(COOKIE);
    expect(tabs[0].signOut()).toBe("");
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
});
