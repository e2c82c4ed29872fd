import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";

// The signed-in session of this browser. The access token lives in this tab's memory only and is
// renewed shortly before it expires. The refresh token is the gateway's httpOnly cookie
// (docs/auth.md, Browser clients), always: no script can read it, and every tab of the origin
// shares it. A refresh token that a server answers in a body is ignored, never stored — storage
// holds only a marker saying "a session exists, try RefreshToken on start".
//
// The auth service rotates the refresh token on every use and treats a second use of an old one as
// theft (it ends the session), so two tabs must never refresh at once: every refresh runs under one
// Web Lock, and the browser reads the cookie when the request leaves, inside the lock, after any
// other tab's refresh has stored its successor. A tab that gets the lock after another refreshed
// usually has the new access token already, from the other tab's broadcast, and does not refresh.
//
// Expiry is never judged by comparing the server's absolute time with this browser's clock, which
// may be minutes off: a token's lifetime comes from the server alone (the JWT's exp − iat) and is
// counted from when the answer arrived, on the local clock.

export interface AccessToken {
  token: string;
  /** When the gateway stops accepting it, in this browser's clock (Unix ms). */
  expiresAt: number;
  userId: string;
}

/** A token as a server answer hands it over: how long it lives, not until when. */
export interface Grant {
  userId: string;
  token: string;
  /** The token's lifetime by the server's own clock. */
  lifetimeMs: number;
}

export class SignedOutError extends Error {
  constructor(message = "signed out") {
    super(message);
    this.name = "SignedOutError";
  }
}

/** RefreshToken with the cookie: the request carries no token. */
export type RefreshFn = () => Promise<Grant>;

export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((ev: { data: unknown }) => void) | null;
  close?(): void;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface SessionDeps {
  refresh: RefreshFn;
  /** Whether an error from refresh means the refresh token is dead (sign out) rather than a retryable failure. */
  isFatal(err: unknown): boolean;
  storage: StorageLike;
  locks?: LockManagerLike;
  channel?: ChannelLike;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (t: unknown) => void;
  /** Renew this long before expiry. */
  renewBeforeMs?: number;
  /** After a failed renewal that was not fatal, try again after this long. */
  retryMs?: number;
}

/** Storage key of the session marker. */
export const MARKER_KEY = "parley.session";
/** Its only value: the refresh token is in the gateway's cookie. Not a secret. */
export const MARKER = "cookie";
/** The lock name docs/auth.md gives for browser clients. */
export const LOCK_NAME = "parley-refresh";

type ChannelMessage = { type: "access"; access: AccessToken } | { type: "signed_out" };

export type SessionListener = (access: AccessToken | null) => void;

export class Session {
  private access: AccessToken | null = null;
  private inflight: Promise<AccessToken> | null = null;
  private timer: unknown = null;
  private listeners = new Set<SessionListener>();
  private readonly d: Required<Omit<SessionDeps, "locks" | "channel">> & Pick<SessionDeps, "locks" | "channel">;
  private localLock: Promise<unknown> = Promise.resolve();

  constructor(deps: SessionDeps) {
    this.d = {
      now: () => Date.now(),
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (t) => globalThis.clearTimeout(t as number),
      renewBeforeMs: 60_000,
      retryMs: 5_000,
      ...deps,
    };
    // Earlier versions kept a refresh token under the marker's key when a gateway answered one in
    // the body: wipe it. The session it belonged to can only continue through the cookie now.
    const stored = this.d.storage.getItem(MARKER_KEY);
    if (stored !== null && stored !== MARKER) this.d.storage.setItem(MARKER_KEY, MARKER);
    if (this.d.channel) {
      this.d.channel.onmessage = (ev) => this.onChannel(ev.data as ChannelMessage);
    }
  }

  /** True when this browser holds a session (the cookie, as far as the page can tell), whether or not this tab has an access token yet. */
  hasSession(): boolean {
    return this.d.storage.getItem(MARKER_KEY) !== null;
  }

  current(): AccessToken | null {
    return this.access;
  }

  subscribe(fn: SessionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Start a freshly issued session (sign-in, sign-up) and tell the other tabs. */
  signedIn(g: Grant): void {
    this.d.storage.setItem(MARKER_KEY, MARKER);
    const access = this.toAccess(g);
    this.setAccess(access);
    this.d.channel?.postMessage({ type: "access", access } satisfies ChannelMessage);
  }

  /** Forget the session here and in every tab; true when there was one (then call Logout, which
   * ends it on the server and removes the cookie). */
  signOut(): boolean {
    const had = this.hasSession();
    this.d.storage.removeItem(MARKER_KEY);
    this.clear();
    this.d.channel?.postMessage({ type: "signed_out" } satisfies ChannelMessage);
    return had;
  }

  /** An access token valid for a while yet, renewing it first when it is about to expire. */
  async token(): Promise<string> {
    const a = this.access;
    if (a && this.fresh(a)) return a.token;
    return (await this.renew()).token;
  }

  /** Renew now (single flight within the tab, serialised across tabs). `refused` is a token the
   * server turned down although it looked valid here: it is never handed out again, so the renewal
   * really asks for a new one unless another tab already got one. */
  renew(refused?: string): Promise<AccessToken> {
    if (!this.inflight) {
      this.inflight = this.withLock(() => this.renewLocked(refused)).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async renewLocked(refused: string | undefined): Promise<AccessToken> {
    // Another tab may have renewed while this one waited for the lock and told us over the channel.
    const a = this.access;
    if (a && a.token !== refused && this.fresh(a)) return a;
    if (!this.hasSession()) {
      this.clear();
      throw new SignedOutError();
    }
    let g: Grant;
    try {
      g = await this.d.refresh();
    } catch (err) {
      if (this.d.isFatal(err)) {
        this.d.storage.removeItem(MARKER_KEY);
        this.clear();
        this.d.channel?.postMessage({ type: "signed_out" } satisfies ChannelMessage);
        throw new SignedOutError("your session has ended; sign in again");
      }
      this.schedule(this.d.retryMs);
      throw err;
    }
    const access = this.toAccess(g);
    this.setAccess(access);
    this.d.channel?.postMessage({ type: "access", access } satisfies ChannelMessage);
    return access;
  }

  private fresh(a: AccessToken): boolean {
    return a.expiresAt - this.d.now() > this.d.renewBeforeMs;
  }

  private toAccess(g: Grant): AccessToken {
    return { token: g.token, userId: g.userId, expiresAt: this.d.now() + g.lifetimeMs };
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.d.locks) return this.d.locks.request(LOCK_NAME, fn);
    // Without Web Locks (very old browsers) at least serialise within the tab.
    const run = this.localLock.then(fn, fn);
    this.localLock = run.catch(() => undefined);
    return run;
  }

  private onChannel(msg: ChannelMessage): void {
    if (msg.type === "access") {
      if (!this.access || msg.access.expiresAt > this.access.expiresAt) this.setAccess(msg.access);
    } else if (msg.type === "signed_out") {
      this.clear();
    }
  }

  private setAccess(a: AccessToken): void {
    this.access = a;
    this.schedule(Math.max(0, a.expiresAt - this.d.now() - this.d.renewBeforeMs));
    for (const fn of this.listeners) fn(a);
  }

  private clear(): void {
    if (this.timer !== null) this.d.clearTimeout(this.timer);
    this.timer = null;
    this.access = null;
    for (const fn of this.listeners) fn(null);
  }

  private schedule(ms: number): void {
    if (this.timer !== null) this.d.clearTimeout(this.timer);
    this.timer = this.d.setTimeout(() => {
      this.timer = null;
      this.renew().catch(() => undefined);
    }, ms);
  }
}

/** The grant in a server's answer. The lifetime is the JWT's exp − iat: both stamped by the server's
 * clock, so a browser clock that is off changes nothing. Only a token without readable claims falls
 * back to access_token_expires_at against the local clock. */
export function grant(userId: string, t: { accessToken: string; accessTokenExpiresAt?: Timestamp } | undefined, now = Date.now()): Grant {
  if (!t || !t.accessToken) throw new Error("the server sent no tokens");
  const claims = jwtTimes(t.accessToken);
  let lifetimeMs: number;
  if (claims) lifetimeMs = (claims.exp - claims.iat) * 1000;
  else if (t.accessTokenExpiresAt) lifetimeMs = timestampMs(t.accessTokenExpiresAt) - now;
  else throw new Error("the server sent no token expiry");
  return { userId, token: t.accessToken, lifetimeMs };
}

function jwtTimes(jwt: string): { iat: number; exp: number } | null {
  const part = jwt.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const c = JSON.parse(json) as { iat?: unknown; exp?: unknown };
    if (typeof c.iat !== "number" || typeof c.exp !== "number" || c.exp <= c.iat) return null;
    return { iat: c.iat, exp: c.exp };
  } catch {
    return null;
  }
}
