// The WebSocket to the gateway (docs/realtime.md): authenticate with the subprotocol, wait for
// `ready`, catch up with `sync`, then deliver live frames; reconnect with back-off when the link
// drops, and tell the app what state it is in so the person can see it.

export type ConnState = "connecting" | "syncing" | "live" | "reconnecting" | "closed";

export interface Frame {
  type: string;
  ref?: string;
  [k: string]: unknown;
}

export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface SyncCursor {
  chat_id: string;
  last_seq: number;
}

export interface RealtimeDeps {
  url: string;
  openSocket(url: string, protocols: string[]): SocketLike;
  /** A valid access token (renewing it when needed). */
  token(): Promise<string>;
  /** A new access token: the gateway refused `refused` (4001/4002), however valid it looks here. */
  renewToken(refused: string): Promise<string>;
  /** Whether an error from token/renewToken means the session is over (the refresh was refused):
   * then the connection stops instead of retrying. */
  isSignedOut(err: unknown): boolean;
  /** The chats to catch up and the last seq held contiguously for each. */
  cursors(): SyncCursor[];
  onFrame(frame: Frame): void;
  onState(state: ConnState): void;
  /** A sync is starting that may have missed more than messages: after a reconnect or a `resync`
   * (not the first sync after start). Reload what sync does not replay. */
  onCatchUp(): void;
  /** The session was revoked (4003): sign in again. */
  onRevoked(): void;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (t: unknown) => void;
  random?: () => number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
}

const SYNC_BATCH = 100;

export class Realtime {
  private ws: SocketLike | null = null;
  private state: ConnState = "closed";
  private stopped = true;
  private attempt = 0;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  private pongTimer: unknown = null;
  private syncQueue: SyncCursor[][] = [];
  private syncing = false;
  private syncAgain = false;
  private refSeq = 0;
  private forceRenew = false;
  /** The token the current (or last) connection presented. */
  private presented = "";
  /** A sync has run since start(): the next one follows a gap. */
  private synced = false;
  private waitingOnline = false;
  private readonly d: Required<RealtimeDeps>;

  constructor(deps: RealtimeDeps) {
    this.d = {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (t) => globalThis.clearTimeout(t as number),
      random: Math.random,
      minBackoffMs: 500,
      maxBackoffMs: 15_000,
      pingIntervalMs: 25_000,
      pongTimeoutMs: 10_000,
      ...deps,
    };
  }

  get connState(): ConnState {
    return this.state;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.synced = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    if (this.retryTimer !== null) this.d.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, "bye");
    }
    this.setState("closed");
  }

  /** Send a frame when live (typing, presence queries); dropped otherwise — they are hints. */
  send(frame: Frame): boolean {
    if (!this.ws || this.ws.readyState !== 1 || (this.state !== "live" && this.state !== "syncing")) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Give the open connection a renewed access token (auth frame). */
  renewed(token: string): void {
    if (this.send({ type: "auth", token, ref: this.ref("a") })) this.presented = token;
  }

  /** Catch up again (after `resync`, or when the app learns of new chats). */
  resync(): void {
    if (this.state !== "live" && this.state !== "syncing") return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.beginSync();
  }

  /** The browser reports the network gone: drop the link at once (a dead link may take minutes to
   * close by itself) and wait for online() rather than retrying into the void. */
  offline(): void {
    if (this.stopped) return;
    this.waitingOnline = true;
    if (this.retryTimer !== null) this.d.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.detach();
    this.setState("reconnecting");
  }

  /** The network is back: reconnect now (then sync). */
  online(): void {
    if (this.stopped || !this.waitingOnline) return;
    this.waitingOnline = false;
    this.attempt = 1;
    void this.connect();
  }

  private detach(): void {
    const ws = this.ws;
    this.ws = null;
    this.clearTimers();
    this.syncing = false;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close(4000, "client reconnect");
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.waitingOnline) return;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = this.forceRenew ? await this.d.renewToken(this.presented) : await this.d.token();
      this.forceRenew = false;
    } catch (err) {
      if (this.d.isSignedOut(err)) {
        this.stopped = true;
        this.setState("closed");
        return;
      }
      this.scheduleReconnect();
      return;
    }
    this.presented = token;
    if (this.stopped || this.waitingOnline) return;
    let ws: SocketLike;
    try {
      ws = this.d.openSocket(this.d.url, ["parley.v1", "bearer." + token]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let frame: Frame;
      try {
        frame = JSON.parse(String(ev.data)) as Frame;
      } catch {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onClose(ev.code);
    };
    ws.onerror = () => undefined;
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case "ready":
        this.attempt = 0;
        this.startPing();
        this.beginSync();
        return;
      case "pong":
        if (this.pongTimer !== null) this.d.clearTimeout(this.pongTimer);
        this.pongTimer = null;
        return;
      case "resync":
        this.resync();
        this.d.onFrame(frame);
        return;
      case "sync_complete":
        this.d.onFrame(frame);
        this.nextSyncBatch();
        return;
      case "error":
        // A refused sync (another still running) ends that sync's answer like sync_complete would.
        if (frame.code === "aborted" && this.syncing) {
          this.syncAgain = true;
        }
        this.d.onFrame(frame);
        return;
      default:
        this.d.onFrame(frame);
    }
  }

  private beginSync(): void {
    if (this.synced) this.d.onCatchUp();
    this.synced = true;
    const cursors = this.d.cursors();
    this.syncQueue = [];
    for (let i = 0; i < cursors.length; i += SYNC_BATCH) this.syncQueue.push(cursors.slice(i, i + SYNC_BATCH));
    this.syncing = true;
    this.syncAgain = false;
    this.setState("syncing");
    this.nextSyncBatch();
  }

  private nextSyncBatch(): void {
    const batch = this.syncQueue.shift();
    if (batch) {
      this.ws?.send(JSON.stringify({ type: "sync", ref: this.ref("s"), chats: batch }));
      return;
    }
    this.syncing = false;
    if (this.syncAgain) {
      this.beginSync();
      return;
    }
    this.setState("live");
  }

  private onClose(code: number): void {
    this.clearTimers();
    this.syncing = false;
    if (this.stopped) return;
    if (code === 4003) {
      this.stopped = true;
      this.setState("closed");
      this.d.onRevoked();
      return;
    }
    if (code === 4001 || code === 4002) this.forceRenew = true;
    this.scheduleReconnect(code === 4008 ? 4 : 0);
  }

  private scheduleReconnect(extraSteps = 0): void {
    if (this.stopped || this.waitingOnline) return;
    this.setState("reconnecting");
    const step = Math.min(this.attempt + extraSteps, 10);
    const base = Math.min(this.d.maxBackoffMs, this.d.minBackoffMs * 2 ** step);
    // Jitter so that the tabs of everyone whose link dropped together do not come back in step.
    const wait = base / 2 + (this.d.random() * base) / 2;
    this.attempt++;
    this.retryTimer = this.d.setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, wait);
  }

  private startPing(): void {
    this.clearTimers();
    const tick = () => {
      this.pingTimer = this.d.setTimeout(() => {
        const ws = this.ws;
        if (!ws) return;
        ws.send(JSON.stringify({ type: "ping", ref: this.ref("p") }));
        if (this.pongTimer === null) {
          this.pongTimer = this.d.setTimeout(() => {
            this.pongTimer = null;
            // No answer: the link is dead even if the browser has not noticed; do not wait for it to.
            if (this.ws !== ws) return;
            this.detach();
            this.onClose(1006);
          }, this.d.pongTimeoutMs);
        }
        tick();
      }, this.d.pingIntervalMs);
    };
    tick();
  }

  private clearTimers(): void {
    if (this.pingTimer !== null) this.d.clearTimeout(this.pingTimer);
    if (this.pongTimer !== null) this.d.clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
  }

  private setState(s: ConnState): void {
    if (this.state === s) return;
    this.state = s;
    this.d.onState(s);
  }

  private ref(prefix: string): string {
    return prefix + ++this.refSeq;
  }
}
