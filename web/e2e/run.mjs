// Browser tests of the web client: Debian's Chromium driven by playwright-core, against a running
// gateway that serves web/dist (PARLEY_WEB_URL, e.g. the dev stack's http://127.0.0.1:8080).
// Alice and Bob are two browser contexts (two people); a second page in Alice's context is a
// second tab. Screenshots go to e2e/out/ (PARLEY_SCREENSHOTS=<dir> writes the docs' set there).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { png } from "./png.mjs";
import { totp, totpStep } from "./totp.mjs";

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
// The mail catcher's base URL (the dev stack's mailpit, "mail UI"): with it the run follows the
// password-reset and email-confirmation links from the emails themselves.
const MAIL = process.env.PARLEY_MAIL_URL?.replace(/\/+$/, "");
const run = Date.now().toString(36);
const alice = { email: `alice-${run}@example.com`, password: "correct horse battery", nickname: `alice_${run}` };
const bob = { email: `bob-${run}@example.com`, password: "correct horse battery", nickname: `bob_${run}` };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

// Every access token seen on the wire and every refresh-token cookie value the gateway set: none
// of them may ever be readable from the page's storage (checked after every step).
const secrets = new Set();
function watchSecrets(ctx) {
  ctx.on("request", (r) => {
    const h = r.headers()["authorization"];
    if (h?.startsWith("Bearer ")) secrets.add(h.slice(7));
  });
  ctx.on("response", async (r) => {
    const set = await r.headerValue("set-cookie").catch(() => null);
    for (const m of set?.matchAll(/parley_refresh=([^;\s]+)/g) ?? []) secrets.add(m[1]);
  });
}
async function newContext(opts = {}) {
  const ctx = await browser.newContext(opts);
  watchSecrets(ctx);
  return ctx;
}

const REFRESH_PATHS = ["/api/parley.auth.v1.AuthService/RefreshToken", "/api/parley.auth.v1.AuthService/Logout"];

/** The refresh token is the gateway's cookie, httpOnly, SameSite=Strict, sent only to RefreshToken
 * and Logout; the page's storage holds the marker and nothing else of the session. */
async function assertRefreshCookie(ctx, page) {
  const cookies = (await ctx.cookies()).filter((c) => c.name === "parley_refresh");
  if (!cookies.some((c) => c.path === REFRESH_PATHS[0])) throw new Error(`no refresh cookie for RefreshToken: ${JSON.stringify(cookies)}`);
  for (const c of cookies) {
    if (!c.httpOnly) throw new Error(`the refresh cookie for ${c.path} is readable by scripts`);
    if (c.sameSite !== "Strict") throw new Error(`the refresh cookie for ${c.path} is SameSite=${c.sameSite}`);
    if (!REFRESH_PATHS.includes(c.path)) throw new Error(`the refresh cookie is sent to ${c.path}`);
    secrets.add(c.value);
  }
  if ((await page.evaluate(() => document.cookie)).includes("parley_refresh")) throw new Error("document.cookie shows the refresh token");
  const marker = await page.evaluate(() => localStorage.getItem("parley.session"));
  if (marker !== "cookie") throw new Error(`signed in, the session marker is ${JSON.stringify(marker)}`);
}

/** Nothing secret in localStorage, sessionStorage or IndexedDB of any open page of the app. */
async function assertNoTokensStored() {
  for (const ctx of browser.contexts()) {
    for (const cookie of await ctx.cookies()) if (cookie.name === "parley_refresh") secrets.add(cookie.value);
    for (const page of ctx.pages()) {
      if (page.isClosed() || !page.url().startsWith(BASE)) continue;
      const dump = await readStorage(page).catch(async () => {
        // A page in the middle of a navigation: read it once it has settled.
        await page.waitForLoadState("load").catch(() => undefined);
        return readStorage(page);
      });
      const text = JSON.stringify(dump);
      if (/eyJ[\w-]+\.[\w-]+\./.test(text)) throw new Error(`a JWT is in storage: ${text}`);
      for (const s of secrets) if (s.length >= 16 && text.includes(s)) throw new Error(`a token is in storage: ${text}`);
    }
  }
}

function readStorage(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) out.push([s.key(i), s.getItem(s.key(i))]);
    for (const info of (await indexedDB.databases?.()) ?? []) {
      const db = await new Promise((ok, fail) => {
        const r = indexedDB.open(info.name);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      for (const name of db.objectStoreNames) {
        const all = await new Promise((ok) => {
          const r = db.transaction(name).objectStore(name).getAll();
          r.onsuccess = () => ok(r.result);
          r.onerror = () => ok([]);
        });
        out.push([`indexedDB ${info.name}/${name}`, JSON.stringify(all, (_k, v) => (typeof v === "bigint" ? String(v) : v))]);
      }
      db.close();
    }
    return out;
  });
}

let failed = false;
const steps = [];
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    await assertNoTokensStored();
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

const onlineNow = (page) => page.getByTestId("conn").filter({ hasText: "Online" });
const THROTTLED = /too many requests: try again in (\d+)s/;
/** An alert that is not the gateway's rate limit. */
const refusal = (page) => page.getByRole("alert").filter({ hasNotText: THROTTLED });

/** Click a sign-in form's button until `expected` shows. Register, Login and CompleteTwoFactor
 * share the gateway's per-IP budget (RATE_LIMIT_AUTH, 20 a minute) with every RefreshToken, and
 * this run signs in many times from one address: when the form says "try again in Ns", wait and
 * click again, as a person would. */
async function submit(page, button, expected) {
  const throttled = page.getByRole("alert").filter({ hasText: THROTTLED });
  for (let attempt = 0; ; attempt++) {
    await button.click();
    await throttled.first().waitFor({ state: "hidden", timeout: 2000 }).catch(() => undefined);
    await expected.or(throttled).first().waitFor({ timeout: TIMEOUT });
    if (attempt === 5 || !(await throttled.first().isVisible())) return;
    const secs = Number(THROTTLED.exec(await throttled.first().textContent())[1]);
    console.log(`     (the gateway's sign-in rate limit: waiting ${secs} s)`);
    await page.waitForTimeout((secs + 1) * 1000);
  }
}

async function signUp(page, who) {
  await page.goto(BASE);
  await page.getByRole("tab", { name: "Sign up" }).click();
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByLabel("Nickname").fill(who.nickname);
  await submit(page, page.getByRole("button", { name: "Create account" }), onlineNow(page));
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
/** Asks probe every 100 ms until it answers something truthy, and returns that; after timeout,
 * fails with what failing() says. */
async function poll(probe, failing, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(failing());
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** Waits until the text field holds want; failing, says what it holds and when (`after`). */
async function holds(field, want, after) {
  let got;
  await poll(async () => (got = await field.inputValue()) === want, () => `${after}, the composer holds ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

/** Waits until the checkbox is checked (a preference switch shows the server's answer). */
async function checked(loc) {
  await poll(() => loc.isChecked(), () => "still not checked");
}

/** Press Tab from the focused element until `until` says stop; every control focus reaches must
 * have a label (its aria-label, its <label>, or its text). */
async function tabWalk(page, until, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const el = await page.evaluate(() => {
      const e = document.activeElement;
      const label = e?.getAttribute("aria-label") || (e?.labels?.[0]?.textContent ?? "") || e?.textContent || "";
      return { tag: e?.tagName, id: e?.id, label: label.trim() };
    });
    if (!el.label) throw new Error(`focus reached an unlabelled ${el.tag}`);
    if (until(el)) return el;
  }
  throw new Error(`Tab did not reach the target in ${max} presses`);
}

/** Sign in with the password until `expected` (default: online) shows. */
async function signIn(page, who, expected = onlineNow(page), password = who.password) {
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(password);
  await submit(page, page.getByRole("button", { name: "Sign in", exact: true }), expected);
}

/** The app's page `path` (with its fragment) that the newest email to `to` whose subject is
 * `subject` links to, once there are at least `count` of them (mailpit lists the newest first); on
 * PARLEY_WEB_URL, whatever host the stack's PUBLIC_WEB_URL names. */
async function mailLink(to, subject, path, count = 1) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${MAIL}/api/v1/search?query=${encodeURIComponent(`to:${to}`)}`);
    if (!res.ok) throw new Error(`mailpit search: HTTP ${res.status}`);
    const found = ((await res.json()).messages ?? []).filter((m) => m.Subject === subject);
    if (found.length >= count) {
      const msg = await (await fetch(`${MAIL}/api/v1/message/${encodeURIComponent(found[0].ID)}`)).json();
      const link = msg.Text.split(/\s/).find((w) => /^https?:\/\//.test(w) && new URL(w).pathname === path);
      if (!link) throw new Error(`no ${path} link in "${subject}":\n${msg.Text}`);
      const u = new URL(link);
      return new URL(u.pathname + u.hash, BASE).toString();
    }
    if (Date.now() > deadline) throw new Error(`${found.length} emails "${subject}" to ${to}, waited for ${count}`);
    await new Promise((ok) => setTimeout(ok, 500));
  }
}

/** The element's error text, found through its aria-describedby, once it is marked invalid. */
async function errorOf(field) {
  await field.and(field.page().locator('[aria-invalid="true"]')).waitFor({ timeout: TIMEOUT });
  const id = await field.getAttribute("aria-describedby");
  const text = await field.page().locator(`[id="${id}"]`).textContent();
  if (!text?.trim()) throw new Error("no error text next to the field");
  return text;
}

let aliceCtx, bobCtx, a, b, g1, g2, r;
try {
  aliceCtx = await newContext({ viewport: { width: 1280, height: 800 } });
  bobCtx = await newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
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

  await step("the refresh token is an httpOnly SameSite=Strict cookie for the refresh path only; storage holds just the marker", async () => {
    await assertRefreshCookie(aliceCtx, a);
    await assertRefreshCookie(bobCtx, b);
    if (secrets.size < 4) throw new Error(`expected access tokens and cookies to have been seen, got ${secrets.size}`);
    // (every step ends with assertNoTokensStored: localStorage, sessionStorage and IndexedDB)
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
    const ctx = await newContext();
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

  await step("read receipt; the typing indicator shows, ends by itself, and ends with the message", async () => {
    await visible(messages(a).filter({ hasText: "Hello Bob!" }).getByText("Read"));
    const typing = a.getByTestId("typing").filter({ hasText: "is typing" });
    await b.getByLabel("Message", { exact: true }).pressSequentially("Hi Al", { delay: 30 });
    await visible(typing);
    // Bob stops typing: it goes a few seconds after his last typing frame.
    await gone(typing);
    // He types again (the app sends a frame at most every 2 s, and the last was more than 5 s ago)
    // and sends: the indicator goes with the message, well before it would expire.
    await b.getByLabel("Message", { exact: true }).pressSequentially("ice!", { delay: 30 });
    await visible(typing);
    await b.getByRole("button", { name: "Send" }).click();
    await visible(messages(a).filter({ hasText: "Hi Alice!" }));
    await typing.first().waitFor({ state: "hidden", timeout: 1500 });
    await shot(a, "conversation-desktop");
    await shot(b, "conversation-phone");
  });

  await step("edit and delete reach the other side; what was being written survives an edit", async () => {
    const mine = messages(a).filter({ hasText: "Hello Bob!" });
    // A message half written when the edit begins is back in the composer when it ends.
    const composer = a.getByLabel("Message", { exact: true });
    await composer.fill("half written");
    await mine.getByRole("button", { name: "Edit message" }).click();
    await a.getByLabel("Edit your message").fill("Hello Bob, edited");
    await a.getByRole("button", { name: "Save" }).click();
    await visible(messages(b).filter({ hasText: "Hello Bob, edited" }).getByText("edited", { exact: false }));
    await holds(composer, "half written", "after the edit");
    await composer.fill("");
    await send(a, "to be deleted");
    await visible(messages(b).filter({ hasText: "to be deleted" }));
    await messages(a).filter({ hasText: "to be deleted" }).getByRole("button", { name: "Delete message" }).click();
    await gone(messages(b).filter({ hasText: "to be deleted" }));
    await visible(messages(b).filter({ hasText: "Message deleted" }));
  });

  await step("messages written while the last is on its way are sent after it, in order, and nothing typed is lost; one failing for now goes by itself, once, or comes back when cancelled; one refused comes back, and the chat list says so", async () => {
    // Bob's sends are held until released, so he writes the next ones while the first is unanswered.
    const route = "**/parley.chat.v1.ChatService/SendMessage";
    let release;
    const held = new Promise((ok) => (release = ok));
    await b.route(route, async (r) => {
      await held;
      await r.continue();
    });
    try {
      const composer = b.getByLabel("Message", { exact: true });
      await send(b, "on its way 1");
      await holds(composer, "", "once a message was sent");
      await send(b, "on its way 2");
      await composer.fill("not sent yet");
      release();
      await visible(messages(a).filter({ hasText: "on its way 2" }));
      await visible(messages(b).filter({ hasText: "on its way 2" }));
      // The sends' answers must not clear what was typed since.
      await holds(composer, "not sent yet", "once the others were sent");
      for (const [who, page] of [["Alice", a], ["Bob", b]]) {
        const texts = await messages(page).allTextContents();
        const first = texts.findIndex((t) => t.includes("on its way 1"));
        const second = texts.findIndex((t) => t.includes("on its way 2"));
        if (first < 0 || second < first) throw new Error(`${who} sees them out of order: ${JSON.stringify(texts.slice(-3))}`);
      }
      await composer.fill("");
    } finally {
      release();
      await b.unroute(route);
    }
    // A send failing for now (the service unavailable, then no network) waits, shown as such, and
    // goes by itself under its key: once, when the service answers or the browser is back online.
    let tries = 0;
    await b.route(route, (r) => {
      tries++;
      return r.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ code: "unavailable", message: "chat is down" }) });
    });
    try {
      await send(b, "sent once chat is back");
      await visible(b.getByTestId("sending").filter({ hasText: "Not sent yet" }));
      await poll(async () => tries >= 2, () => `tried ${tries} time(s), not again by itself`);
    } finally {
      await b.unroute(route);
    }
    await visible(messages(a).filter({ hasText: "sent once chat is back" }));
    await gone(b.getByTestId("sending"));
    await bobCtx.setOffline(true);
    try {
      // Cancelled while it waits, a message comes back into the composer, and is not sent.
      await send(b, "cancelled while offline");
      const waiting = b.getByTestId("sending").filter({ hasText: "Not sent yet" });
      await visible(waiting);
      await waiting.getByRole("button", { name: "Cancel" }).click();
      await gone(b.getByTestId("sending"));
      await holds(b.getByLabel("Message", { exact: true }), "cancelled while offline", "after Cancel");
      await b.getByLabel("Message", { exact: true }).fill("");
      await send(b, "written offline");
      await visible(b.getByTestId("sending").filter({ hasText: "Not sent yet" }));
      // Back at the chat list, the chat says its message waits.
      await b.getByRole("button", { name: "Back to chats" }).click();
      await visible(b.getByTestId("chat-item").filter({ hasText: "Waiting to send: written offline" }));
    } finally {
      await bobCtx.setOffline(false);
    }
    await visible(messages(a).filter({ hasText: "written offline" }));
    await gone(b.getByTestId("chat-item").filter({ hasText: "Waiting to send:" }));
    await openChatWith(b, alice.nickname);
    await gone(b.getByTestId("sending"));
    for (const [text, want] of [["sent once chat is back", 1], ["written offline", 1], ["cancelled while offline", 0]]) {
      const n = await messages(a).filter({ hasText: text }).count();
      if (n !== want) throw new Error(`Alice has "${text}" ${n} times`);
    }
    // A send refused for good comes back into the composer with the error, and goes once sent again.
    await b.route(route, (r) => r.fulfill({ status: 400, contentType: "application/json", body: JSON.stringify({ code: "invalid_argument", message: "text: refused by the test" }) }));
    try {
      await send(b, "sent on the second try");
      await visible(b.locator(".composer").getByRole("alert"));
      await holds(b.getByLabel("Message", { exact: true }), "sent on the second try", "after a failed send");
      // Left for the chat list, it waits there, and the list says so.
      await b.getByRole("button", { name: "Back to chats" }).click();
      await visible(b.getByTestId("chat-item").filter({ hasText: "Not sent: sent on the second try" }));
    } finally {
      await b.unroute(route);
    }
    await openChatWith(b, alice.nickname);
    await holds(b.getByLabel("Message", { exact: true }), "sent on the second try", "with the chat opened again");
    await b.getByRole("button", { name: "Send" }).click();
    await visible(messages(a).filter({ hasText: "sent on the second try" }));
    await gone(b.locator(".composer").getByRole("alert"));
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
    // What the reconnect reloads besides sync: the chat list and the unread count, once each; the
    // friend lists only when People is shown (it is not).
    const calls = {};
    const count = (r) => {
      const m = /\/api\/parley\.\w+\.v1\.\w+\/(\w+)$/.exec(new URL(r.url()).pathname);
      if (m) calls[m[1]] = (calls[m[1]] ?? 0) + 1;
    };
    a.on("request", count);
    await aliceCtx.setOffline(false);
    await online(a);
    await visible(messages(a).filter({ hasText: "sent while you were away 1" }));
    await visible(messages(a).filter({ hasText: "sent while you were away 2" }));
    await a.waitForTimeout(1000);
    a.off("request", count);
    if (calls.ListChats !== 1 || calls.GetUnreadCount !== 1 || calls.ListFriends) throw new Error(`the reconnect reloaded ${JSON.stringify(calls)}`);
    if (sockets < 1) throw new Error("no new WebSocket was opened");
    // And live delivery works again on the new connection.
    await send(b, "after the reconnect");
    await visible(messages(a).filter({ hasText: "after the reconnect" }));
  });

  await step("an attachment is uploaded to S3 and shown to Bob with its thumbnail and a download link; a message being written waits out an edit and another screen", async () => {
    await a.getByLabel("Attach a file").setInputFiles({ name: "red.png", mimeType: "image/png", buffer: png(64, 48, [220, 30, 30]) });
    const pending = a.getByRole("list", { name: "Attachments to send" });
    await visible(pending.getByText("red.png"));
    const composer = a.getByLabel("Message", { exact: true });
    await composer.fill("a picture");
    // An edit changes an older message's text only: the new message's attachment stands aside.
    await messages(a).filter({ hasText: "Hello Bob, edited" }).getByRole("button", { name: "Edit message" }).click();
    await gone(pending);
    await gone(a.getByLabel("Attach a file"));
    await a.getByLabel("Edit your message").press("Escape");
    await visible(pending.getByText("red.png"));
    // Another screen shown and the chat opened again, its composer holds both still.
    await a.getByRole("button", { name: "Profile" }).click();
    await gone(a.getByRole("region", { name: `Conversation with ${bob.nickname}` }));
    await openChatWith(a, bob.nickname);
    await holds(composer, "a picture", "with the chat opened again");
    await visible(pending.getByText("red.png"));
    await a.getByRole("button", { name: "Send" }).click();
    await gone(pending);
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

  await step("push: the service worker shows a push delivered through DevTools, one notification per chat", async () => {
    // Served as a script from the app's origin, revalidated on every load (browsers check it for updates).
    const r = await fetch(new URL("/sw.js", BASE));
    if (!r.ok || !/^(text|application)\/javascript/.test(r.headers.get("content-type") ?? "")) throw new Error(`/sw.js: ${r.status} ${r.headers.get("content-type")}`);
    if (r.headers.get("cache-control") !== "no-cache") throw new Error(`/sw.js Cache-Control: ${r.headers.get("cache-control")}`);
    await aliceCtx.grantPermissions(["notifications"], { origin: new URL(BASE).origin });
    // The worker as the device switch registers it. pushManager.subscribe itself needs the browser
    // vendor's push service, which this machine cannot reach: the push comes through DevTools.
    const cdp = await aliceCtx.newCDPSession(a);
    const registrations = [];
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
    await cdp.send("ServiceWorker.enable");
    await a.evaluate(async () => {
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      await navigator.serviceWorker.ready;
    });
    const scope = new URL("/", BASE).href;
    await a.waitForFunction(() => true); // let the registration events arrive
    const reg = await poll(
      () => registrations.find((x) => x.scopeURL === scope && !x.isDeleted),
      () => `no service worker registration for ${scope}: ${JSON.stringify(registrations)}`,
    );
    // Chromium's getNotifications() checks its stored notifications against those on screen and
    // forgets, for good, one stored but not yet on screen: a read in that moment loses the push's
    // notification (1 run in 60 when polled at once). So the lists are read only once the worker's
    // showNotification has settled, which the worker counts here; the worker's code is unchanged.
    const swURL = new URL("/sw.js", BASE).href;
    const worker = aliceCtx.serviceWorkers().find((w) => w.url() === swURL) ?? (await aliceCtx.waitForEvent("serviceworker", { predicate: (w) => w.url() === swURL, timeout: TIMEOUT }));
    await worker.evaluate(() => {
      const r = self.registration;
      const show = r.showNotification.bind(r);
      self.parleyShown = 0;
      r.showNotification = (...args) => show(...args).finally(() => self.parleyShown++);
    });
    const chatId = "5d1c2e9a-7b3f-4c8e-9a10-2b3c4d5e6f70";
    const push = async (count, body) => {
      const before = await worker.evaluate(() => self.parleyShown);
      await cdp.send("ServiceWorker.deliverPushMessage", {
        origin: new URL(BASE).origin,
        registrationId: reg.registrationId,
        data: JSON.stringify({ kind: "NOTIFICATION_KIND_MESSAGE", title: `${count} new messages from ${bob.nickname}`, body, actorNickname: bob.nickname, chatId, subjectId: chatId, count, url: new URL(`/chats/${chatId}`, BASE).href, tag: `chat:${chatId}` }),
      });
      await poll(async () => (await worker.evaluate(() => self.parleyShown)) !== before, () => `push ${count}: the service worker showed no notification`);
    };
    const shown = () =>
      a.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data?.url })));
    const until = async (want) => {
      let got;
      await poll(
        async () => JSON.stringify((got = await shown())) === JSON.stringify(want),
        () => `notifications shown: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`,
      );
    };
    const url = new URL(`/chats/${chatId}`, BASE).href;
    await push(1, "first");
    await until([{ title: `1 new messages from ${bob.nickname}`, body: "first", tag: `chat:${chatId}`, url }]);
    // The chat's next push replaces its notification (same tag); one without previews has no body.
    await push(2, undefined);
    await until([{ title: `2 new messages from ${bob.nickname}`, body: "", tag: `chat:${chatId}`, url }]);
    await cdp.detach();
    // The device switch: GetPushPublicKey answers (the dev stack has a VAPID key), the worker is
    // registered, and the browser's subscribe is refused (Chromium has no Push API in a context
    // like this one, which is incognito, nor a push service to reach): shown next to the switch,
    // which stays off.
    await a.getByRole("button", { name: /^Notifications/ }).click();
    const device = a.getByLabel("Push notifications on this device");
    await a.waitForFunction(() => !document.querySelector(".device-push input")?.disabled, null, { timeout: TIMEOUT });
    await device.click();
    await visible(a.locator("#device-push-error"));
    const said = await a.locator("#device-push-error").textContent();
    if (!/could not subscribe/.test(said ?? "")) throw new Error(`device switch: ${said}`);
    if (await device.isChecked()) throw new Error("the device switch is on without a subscription");
    // The account's push preferences: previews off by default, and kept once turned on.
    await visible(a.getByLabel("Messages by email")); // the preferences have loaded
    const previews = a.getByLabel("Show message text in push notifications");
    if (await previews.isChecked()) throw new Error("push previews are on by default");
    if (!(await a.getByLabel("Push notifications", { exact: true }).isChecked())) throw new Error("push is off by default");
    await previews.click();
    await checked(previews);
    // Read back from the server when the screen opens again.
    await a.getByRole("navigation").getByRole("button", { name: "Chats" }).click();
    await a.getByRole("button", { name: /^Notifications/ }).click();
    await checked(a.getByLabel("Show message text in push notifications"));
  });

  await step("a push's page opens in the app: the chat from the address at start, and from the worker in an open tab", async () => {
    await a.getByRole("navigation").getByRole("button", { name: "Chats" }).click();
    const chatId = await a.getByTestId("chat-item").filter({ hasText: bob.nickname }).first().getAttribute("data-chat-id");
    const page = new URL(`/chats/${chatId}`, BASE).href;
    const conv = a.getByRole("region", { name: `Conversation with ${bob.nickname}` });
    // A new window at the push's url (what the worker opens when no tab is).
    await a.goto(page);
    await visible(conv);
    if (new URL(a.url()).pathname !== "/") throw new Error(`the address stayed ${a.url()}`);
    // An open tab on another screen: the worker posts it the page (what it does after focusing it).
    await a.getByRole("button", { name: /^Notifications/ }).click();
    await gone(conv);
    const worker = aliceCtx.serviceWorkers().find((w) => w.url() === new URL("/sw.js", BASE).href);
    if (!worker) throw new Error(`no service worker: ${aliceCtx.serviceWorkers().map((w) => w.url())}`);
    await worker.evaluate(async (url) => {
      for (const c of await self.clients.matchAll({ type: "window", includeUncontrolled: true })) c.postMessage({ type: "parley.open", url });
    }, page);
    await visible(conv);
  });

  await step("keyboard only: Bob sends a message with Tab and Enter", async () => {
    await openChatWith(a, bob.nickname);
    // From the top of the page, Tab reaches the composer through labelled controls only.
    await b.getByRole("button", { name: /^Notifications/ }).focus();
    await tabWalk(b, (el) => el.id === "composer-text", 40);
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
    await step(`with the browser's clock 3 minutes slow or fast, ${ttl}s tokens are renewed on time on one socket`, async () => {
      // The app must judge expiry by the token's lifetime, not by comparing the server's expiry
      // time with this clock: slow, it would let the token expire (4002, then reconnects); fast,
      // it would renew without pause.
      const people = [];
      for (const [name, offset] of [["slow", -180_000], ["fast", 180_000]]) {
        const ctx = await newContext();
        await ctx.addInitScript((off) => {
          const now = Date.now;
          Date.now = () => now() + off;
        }, offset);
        const p = await ctx.newPage();
        watchErrors(p, `${name} clock`);
        const who = { email: `${name}-${run}@example.com`, password: "correct horse battery", nickname: `${name}_${run}` };
        const seen = { sockets: 0, renewals: 0 };
        p.on("websocket", (ws) => {
          seen.sockets++;
          ws.on("framesent", (f) => typeof f.payload === "string" && f.payload.includes('"type":"auth"') && seen.renewals++);
        });
        people.push({ ctx, p, who, seen, name });
      }
      try {
        await Promise.all(people.map(({ p, who }) => signUp(p, who)));
        const t0 = Date.now();
        // The app renews 60 s before expiry: every ttl − 60 s (at least every few seconds).
        const every = Math.max(5, ttl - 60) * 1000;
        const deadline = t0 + 2 * every + ttl * 1000 + 20_000;
        while (people.some(({ seen }) => seen.renewals < 2) && Date.now() < deadline) await a.waitForTimeout(1000);
        const elapsed = Date.now() - t0;
        for (const { p, seen, name, who } of people) {
          if (seen.renewals < 2) throw new Error(`${name} clock: renewals ${seen.renewals} in ${elapsed} ms`);
          if (seen.renewals > elapsed / every + 3) throw new Error(`${name} clock: ${seen.renewals} renewals in ${elapsed} ms`);
          if (seen.sockets !== 1) throw new Error(`${name} clock: ${seen.sockets} WebSockets (the token expired under it)`);
          await online(p);
          // And the API takes the renewed token.
          await p.getByRole("button", { name: "People" }).click();
          await p.getByLabel("Search by nickname").fill(who.nickname);
          await p.getByRole("button", { name: "Search", exact: true }).click();
          await visible(p.getByRole("region", { name: "Search results" }));
        }
      } finally {
        for (const { ctx } of people) await ctx.close();
      }
    });

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
    console.log("--   timed renewal in two tabs: not run (start the stack with ACCESS_TOKEN_TTL=65s and set PARLEY_E2E_ACCESS_TOKEN_TTL_SECONDS=65)");
  }

  await step("two tabs of Alice start at once and share the session without tripping refresh-token reuse; a draft survives the reloads, not the log-out", async () => {
    const a2 = await aliceCtx.newPage();
    watchErrors(a2, "alice tab 2");
    // What tab 1 is writing is still there after its reloads.
    await openChatWith(a, bob.nickname);
    await a.getByLabel("Message", { exact: true }).fill("kept across reloads");
    // Both tabs need a new access token at the same moment: a reload drops the one in memory.
    await Promise.all([a.reload(), a2.goto(BASE)]);
    await Promise.all([online(a), online(a2)]);
    await Promise.all([a.reload(), a2.reload()]);
    await Promise.all([online(a), online(a2)]);
    // The session is alive: tab 2 sends, tab 1 and Bob see it.
    await openChatWith(a2, bob.nickname);
    await openChatWith(a, bob.nickname);
    await holds(a.getByLabel("Message", { exact: true }), "kept across reloads", "after two reloads");
    await send(a2, "from the second tab");
    await visible(messages(a).filter({ hasText: "from the second tab" }));
    await visible(messages(b).filter({ hasText: "from the second tab" }));
    // Logging out in one tab signs out the other, and each forgets what was being written.
    await a2.getByRole("button", { name: "Log out" }).click();
    await visible(a2.getByRole("tab", { name: "Sign in" }));
    await visible(a.getByRole("tab", { name: "Sign in" }));
    const keptDrafts = await a.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith("parley.drafts.")));
    if (keptDrafts.length) throw new Error(`signed out, the tab still keeps ${keptDrafts}`);
    await shot(a, "signin-desktop");
    await a2.close();
  });

  await step("sign in again with the password", async () => {
    await signIn(a, alice, refusal(a), "wrong password!");
    await signIn(a, alice);
    await online(a);
    await visible(a.getByTestId("chat-item").filter({ hasText: bob.nickname }));
  });

  await step("logging out during start-up cancels it: its calls are aborted and no WebSocket opens", async () => {
    // Hold the start-up's ListChats until after the click, as a slow network would.
    let release;
    const held = new Promise((r) => (release = r));
    const pattern = "**/api/parley.chat.v1.ChatService/ListChats";
    await a.route(pattern, async (route) => {
      await held;
      await route.continue().catch(() => undefined);
    });
    let sockets = 0;
    let aborted = false;
    const onWs = () => sockets++;
    const onFailed = (r) => r.url().endsWith("/ListChats") && (aborted = true);
    a.on("websocket", onWs);
    a.on("requestfailed", onFailed);
    try {
      await a.reload();
      await a.getByRole("button", { name: "Log out" }).click();
      await visible(a.getByRole("tab", { name: "Sign in" }));
      release();
      // A start-up left running would open its socket now; give it the time to.
      await a.waitForTimeout(2000);
    } finally {
      a.off("websocket", onWs);
      a.off("requestfailed", onFailed);
      await a.unroute(pattern);
    }
    if (sockets) throw new Error(`${sockets} WebSocket(s) opened after the log-out`);
    if (!aborted) throw new Error("the start-up's ListChats was not aborted");
    // Signed in again for what follows.
    await signIn(a, alice);
    await online(a);
  });

  await step('"Sign in with Dev" (OpenID Connect) creates and signs in an account', async () => {
    const ctx = await newContext();
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

  // The account screens, with a person of their own on two devices (g1 desktop, g2 phone).
  const gina = { email: `gina-${run}@example.com`, password: "correct horse battery", nickname: `gina_${run}` };
  const ginaNew = "a different horse battery";
  // With short tokens Alice's and Bob's sessions renew every few seconds, and every renewal spends
  // the per-IP budget of sign-in calls (RATE_LIMIT_AUTH) that the steps below need: end them.
  // (submit() waits out the limit when it still answers.)
  await aliceCtx.close();
  await bobCtx.close();
  a = b = null;
  let g1Ctx, g2Ctx;
  const account = (page) => page.getByRole("navigation").getByRole("button", { name: "Account" }).click();
  await step("account: the sessions list shows both devices; ending one signs that device out", async () => {
    g1Ctx = await newContext({ viewport: { width: 1280, height: 800 } });
    g2Ctx = await newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    g1 = await g1Ctx.newPage();
    g2 = await g2Ctx.newPage();
    watchErrors(g1, "gina 1");
    watchErrors(g2, "gina 2");
    await signUp(g1, gina);
    await g2.goto(BASE);
    await signIn(g2, gina);
    await online(g2);
    await account(g1);
    const sessions = g1.getByTestId("session");
    await sessions.nth(1).waitFor({ timeout: TIMEOUT });
    if ((await sessions.count()) !== 2) throw new Error(`sessions listed: ${await sessions.count()}`);
    await visible(sessions.filter({ hasText: "This device" }));
    await shot(g1, "account-desktop");
    // Every control of the screen is reached with Tab and labelled.
    await g1.getByRole("navigation").getByRole("button", { name: "Account" }).focus();
    await tabWalk(g1, (el) => el.label === "Delete my account");
    await sessions.filter({ hasNotText: "This device" }).getByRole("button", { name: "End session" }).click();
    // The other device's socket is closed (4003) and it is signed out.
    await visible(g2.getByRole("tab", { name: "Sign in" }));
    await gone(sessions.nth(1));
  });

  await step("account: a password change shows a wrong current password next to its field, then works", async () => {
    const form = g1.getByRole("form", { name: "Change password" });
    await form.getByLabel("Current password").fill("not my password");
    await form.getByLabel("New password").fill(ginaNew);
    await form.getByRole("button", { name: "Change password" }).click();
    await errorOf(form.getByLabel("Current password"));
    await form.getByLabel("Current password").fill(gina.password);
    await form.getByRole("button", { name: "Change password" }).click();
    await visible(form.getByText("Password changed"));
    gina.password = ginaNew;
    await signIn(g2, gina);
    await online(g2);
  });

  let recoveryCodes = [];
  await step("two-factor: turned on with the app's code; sign-in then asks for a code (a wrong one shown next to it) or a recovery code", async () => {
    await g1.getByRole("button", { name: "Set up an authenticator app" }).click();
    const secret = (await g1.getByTestId("totp-secret").textContent())?.trim();
    if (!secret) throw new Error("no secret shown");
    const step0 = totpStep();
    const confirm = g1.getByRole("form", { name: "Confirm the authenticator app" });
    await confirm.getByLabel("The code the app shows").fill(totp(secret, step0));
    await confirm.getByRole("button", { name: "Turn on" }).click();
    await visible(g1.getByTestId("recovery-codes"));
    recoveryCodes = (await g1.getByTestId("recovery-codes").locator("code").allTextContents()).map((c) => c.trim());
    if (recoveryCodes.length !== 10) throw new Error(`recovery codes: ${recoveryCodes.length}`);
    await visible(g1.getByRole("form", { name: "Turn off two-factor authentication" }));

    // The phone signs in again: password, then the second step.
    await g2.getByRole("button", { name: "Log out" }).click();
    const code = g2.getByLabel("Code from your authenticator app");
    await signIn(g2, gina, code);
    await shot(g2, "two-factor-phone");
    await code.fill(totp(secret, step0) === "000000" ? "111111" : "000000");
    await submit(g2, g2.getByRole("button", { name: "Verify" }), code.and(g2.locator('[aria-invalid="true"]')));
    await errorOf(code);
    // The code the confirmation used is spent; the app's next one is accepted (one step either side of now).
    await code.fill(totp(secret, step0 + 1));
    await submit(g2, g2.getByRole("button", { name: "Verify" }), onlineNow(g2));

    await g2.getByRole("button", { name: "Log out" }).click();
    await signIn(g2, gina, g2.getByRole("button", { name: "Use a recovery code" }));
    await g2.getByRole("button", { name: "Use a recovery code" }).click();
    await g2.getByLabel("Recovery code").fill(recoveryCodes[0]);
    await submit(g2, g2.getByRole("button", { name: "Verify" }), onlineNow(g2));
  });

  await step("account deletion asks to confirm and re-authenticate, then signs every device out for good", async () => {
    await account(g1);
    const form = g1.getByRole("form", { name: "Delete account" });
    await form.getByRole("button", { name: "Delete my account" }).click();
    await errorOf(form.getByRole("checkbox"));
    await form.getByRole("checkbox").check();
    await form.getByLabel(/^Password/).fill("not my password");
    await form.getByLabel(/^Code from your authenticator app/).fill(recoveryCodes[1]);
    await form.getByRole("button", { name: "Delete my account" }).click();
    await errorOf(form.getByLabel(/^Password/));
    await form.getByLabel(/^Password/).fill(gina.password);
    await form.getByRole("button", { name: "Delete my account" }).click();
    await visible(g1.getByRole("tab", { name: "Sign in" }));
    await visible(g2.getByRole("tab", { name: "Sign in" }));
    await signIn(g1, gina, refusal(g1));
  });

  if (MAIL) {
    const rita = { email: `rita-${run}@example.com`, password: "correct horse battery", nickname: `rita_${run}` };
    const confirmSubject = "Confirm your email address for Parley";
    await step("email confirmation: the Account screen sends the email again; its link confirms the address", async () => {
      const ctx = await newContext({ viewport: { width: 1280, height: 800 } });
      r = await ctx.newPage();
      watchErrors(r, "rita");
      await signUp(r, rita);
      await mailLink(rita.email, confirmSubject, "/verify-email");
      await r.getByRole("navigation").getByRole("button", { name: "Account" }).click();
      await r.getByRole("button", { name: "Send the confirmation email again" }).click();
      await visible(r.getByRole("status").filter({ hasText: "We sent a new confirmation email" }));
      // The resend's link: it ended the sign-up's.
      const link = await mailLink(rita.email, confirmSubject, "/verify-email", 2);
      await r.goto(link);
      await online(r);
      if (r.url().includes("token")) throw new Error(`the token stayed in the address: ${r.url()}`);
      // Opening the link confirms nothing by itself: one press does.
      await r.getByTestId("email-verification").getByRole("button", { name: "Confirm my address" }).click();
      await visible(r.getByTestId("email-verification").filter({ hasText: "is confirmed" }));
      await r.getByRole("navigation").getByRole("button", { name: "Account" }).click();
      await visible(r.getByText(`Signed in as ${rita.email}`));
      if (await r.getByRole("button", { name: "Send the confirmation email again" }).isVisible()) throw new Error("the address still shows as unconfirmed");
      await r.getByRole("button", { name: "Dismiss" }).click();
      await gone(r.getByTestId("email-verification"));
    });

    await step("password reset: asked for on the sign-in screen, the emailed link sets a new password; a used link says so", async () => {
      await r.getByRole("button", { name: "Log out" }).click();
      await r.getByRole("button", { name: "Forgot your password?" }).click();
      const form = r.getByRole("form", { name: "Reset your password" });
      await form.getByLabel("Email").fill(rita.email);
      await form.getByRole("button", { name: "Send the link" }).click();
      await visible(form.getByRole("status").filter({ hasText: "If an account exists for that address" }));
      const link = await mailLink(rita.email, "Reset your Parley password", "/reset-password");
      await r.goto(link);
      const reset = r.getByRole("form", { name: "Choose a new password" });
      await visible(reset);
      if (r.url().includes("token")) throw new Error(`the token stayed in the address: ${r.url()}`);
      await reset.getByLabel("New password").fill("short");
      await reset.getByRole("button", { name: "Set the new password" }).click();
      await errorOf(reset.getByLabel("New password"));
      rita.password = "a brand new passphrase";
      await reset.getByLabel("New password").fill(rita.password);
      await reset.getByRole("button", { name: "Set the new password" }).click();
      await visible(r.getByRole("status").filter({ hasText: "Your password was changed" }));
      // The link works once.
      await r.goto(link);
      await r.getByRole("form", { name: "Choose a new password" }).getByLabel("New password").fill("yet another passphrase");
      await r.getByRole("button", { name: "Set the new password" }).click();
      await visible(r.getByRole("alert").filter({ hasText: "not valid any more" }));
      await r.getByRole("button", { name: "Ask for a new link" }).click();
      await r.getByRole("form", { name: "Reset your password" }).getByRole("button", { name: "Back to sign in" }).click();
      await signIn(r, rita);
      await online(r);
      await r.context().close();
    });
  } else {
    console.log("--   password reset and email confirmation through the emails: not run (set PARLEY_MAIL_URL to the stack's mail UI, e.g. http://127.0.0.1:8025)");
  }
} catch {
  failed = true;
  for (const [p, n] of [[a, "alice"], [b, "bob"], [g1, "gina-1"], [g2, "gina-2"], [r, "rita"]]) if (p) await p.screenshot({ path: join(OUT, `failure-${n}.png`) }).catch(() => undefined);
} finally {
  await browser.close();
}
console.log(failed ? "e2e: FAILED" : `e2e: ${steps.length} steps passed`);
process.exit(failed ? 1 : 0);
