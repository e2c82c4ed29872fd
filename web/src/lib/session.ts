// The signed-in session of this browser. The access token lives in this tab's memory only and is
// renewed shortly before it expires. The refresh token is the gateway's httpOnly cookie
// (docs/auth.md, Browser clients): no script can read it, and every tab of the origin shares it.
// A gateway without cookie support answers the refresh token in the body instead; then it is kept
// in storage (shared by the tabs the same way). Either way the auth service rotates the token on
// every use and treats a second use of an old one as theft (it ends the session), so two tabs must
// never refresh at once: every refresh runs under one Web Lock, and the token is read (from
// storage, or by the browser from the cookie jar) inside it, after any other tab's refresh has
// stored its successor. A tab that gets the lock after another refreshed usually has the new
// access token already, from the other tab's broadcast, and does not refresh at all.

export interface AccessToken {
  token: string;
  /** Unix ms when the gateway stops accepting it. */
  expiresAt: number;
  userId: string;
}

export interface Issued extends AccessToken {
  refreshToken: string;
}

export class SignedOutError extends Error {
  constructor(message = "signed out") {
    super(message);
    this.name = "SignedOutError";
  }
}

/** A failure that ends the session (the refresh token was refused), as opposed to a network one. */
export type RefreshFn = (refreshToken: string) => Promise<Issued>;

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

/** Storage key: COOKIE while the gateway holds the refresh token, else the token itself. */
export const REFRESH_KEY = "parley.session";
/** The refresh token is in the gateway's cookie: refresh with an empty request. */
export const COOKIE = "cookie";
/** The lock name docs/auth.md gives for browser clients. */
export const LOCK_NAME = "parley-refresh";

type ChannelMessage =
  | { type: "access"; access: AccessToken }
  | { type: "signed_out" };

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
    if (this.d.channel) {
      this.d.channel.onmessage = (ev) => this.onChannel(ev.data as ChannelMessage);
    }
  }

  /** True when this browser holds a session (a refresh token), whether or not this tab has an access token yet. */
  hasSession(): boolean {
    return this.d.storage.getItem(REFRESH_KEY) !== null;
  }

  current(): AccessToken | null {
    return this.access;
  }

  subscribe(fn: SessionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Store a freshly issued session (sign-in, sign-up) and tell the other tabs. */
  signedIn(issued: Issued): void {
    this.d.storage.setItem(REFRESH_KEY, issued.refreshToken || COOKIE);
    this.setAccess(strip(issued));
    this.d.channel?.postMessage({ type: "access", access: strip(issued) } satisfies ChannelMessage);
  }

  /** Forget the session here and in every tab; returns the refresh token for Logout ("" when it is
   * the gateway's cookie, null when there was no session). */
  signOut(): string | null {
    const stored = this.d.storage.getItem(REFRESH_KEY);
    const rt = stored === COOKIE ? "" : stored;
    this.d.storage.removeItem(REFRESH_KEY);
    this.clear();
    this.d.channel?.postMessage({ type: "signed_out" } satisfies ChannelMessage);
    return rt;
  }

  /** An access token valid for a while yet, renewing it first when it is about to expire. */
  async token(): Promise<string> {
    const a = this.access;
    if (a && a.expiresAt - this.d.now() > this.d.renewBeforeMs) return a.token;
    return (await this.renew()).token;
  }

  /** Renew now (single flight within the tab, serialised across tabs). */
  renew(): Promise<AccessToken> {
    if (!this.inflight) {
      this.inflight = this.withLock(() => this.renewLocked()).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private async renewLocked(): Promise<AccessToken> {
    // Another tab may have renewed while this one waited for the lock and told us over the channel.
    const a = this.access;
    if (a && a.expiresAt - this.d.now() > this.d.renewBeforeMs) return a;
    const rt = this.d.storage.getItem(REFRESH_KEY);
    if (rt === null) {
      this.clear();
      throw new SignedOutError();
    }
    let issued: Issued;
    try {
      issued = await this.d.refresh(rt === COOKIE ? "" : rt);
    } catch (err) {
      if (this.d.isFatal(err)) {
        // Only forget the token we used: a concurrent sign-in may have replaced it.
        if (this.d.storage.getItem(REFRESH_KEY) === rt) this.d.storage.removeItem(REFRESH_KEY);
        this.clear();
        this.d.channel?.postMessage({ type: "signed_out" } satisfies ChannelMessage);
        throw new SignedOutError("your session has ended; sign in again");
      }
      this.schedule(this.d.retryMs);
      throw err;
    }
    this.d.storage.setItem(REFRESH_KEY, issued.refreshToken || COOKIE);
    const access = strip(issued);
    this.setAccess(access);
    this.d.channel?.postMessage({ type: "access", access } satisfies ChannelMessage);
    return access;
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

  dispose(): void {
    if (this.timer !== null) this.d.clearTimeout(this.timer);
    this.d.channel?.close?.();
  }
}

function strip(i: AccessToken): AccessToken {
  return { token: i.token, expiresAt: i.expiresAt, userId: i.userId };
}
