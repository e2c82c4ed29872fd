import { useCallback, useEffect, useState } from "react";
import { authPublic, push, session } from "../lib/api";
import * as store from "../lib/store";
import { AuthScreen, OAuthCallback, ResetPassword } from "./AuthScreen";
import { useStore } from "./hooks";
import { ChatList } from "./ChatList";
import { Conversation } from "./Conversation";
import { People } from "./People";
import { ProfileScreen } from "./Profile";
import { Notifications } from "./Notifications";
import { AccountScreen } from "./Account";
import { describe } from "../lib/errors";
import { SignedOutError } from "../lib/session";
import { routeOf, type Route } from "../lib/route";
import { renewIfRotated } from "../lib/push";
import { takeEmailLink, type EmailLink } from "../lib/emaillink";

// Read when the app loads, before anything renders (StrictMode renders twice): an email link's
// token leaves the address bar and the history at once.
const emailLink = takeEmailLink();

type Phase = "loading" | "signedout" | "signedin" | "callback";
type View = "chats" | "people" | "notifications" | "profile" | "account";

export function App() {
  const [phase, setPhase] = useState<Phase>(location.pathname === "/oauth/callback" ? "callback" : "loading");
  const [userId, setUserId] = useState<string | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  const [link, setLink] = useState<EmailLink | null>(emailLink);
  const [authNotice, setAuthNotice] = useState<string | undefined>(undefined);
  const [forgot, setForgot] = useState(link?.kind === "reset-password" && !link.token);

  // A reload or a new tab has no access token: get one with the session's refresh token. A refusal
  // means signed out; anything else (the network, the gateway down) is worth another try.
  const resume = useCallback(() => {
    setStartError(null);
    if (!session.hasSession()) {
      setPhase("signedout");
      return;
    }
    // The answer itself signs in, not only the session's listeners: another tab's broadcast token
    // may have arrived before this component subscribed, and then renew() just returns it.
    session.renew().then(
      (a) => {
        setUserId(a.userId);
        setPhase((p) => (p === "callback" ? p : "signedin"));
      },
      (err) => {
        if (err instanceof SignedOutError) setPhase("signedout");
        else setStartError(describe(err));
      },
    );
  }, []);

  useEffect(() => {
    const unsub = session.subscribe((a) => {
      if (a) {
        setUserId(a.userId);
        setPhase((p) => (p === "callback" ? p : "signedin"));
      } else if (!session.hasSession()) {
        setUserId(null);
        setPhase((p) => (p === "callback" ? p : "signedout"));
      }
    });
    if (location.pathname !== "/oauth/callback") resume();
    return unsub;
  }, []);

  const callbackDone = useCallback(() => setPhase(session.current() ? "signedin" : "signedout"), []);

  const resetDone = useCallback(({ changed }: { changed: boolean }) => {
    setLink(null);
    if (changed) {
      // ResetPassword ended every session, this browser's too.
      session.signOut();
      setAuthNotice("Your password was changed. Sign in with the new one.");
      setForgot(false);
    } else {
      setForgot(true);
    }
  }, []);

  if (phase === "callback") return <OAuthCallback onDone={callbackDone} />;
  if (link?.kind === "reset-password" && link.token) return <ResetPassword token={link.token} signedIn={phase === "signedin"} onDone={resetDone} />;
  const verification = link?.kind === "verify-email" && <EmailVerification token={link.token} onDismiss={() => setLink(null)} />;
  if (phase === "loading" && startError) {
    return (
      <main className="auth">
        <h1>Parley</h1>
        <p role="alert" className="error">
          Could not resume your session: {startError}
        </p>
        <button onClick={resume}>Try again</button>
      </main>
    );
  }
  if (phase === "loading") return <p role="status" className="loading">Loading…</p>;
  if (phase === "signedout" || !userId) {
    // Dropping a finished reset's state when the person goes on: the key starts a fresh screen.
    return (
      <>
        {verification}
        <AuthScreen key={forgot ? "forgot" : "signin"} notice={authNotice} forgot={forgot} />
      </>
    );
  }
  return (
    <>
      {verification}
      <Shell key={userId} userId={userId} />
    </>
  );
}

/** An email-verification link's page, above whatever the app shows. One press of "Confirm" calls
 * VerifyEmail: opening the link alone confirms nothing, since mail scanners open links (some run
 * their scripts) and must not confirm an address nobody confirmed (docs/auth.md). The Account
 * screen reads the account when it opens, so it then shows the address confirmed. */
function EmailVerification({ token, onDismiss }: { token: string; onDismiss: () => void }) {
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(
    token ? null : { ok: false, text: "This confirmation link has no code in it; open the link from the email again." },
  );
  const [busy, setBusy] = useState(false);

  async function confirm() {
    setBusy(true);
    try {
      const r = await authPublic.verifyEmail({ verificationToken: token });
      setOutcome({ ok: true, text: `Your email address ${r.email} is confirmed.` });
      // Access tokens say email_verified from the next renewal on: take one now.
      if (session.current()) void session.renew().catch(() => undefined);
    } catch (err) {
      setOutcome({ ok: false, text: `Your email address could not be confirmed: ${describe(err)}. Signed in, you can ask for a new link in Account.` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="notice banner" aria-label="Email confirmation" data-testid="email-verification">
      {outcome === null ? (
        <>
          <p>Confirm that this email address is yours.</p>
          <button className="primary" onClick={() => void confirm()} disabled={busy}>
            Confirm my address
          </button>
        </>
      ) : (
        <p role={outcome.ok ? "status" : "alert"} className={outcome.ok ? undefined : "error"}>
          {outcome.text}
        </p>
      )}
      <button onClick={onDismiss}>{outcome === null ? "Not now" : "Dismiss"}</button>
    </section>
  );
}

// A page a push notification opened (/chats/<id>, /friends, /notifications: docs/notification.md);
// read once, and the address bar set back to the app's root, which is the only place it routes from.
function takeRoute(): Route | null {
  const r = routeOf(location.pathname);
  if (location.pathname !== "/" && location.pathname !== "/oauth/callback") history.replaceState(null, "", "/");
  return r;
}

function Shell({ userId }: { userId: string }) {
  const [initial] = useState(takeRoute);
  const [view, setView] = useState<View>(initial?.view ?? "chats");
  const [error, setError] = useState<string | null>(null);
  const conn = useStore((s) => s.conn);
  const unread = useStore((s) => s.unreadNotifications);
  const activeChatId = useStore((s) => s.activeChatId);
  const announcements = useStore((s) => s.announcements);

  useEffect(() => {
    store
      .start(userId)
      .then(() => {
        // After start-up's own round, and only for a browser already subscribed.
        void renewIfRotated(push).catch(() => undefined);
        if (initial?.view === "chats" && initial.chatId) return store.openChat(initial.chatId);
      })
      .catch((err) => setError(describe(err)));
    return () => store.stop();
  }, [userId]);

  // A click on a push notification while the app is open: the service worker focuses this tab and
  // names the page, shown here without a reload.
  useEffect(() => {
    const sw = navigator.serviceWorker;
    if (!sw) return;
    const onMessage = (e: MessageEvent) => {
      if (e.origin !== location.origin || e.data?.type !== "parley.open" || typeof e.data.url !== "string") return;
      const r = routeOf(new URL(e.data.url, location.origin).pathname);
      if (!r) return;
      setView(r.view);
      if (r.view === "chats" && r.chatId) void store.openChat(r.chatId).catch((err) => setError(describe(err)));
    };
    sw.addEventListener("message", onMessage);
    return () => sw.removeEventListener("message", onMessage);
  }, []);

  async function logout() {
    const had = session.signOut();
    store.stop();
    // Empty: the gateway fills the token in from its cookie and removes the cookie.
    if (had) await authPublic.logout({}).catch(() => undefined);
  }

  const openChat = (chatId: string) => {
    setView("chats");
    void store.openChat(chatId).catch((err) => setError(describe(err)));
  };

  return (
    <div className={"shell" + (activeChatId ? " has-chat" : "")}>
      <header>
        <h1>Parley</h1>
        <nav aria-label="Main">
          <button aria-current={view === "chats" ? "page" : undefined} onClick={() => setView("chats")}>
            Chats
          </button>
          <button aria-current={view === "people" ? "page" : undefined} onClick={() => setView("people")}>
            People
          </button>
          <button aria-current={view === "notifications" ? "page" : undefined} onClick={() => setView("notifications")}>
            Notifications
            {unread > 0 && (
              <span className="badge" aria-label={`${unread} unread`} data-testid="notif-badge">
                {unread}
              </span>
            )}
          </button>
          <button aria-current={view === "profile" ? "page" : undefined} onClick={() => setView("profile")}>
            Profile
          </button>
          <button aria-current={view === "account" ? "page" : undefined} onClick={() => setView("account")}>
            Account
          </button>
          <button onClick={() => void logout()}>Log out</button>
        </nav>
        <span className={"conn conn-" + conn} role="status" aria-label="Connection" data-testid="conn">
          {connLabel(conn)}
        </span>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <ul className="sr-only" role="log" aria-live="polite" aria-label="New messages and notifications" data-testid="announce">
        {announcements.map((t, i) => (
          <li key={i}>{t}</li>
        ))}
      </ul>
      {view === "chats" && (
        <div className="chats">
          <ChatList onOpen={openChat} />
          {activeChatId ? <Conversation key={activeChatId} chatId={activeChatId} onClose={() => void store.openChat(null)} /> : <p className="placeholder">Choose a chat.</p>}
        </div>
      )}
      {view === "people" && <People onOpenChat={openChat} />}
      {view === "notifications" && <Notifications onOpenChat={openChat} />}
      {view === "profile" && <ProfileScreen />}
      {view === "account" && <AccountScreen onSignedOut={logout} />}
    </div>
  );
}

function connLabel(c: store.State["conn"]): string {
  switch (c) {
    case "live":
      return "Online";
    case "syncing":
      return "Catching up…";
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      return "Reconnecting…";
    default:
      return "Offline";
  }
}
