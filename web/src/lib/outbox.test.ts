import { describe, expect, it } from "vitest";
import { Outbox, type Draft } from "./outbox";

// The outbox with a send that answers when the test says: what is sent, when, and what comes back.

function fakeSend() {
  const calls: { d: Draft<string>; ok: () => void; fail: (e: unknown) => void }[] = [];
  const send = (d: Draft<string>) => new Promise<void>((ok, fail) => calls.push({ d, ok, fail }));
  return { calls, send };
}
const draft = (text: string, files: string[] = []): Draft<string> => ({ clientMsgId: `id-${text}`, text, files });
const tick = () => new Promise((ok) => setTimeout(ok, 0));

describe("Outbox", () => {
  it("sends one draft at a time, in the order submitted", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    box.submit(draft("1"));
    box.submit(draft("2"));
    await tick();
    expect(calls.map((c) => c.d.text)).toEqual(["1"]); // 2 waits for 1's answer
    calls[0].ok();
    await tick();
    expect(calls.map((c) => c.d.text)).toEqual(["1", "2"]);
    box.submit(draft("3")); // submitted while 2 is on its way
    calls[1].ok();
    await tick();
    calls[2].ok();
    await box.settled();
    expect(calls.map((c) => c.d.clientMsgId)).toEqual(["id-1", "id-2", "id-3"]);
    expect(box.takeUnsent()).toBeNull();
  });

  it("gives back the failed draft and every one after it, oldest first, with the error", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    let told = 0;
    box.subscribe(() => told++);
    box.submit(draft("1"));
    box.submit(draft("2", ["f2"]));
    box.submit(draft("3"));
    await tick();
    calls[0].ok();
    await tick();
    const boom = new Error("unavailable");
    calls[1].fail(boom);
    await box.settled();
    expect(calls).toHaveLength(2); // 3 is not sent after 2 failed
    expect(told).toBe(1);
    expect(box.takeUnsent()).toEqual({ drafts: [draft("2", ["f2"]), draft("3")], error: boom });
    expect(box.takeUnsent()).toBeNull(); // taken once

    // It goes on with what is submitted next.
    box.submit(draft("4"));
    await tick();
    calls[2].ok();
    await box.settled();
    expect(calls.map((c) => c.d.text)).toEqual(["1", "2", "4"]);
  });

  it("keeps what failed until it is taken, adding later failures after it", async () => {
    const { calls, send } = fakeSend();
    const box = new Outbox(send);
    box.submit(draft("1"));
    await tick();
    calls[0].fail(new Error("first"));
    await box.settled();
    box.submit(draft("2"));
    await tick();
    const second = new Error("second");
    calls[1].fail(second);
    await box.settled();
    expect(box.takeUnsent()).toEqual({ drafts: [draft("1"), draft("2")], error: second });
  });

  it("a send that throws before it is under way fails its draft, and later drafts are still sent", async () => {
    let first = true;
    const sent: string[] = [];
    const box = new Outbox<string>((d) => {
      if (first) {
        first = false;
        throw new Error("at once");
      }
      sent.push(d.text);
      return Promise.resolve();
    });
    box.submit(draft("1"));
    await box.settled();
    expect(box.takeUnsent()?.drafts).toEqual([draft("1")]);
    box.submit(draft("2"));
    await box.settled();
    expect(sent).toEqual(["2"]);
  });
});
