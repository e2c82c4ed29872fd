import { describe, expect, it } from "vitest";
import { Realtime, type ConnState, type Frame, type SocketLike } from "./realtime";

class FakeSocket implements SocketLike {
  readyState = 1;
  sent: Frame[] = [];
  closed: number | null = null;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  constructor(
    public url: string,
    public protocols: string[],
  ) {}
  send(data: string) {
    this.sent.push(JSON.parse(data) as Frame);
  }
  close(code = 1000) {
    this.closed = code;
  }
  // server side
  push(f: Frame) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code: number) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

function setup(cursors = [{ chat_id: "c1", last_seq: 4 }]) {
  const sockets: FakeSocket[] = [];
  const states: ConnState[] = [];
  const frames: Frame[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  let tokens = 0;
  let renewals = 0;
  let revoked = false;
  let catchUps = 0;
  const refusedTokens: string[] = [];
  // What the session does: a refused refresh throws "signed out"; anything else is retryable.
  const refresh = { fails: null as null | "signed out" | "network" };
  const rt = new Realtime({
    url: "ws://x/ws",
    openSocket: (u, p) => {
      const s = new FakeSocket(u, p);
      sockets.push(s);
      return s;
    },
    token: async () => `t${++tokens}`,
    renewToken: async (refused) => {
      refusedTokens.push(refused);
      if (refresh.fails) throw new Error(refresh.fails);
      return `r${++renewals}`;
    },
    isSignedOut: (err) => err instanceof Error && err.message === "signed out",
    onCatchUp: () => catchUps++,
    cursors: () => cursors,
    onFrame: (f) => frames.push(f),
    onState: (s) => states.push(s),
    onRevoked: () => {
      revoked = true;
    },
    setTimeout: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimeout: (t) => {
      const i = timers.indexOf(t as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
    random: () => 0.5,
  });
  const flush = () => new Promise((r) => setTimeout(r, 0));
  const fireRetry = () => {
    const t = timers.find((x) => x.ms < 20_000);
    if (!t) throw new Error("no retry timer");
    timers.splice(timers.indexOf(t), 1);
    t.fn();
  };
  return {
    rt, sockets, states, frames, timers, flush, fireRetry, refusedTokens, refresh,
    get revoked() { return revoked; },
    get renewals() { return renewals; },
    get catchUps() { return catchUps; },
  };
}

describe("Realtime", () => {
  it("authenticates with the subprotocol, syncs after ready, and goes live after sync_complete", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    const ws = t.sockets[0];
    expect(ws.protocols).toEqual(["parley.v1", "bearer.t1"]);
    expect(t.rt.connState).toBe("connecting");
    ws.push({ type: "ready" });
    expect(t.rt.connState).toBe("syncing");
    expect(ws.sent[0]).toMatchObject({ type: "sync", chats: [{ chat_id: "c1", last_seq: 4 }] });
    ws.push({ type: "message", chat_id: "c1", seq: 5, replay: true });
    ws.push({ type: "sync_done", chat_id: "c1", last_seq: 5 });
    ws.push({ type: "sync_complete", chats: 1 });
    expect(t.rt.connState).toBe("live");
    expect(t.frames.map((f) => f.type)).toEqual(["message", "sync_done", "sync_complete"]);
  });

  it("reconnects after a drop and syncs again from the cursors of that moment", async () => {
    const cursors = [{ chat_id: "c1", last_seq: 4 }];
    const t = setup(cursors);
    t.rt.start();
    await t.flush();
    t.sockets[0].push({ type: "ready" });
    t.sockets[0].push({ type: "sync_complete" });
    cursors[0] = { chat_id: "c1", last_seq: 9 };
    t.sockets[0].drop(1006);
    expect(t.rt.connState).toBe("reconnecting");
    t.fireRetry();
    await t.flush();
    const ws = t.sockets[1];
    expect(ws).toBeDefined();
    ws.push({ type: "ready" });
    expect(ws.sent.find((f) => f.type === "sync")).toMatchObject({ chats: [{ chat_id: "c1", last_seq: 9 }] });
    ws.push({ type: "sync_complete" });
    expect(t.states).toEqual(["connecting", "syncing", "live", "reconnecting", "syncing", "live"]);
  });

  it("sends more than 100 chats in batches, each after the previous sync_complete", async () => {
    const many = Array.from({ length: 150 }, (_, i) => ({ chat_id: `c${i}`, last_seq: i }));
    const t = setup(many);
    t.rt.start();
    await t.flush();
    const ws = t.sockets[0];
    ws.push({ type: "ready" });
    expect(ws.sent.filter((f) => f.type === "sync")).toHaveLength(1);
    expect((ws.sent[0].chats as unknown[]).length).toBe(100);
    ws.push({ type: "sync_complete" });
    expect(ws.sent.filter((f) => f.type === "sync")).toHaveLength(2);
    expect((ws.sent[1].chats as unknown[]).length).toBe(50);
    expect(t.rt.connState).toBe("syncing");
    ws.push({ type: "sync_complete" });
    expect(t.rt.connState).toBe("live");
  });

  it("a resync during a sync runs another sync after it", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    const ws = t.sockets[0];
    ws.push({ type: "ready" });
    ws.push({ type: "resync" });
    ws.push({ type: "sync_complete" });
    expect(ws.sent.filter((f) => f.type === "sync")).toHaveLength(2);
    expect(t.rt.connState).toBe("syncing");
    ws.push({ type: "sync_complete" });
    expect(t.rt.connState).toBe("live");
  });

  for (const code of [4001, 4002]) {
    it(`forces a renewal of the refused token before reconnecting after ${code}`, async () => {
      const t = setup();
      t.rt.start();
      await t.flush();
      t.sockets[0].push({ type: "ready" });
      t.sockets[0].drop(code);
      t.fireRetry();
      await t.flush();
      expect(t.refusedTokens).toEqual(["t1"]);
      expect(t.sockets[1].protocols).toEqual(["parley.v1", "bearer.r1"]);
      // A renewal on the open socket is what a second refusal names.
      t.sockets[1].push({ type: "ready" });
      t.rt.renewed("r-live");
      t.sockets[1].drop(code);
      t.fireRetry();
      await t.flush();
      expect(t.refusedTokens).toEqual(["t1", "r-live"]);
    });
  }

  it("after 4002 a refused renewal stops the connection for good; a network failure retries", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    t.sockets[0].drop(4002);
    t.refresh.fails = "network";
    t.fireRetry();
    await t.flush();
    expect(t.rt.connState).toBe("reconnecting");
    expect(t.sockets).toHaveLength(1);
    t.refresh.fails = "signed out";
    t.fireRetry();
    await t.flush();
    expect(t.rt.connState).toBe("closed");
    expect(t.sockets).toHaveLength(1);
    expect(t.timers.filter((x) => x.ms < 20_000)).toHaveLength(0);
  });

  it("asks to reload what sync does not replay once per gap: after a reconnect and after a resync, not on the first sync", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    t.sockets[0].push({ type: "ready" });
    t.sockets[0].push({ type: "sync_complete" });
    expect(t.catchUps).toBe(0);
    t.sockets[0].push({ type: "resync" });
    expect(t.catchUps).toBe(1);
    t.sockets[0].push({ type: "sync_complete" });
    t.sockets[0].drop(1006);
    t.fireRetry();
    await t.flush();
    t.sockets[1].push({ type: "ready" });
    t.sockets[1].push({ type: "sync_complete" });
    expect(t.catchUps).toBe(2);
  });

  it("stops and reports a revoked session (4003) without reconnecting", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    t.sockets[0].push({ type: "ready" });
    t.sockets[0].drop(4003);
    expect(t.revoked).toBe(true);
    expect(t.rt.connState).toBe("closed");
    expect(t.timers.filter((x) => x.ms < 20_000)).toHaveLength(0);
  });

  it("backs off longer after each failed attempt, up to the maximum", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      t.sockets[t.sockets.length - 1].drop(1006);
      const retry = t.timers.find((x) => x.ms < 20_000)!;
      waits.push(retry.ms);
      t.fireRetry();
      await t.flush();
    }
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1]);
    expect(Math.max(...waits)).toBeLessThanOrEqual(15_000);
  });

  it("closes a link that stops answering pings and reconnects", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    const ws = t.sockets[0];
    ws.push({ type: "ready" });
    ws.push({ type: "sync_complete" });
    const ping = t.timers.find((x) => x.ms === 25_000)!;
    t.timers.splice(t.timers.indexOf(ping), 1);
    ping.fn();
    expect(ws.sent.at(-1)).toMatchObject({ type: "ping" });
    const pongWait = t.timers.find((x) => x.ms === 10_000)!;
    t.timers.splice(t.timers.indexOf(pongWait), 1);
    pongWait.fn();
    expect(ws.closed).not.toBeNull();
    expect(t.rt.connState).toBe("reconnecting");
  });

  it("passes a renewed token to the open connection", async () => {
    const t = setup();
    t.rt.start();
    await t.flush();
    t.sockets[0].push({ type: "ready" });
    t.rt.renewed("new");
    expect(t.sockets[0].sent.at(-1)).toMatchObject({ type: "auth", token: "new" });
  });
});

describe("Realtime offline/online", () => {
  it("drops the link when the browser goes offline, waits, and resumes with sync when it is back", async () => {
    const cursors = [{ chat_id: "c1", last_seq: 4 }];
    const t = setup(cursors);
    t.rt.start();
    await t.flush();
    t.sockets[0].push({ type: "ready" });
    t.sockets[0].push({ type: "sync_complete" });
    t.rt.offline();
    expect(t.sockets[0].closed).not.toBeNull();
    expect(t.rt.connState).toBe("reconnecting");
    expect(t.timers.filter((x) => x.ms < 20_000)).toHaveLength(0);
    // Frames from the dead socket are ignored.
    t.sockets[0].push({ type: "message", chat_id: "c1", seq: 5 });
    expect(t.frames.filter((f) => f.type === "message")).toHaveLength(0);
    t.rt.online();
    await t.flush();
    expect(t.sockets).toHaveLength(2);
    t.sockets[1].push({ type: "ready" });
    expect(t.sockets[1].sent[0]).toMatchObject({ type: "sync", chats: [{ chat_id: "c1", last_seq: 4 }] });
  });
});
