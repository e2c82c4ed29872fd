// Browser tests of the web client: Debian's Chromium driven by playwright-core, against a running
// gateway that serves web/dist (PARLEY_WEB_URL, e.g. the dev stack's http://127.0.0.1:8080).
// Alice and Bob are two browser contexts (two people); a second page in Alice's context is a
// second tab. Screenshots go to e2e/out/ (PARLEY_SCREENSHOTS=<dir> writes the docs' set there).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { png } from "./png.mjs";

const BASE = process.env.PARLEY_WEB_URL;
if (!BASE) {
  console.error("PARLEY_WEB_URL is not set: the URL of a gateway serving web/dist");
  process.exit(2);
}
const OUT = new URL("./out/", import.meta.url).pathname;
const SHOTS = process.env.PARLEY_SCREENSHOTS;
mkdirSync(OUT, { recursive: true });
if (SHOTS) mkdirSync(SHOTS, { recursive: true });
const TIMEOUT = 15_000;
const run = Date.now().toString(36);
const alice = { email: `alice-${run}@example.com`, password: "correct horse battery", nickname: `alice_${run}` };
const bob = { email: `bob-${run}@example.com`, password: "correct horse battery", nickname: `bob_${run}` };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

let failed = false;
const steps = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    steps.push(`ok   ${name} (${Date.now() - t0} ms)`);
    console.log(`ok   ${name}`);
  } catch (err) {
    failed = true;
    console.log(`FAIL ${name}\n     ${String(err?.stack ?? err).split("\n").slice(0, 6).join("\n     ")}`);
    throw err;
  }
}

function watchErrors(page, who) {
  page.on("pageerror", (e) => console.log(`[${who}] page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`[${who}] console: ${m.text()}`);
  });
}

async function shot(page, name) {
  // Let the last frame's effects (read marks, badges) settle so the picture shows the steady state.
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(OUT, name + ".png") });
  if (SHOTS) await page.screenshot({ path: join(SHOTS, name + ".png") });
}

const visible = (loc) => loc.first().waitFor({ state: "visible", timeout: TIMEOUT });
const gone = (loc) => loc.first().waitFor({ state: "hidden", timeout: TIMEOUT });

async function signUp(page, who) {
  await page.goto(BASE);
  await page.getByRole("tab", { name: "Sign up" }).click();
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByLabel("Nickname").fill(who.nickname);
  await page.getByRole("button", { name: "Create account" }).click();
  await online(page);
}

async function online(page) {
  await page.getByTestId("conn").filter({ hasText: "Online" }).waitFor({ timeout: TIMEOUT });
}

async function openChatWith(page, nickname) {
  await page.getByRole("navigation").getByRole("button", { name: "Chats" }).click();
  const conv = page.getByRole("region", { name: `Conversation with ${nickname}` });
  if (await conv.isVisible()) return;
  // At phone width an open conversation hides the list.
  const back = page.getByRole("button", { name: "Back to chats" });
  if (await back.isVisible()) await back.click();
  await page.getByTestId("chat-item").filter({ hasText: nickname }).click();
  await visible(page.getByRole("region", { name: `Conversation with ${nickname}` }));
}

async function send(page, text) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

const messages = (page) => page.getByTestId("message");

let aliceCtx, bobCtx, a, b;
try {
  aliceCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  bobCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  a = await aliceCtx.newPage();
  b = await bobCtx.newPage();
  watchErrors(a, "alice");
  watchErrors(b, "bob");

  await step("sign-up errors are shown next to their fields", async () => {
    await a.goto(BASE);
    await a.getByRole("tab", { name: "Sign up" }).click();
    await a.getByLabel("Email").fill("not-an-email");
    await a.getByLabel("Password").fill("short");
    await a.getByLabel("Nickname").fill(alice.nickname);
    await a.getByRole("button", { name: "Create account" }).click();
    const email = a.getByLabel("Email");
    await a.waitForFunction(() => document.querySelector('input[name="email"]')?.getAttribute("aria-invalid") === "true", null, { timeout: TIMEOUT });
    const describedBy = await email.getAttribute("aria-describedby");
    const text = await a.locator(`[id="${describedBy}"]`).textContent();
    if (!text || text.length < 3) throw new Error("no error text next to the email field");
    await a.waitForFunction(() => document.querySelector('input[name="password"]')?.getAttribute("aria-invalid") === "true", null, { timeout: TIMEOUT });
    await shot(a, "signup-errors");
  });

  await step("Alice and Bob sign up and are connected", async () => {
    await signUp(a, alice);
    await signUp(b, bob);
    await shot(a, "empty-desktop");
  });

  await step("no token is readable from storage; with the gateway's cookie the refresh token is httpOnly", async () => {
    const stored = await a.evaluate(() => [localStorage, sessionStorage].flatMap((s) => Object.keys(s).map((k) => [k, s.getItem(k)])));
    if (stored.some(([, v]) => v?.startsWith("eyJ"))) throw new Error(`an access token is in storage: ${JSON.stringify(stored)}`);
    const cookie = (await aliceCtx.cookies()).find((c) => c.name === "parley_refresh");
    if (cookie) {
      if (!cookie.httpOnly) throw new Error("the refresh cookie is readable by scripts");
      const marker = stored.find(([k]) => k === "parley.session")?.[1];
      if (marker !== "cookie") throw new Error(`with the cookie, storage holds ${JSON.stringify(marker)}`);
      if ((await a.evaluate(() => document.cookie)).includes("parley_refresh")) throw new Error("document.cookie shows the refresh token");
      console.log("     (the refresh token is in the gateway's httpOnly cookie)");
    }
  });

  await step("Alice finds Bob by nickname and sends a friend request; Bob sees it live and accepts", async () => {
    await a.getByRole("button", { name: "People" }).click();
    await a.getByLabel("Search by nickname").fill(bob.nickname);
    await a.getByRole("button", { name: "Search", exact: true }).click();
    await a.getByRole("button", { name: `Add ${bob.nickname} as friend` }).click();
    await visible(a.getByTestId("outgoing-request").filter({ hasText: bob.nickname }));
    // Bob: the notification badge comes over the WebSocket.
    await visible(b.getByTestId("notif-badge"));
    await b.getByRole("button", { name: "People" }).click();
    await b.getByRole("button", { name: `Accept ${alice.nickname}` }).click();
    await visible(b.getByTestId("friend").filter({ hasText: alice.nickname }));
    await a.getByRole("button", { name: "People" }).click();
    await visible(a.getByTestId("friend").filter({ hasText: bob.nickname }));
    // Presence: Bob is connected, so Alice sees him online.
    await visible(a.getByTestId("friend").filter({ hasText: bob.nickname }).getByText("online", { exact: true }));
  });

  await step("friend requests can be cancelled and declined, and people blocked and unblocked", async () => {
    const dave = { email: `dave-${run}@example.com`, password: "correct horse battery", nickname: `dave_${run}` };
    const ctx = await browser.newContext();
    const d = await ctx.newPage();
    watchErrors(d, "dave");
    try {
      await signUp(d, dave);
      await d.getByRole("button", { name: "People" }).click();
      // Alice asks and cancels: Dave's incoming request comes and goes live.
      await a.getByLabel("Search by nickname").fill(dave.nickname);
      await a.getByRole("button", { name: "Search", exact: true }).click();
      await a.getByRole("button", { name: `Add ${dave.nickname} as friend` }).click();
      await visible(d.getByTestId("incoming-request").filter({ hasText: alice.nickname }));
      await a.getByRole("button", { name: `Cancel request to ${dave.nickname}` }).click();
      await gone(d.getByTestId("incoming-request").filter({ hasText: alice.nickname }));
      // Dave asks, Alice declines.
      await d.getByLabel("Search by nickname").fill(alice.nickname);
      await d.getByRole("button", { name: "Search", exact: true }).click();
      await d.getByRole("button", { name: `Add ${alice.nickname} as friend` }).click();
      await visible(a.getByTestId("incoming-request").filter({ hasText: dave.nickname }));
      await a.getByRole("button", { name: `Decline ${dave.nickname}` }).click();
      await gone(a.getByTestId("incoming-request").filter({ hasText: dave.nickname }));
      // Alice blocks Dave from the search results, then unblocks him.
      await a.getByRole("button", { name: `Block ${dave.nickname}` }).click();
      await visible(a.getByRole("region", { name: "Blocked people" }).getByText(dave.nickname));
      await a.getByRole("button", { name: `Unblock ${dave.nickname}` }).click();
      await gone(a.getByRole("region", { name: "Blocked people" }).getByText(dave.nickname));
    } finally {
      await ctx.close();
    }
  });

  await step("a chat appears; Alice's message reaches Bob live with an unread count and a live-region announcement", async () => {
    await openChatWith(a, bob.nickname);
    await send(a, "Hello Bob!");
    await visible(messages(a).filter({ hasText: "Hello Bob!" }));
    await b.getByRole("navigation").getByRole("button", { name: "Chats" }).click();
    await visible(b.getByTestId("chat-item").filter({ hasText: alice.nickname }).getByTestId("chat-unread"));
    await b.getByTestId("announce").filter({ hasText: "Hello Bob!" }).waitFor({ state: "attached", timeout: TIMEOUT });
    await openChatWith(b, alice.nickname);
    await visible(messages(b).filter({ hasText: "Hello Bob!" }));
  });

  await step("read receipt and typing indicator", async () => {
    await visible(messages(a).filter({ hasText: "Hello Bob!" }).getByText("Read"));
    await b.getByLabel("Message", { exact: true }).pressSequentially("Hi Al", { delay: 30 });
    await visible(a.getByTestId("typing").filter({ hasText: "is typing" }));
    await b.getByLabel("Message", { exact: true }).fill("Hi Alice!");
    await b.getByRole("button", { name: "Send" }).click();
    await visible(messages(a).filter({ hasText: "Hi Alice!" }));
    await shot(a, "conversation-desktop");
    await shot(b, "conversation-phone");
  });

  await step("edit and delete reach the other side", async () => {
    const mine = messages(a).filter({ hasText: "Hello Bob!" });
    await mine.getByRole("button", { name: "Edit message" }).click();
    await a.getByLabel("Edit your message").fill("Hello Bob, edited");
    await a.getByRole("button", { name: "Save" }).click();
    await visible(messages(b).filter({ hasText: "Hello Bob, edited" }).getByText("edited", { exact: false }));
    await send(a, "to be deleted");
    await visible(messages(b).filter({ hasText: "to be deleted" }));
    await messages(a).filter({ hasText: "to be deleted" }).getByRole("button", { name: "Delete message" }).click();
    await gone(messages(b).filter({ hasText: "to be deleted" }));
    await visible(messages(b).filter({ hasText: "Message deleted" }));
  });

  await step("Alice's link drops mid-conversation; what Bob sent meanwhile arrives by sync after the reconnect", async () => {
    let sockets = 0;
    a.on("websocket", () => sockets++);
    await aliceCtx.setOffline(true);
    await a.getByTestId("conn").filter({ hasText: "Reconnecting" }).waitFor({ timeout: TIMEOUT });
    await send(b, "sent while you were away 1");
    await send(b, "sent while you were away 2");
    await visible(messages(b).filter({ hasText: "sent while you were away 2" }));
    // Nothing reaches Alice while she is offline.
    await a.waitForTimeout(1000);
    if ((await messages(a).filter({ hasText: "sent while you were away" }).count()) !== 0) throw new Error("a message arrived while offline");
    await aliceCtx.setOffline(false);
    await online(a);
    await visible(messages(a).filter({ hasText: "sent while you were away 1" }));
    await visible(messages(a).filter({ hasText: "sent while you were away 2" }));
    if (sockets < 1) throw new Error("no new WebSocket was opened");
    // And live delivery works again on the new connection.
    await send(b, "after the reconnect");
    await visible(messages(a).filter({ hasText: "after the reconnect" }));
  });

  await step("an attachment is uploaded to S3 and shown to Bob with its thumbnail and a download link", async () => {
    await a.getByLabel("Attach a file").setInputFiles({ name: "red.png", mimeType: "image/png", buffer: png(64, 48, [220, 30, 30]) });
    await visible(a.getByRole("list", { name: "Attachments to send" }).getByText("red.png"));
    await send(a, "a picture");
    const m = messages(b).filter({ hasText: "a picture" });
    await visible(m.getByRole("img", { name: "red.png" }));
    await visible(m.getByRole("link", { name: "Download red.png" }));
    const href = await m.getByRole("link", { name: "Download red.png" }).getAttribute("href");
    const res = await b.request.get(new URL(href, BASE).toString());
    if (!res.ok()) throw new Error(`download: ${res.status()}`);
  });

  await step("profile: about, and an avatar upload with progress; a wrong type is refused before upload", async () => {
    await a.getByRole("button", { name: "Profile" }).click();
    await a.getByLabel("About").fill("I like pictures.");
    await a.getByRole("button", { name: "Save" }).click();
    await visible(a.getByText("Saved."));
    await a.getByLabel(/^Avatar/).setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
    await visible(a.getByRole("alert").filter({ hasText: "JPEG, PNG or WebP" }));
    await a.getByLabel(/^Avatar/).setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png(300, 300, [30, 120, 220]) });
    await visible(a.getByTestId("avatar"));
    await shot(a, "profile-desktop");
  });

  await step("notifications: unread badge, list, mark all read, preferences; mute a chat", async () => {
    await visible(b.getByTestId("notif-badge"));
    await b.getByRole("button", { name: /^Notifications/ }).click();
    await visible(b.getByTestId("notification"));
    await shot(b, "notifications-phone");
    await b.getByRole("button", { name: "Mark all as read" }).click();
    await gone(b.getByTestId("notif-badge"));
    const box = b.getByLabel("Messages by email");
    const before = await box.isChecked();
    await box.click();
    await b.waitForFunction((want) => document.querySelector('input[aria-label="Messages by email"]')?.checked === want, !before, { timeout: TIMEOUT });
    await openChatWith(b, alice.nickname);
    await b.getByRole("button", { name: "Mute" }).click();
    await visible(b.getByRole("button", { name: "Unmute" }));
  });

  await step("keyboard only: Bob sends a message with Tab and Enter", async () => {
    await openChatWith(a, bob.nickname);
    // From the top of the page, Tab reaches the composer through labelled controls only.
    await b.getByRole("button", { name: /^Notifications/ }).focus();
    for (let i = 0; i < 40; i++) {
      await b.keyboard.press("Tab");
      const el = await b.evaluate(() => {
        const e = document.activeElement;
        const label = e?.getAttribute("aria-label") || (e?.id && document.querySelector(`label[for="${e.id}"]`)?.textContent) || e?.textContent || "";
        return { tag: e?.tagName, id: e?.id, label: label.trim() };
      });
      if (!el.label) throw new Error(`focus reached an unlabelled ${el.tag}`);
      if (el.id === "composer-text") break;
    }
    await b.keyboard.type("typed with the keyboard");
    await b.keyboard.press("Enter");
    await visible(messages(b).filter({ hasText: "typed with the keyboard" }));
    await visible(messages(a).filter({ hasText: "typed with the keyboard" }));
  });

  // With short-lived access tokens (the stack started with ACCESS_TOKEN_TTL, and the same number of
  // seconds here), two open tabs must renew on their timers — at the same moment, since they share
  // the expiry — twice, without the second tab reusing a refresh token.
  const ttl = Number(process.env.PARLEY_E2E_ACCESS_TOKEN_TTL_SECONDS ?? 0);
  if (ttl > 0) {
    await step(`two open tabs renew their ${ttl}s access tokens on time, twice, and stay signed in`, async () => {
      const a2 = await aliceCtx.newPage();
      watchErrors(a2, "alice tab 2");
      const renewals = [0, 0];
      [a, a2].forEach((p, i) =>
        p.on("websocket", (ws) => ws.on("framesent", (f) => typeof f.payload === "string" && f.payload.includes('"type":"auth"') && renewals[i]++)),
      );
      // Both pages start now, so both sockets are watched from their first frame.
      await Promise.all([a.reload(), a2.goto(BASE)]);
      await Promise.all([online(a), online(a2)]);
      const deadline = Date.now() + 2 * ttl * 1000 + 20_000;
      while ((renewals[0] < 2 || renewals[1] < 2) && Date.now() < deadline) await a.waitForTimeout(1000);
      if (renewals[0] < 2 || renewals[1] < 2) throw new Error(`renewals seen on the sockets: ${renewals}`);
      await online(a);
      await online(a2);
      await openChatWith(a2, bob.nickname);
      await send(a2, "after two renewals");
      await visible(messages(b).filter({ hasText: "after two renewals" }));
      await a2.close();
    });
  } else {
    console.log("--   timed renewal in two tabs: not run (start the stack with ACCESS_TOKEN_TTL=75s and set PARLEY_E2E_ACCESS_TOKEN_TTL_SECONDS=75)");
  }

  await step("two tabs of Alice start at once and share the session without tripping refresh-token reuse", async () => {
    const a2 = await aliceCtx.newPage();
    watchErrors(a2, "alice tab 2");
    // Both tabs need a new access token at the same moment: a reload drops the one in memory.
    await Promise.all([a.reload(), a2.goto(BASE)]);
    await Promise.all([online(a), online(a2)]);
    await Promise.all([a.reload(), a2.reload()]);
    await Promise.all([online(a), online(a2)]);
    // The session is alive: tab 2 sends, tab 1 and Bob see it.
    await openChatWith(a2, bob.nickname);
    await openChatWith(a, bob.nickname);
    await send(a2, "from the second tab");
    await visible(messages(a).filter({ hasText: "from the second tab" }));
    await visible(messages(b).filter({ hasText: "from the second tab" }));
    // Logging out in one tab signs out the other.
    await a2.getByRole("button", { name: "Log out" }).click();
    await visible(a2.getByRole("tab", { name: "Sign in" }));
    await visible(a.getByRole("tab", { name: "Sign in" }));
    await shot(a, "signin-desktop");
    await a2.close();
  });

  await step("sign in again with the password", async () => {
    await a.getByLabel("Email").fill(alice.email);
    await a.getByLabel("Password").fill("wrong password!");
    await a.getByRole("button", { name: "Sign in", exact: true }).click();
    await visible(a.getByRole("alert"));
    await a.getByLabel("Password").fill(alice.password);
    await a.getByRole("button", { name: "Sign in", exact: true }).click();
    await online(a);
    await visible(a.getByTestId("chat-item").filter({ hasText: bob.nickname }));
  });

  await step('"Sign in with Dev" (OpenID Connect) creates and signs in an account', async () => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    watchErrors(p, "carol");
    await p.goto(BASE);
    await p.getByRole("button", { name: "Sign in with Dev" }).click();
    // The dev provider's page: any email, no password.
    await p.waitForURL((u) => !u.toString().startsWith(BASE), { timeout: TIMEOUT });
    await p.locator('input[type="email"], input[name="email"]').first().fill(`carol-${run}@example.com`);
    await p.locator('button[type="submit"], input[type="submit"]').first().click();
    await online(p);
    await ctx.close();
  });
} catch {
  failed = true;
  for (const [p, n] of [[a, "alice"], [b, "bob"]]) if (p) await p.screenshot({ path: join(OUT, `failure-${n}.png`) }).catch(() => undefined);
} finally {
  await browser.close();
}
console.log(failed ? "e2e: FAILED" : `e2e: ${steps.length} steps passed`);
process.exit(failed ? 1 : 0);
