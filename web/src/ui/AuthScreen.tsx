import { useEffect, useState, type FormEvent } from "react";
import { authPublic, session } from "../lib/api";
import { grant } from "../lib/session";
import { describe, fieldErrors, type FieldErrors } from "../lib/errors";
import { Field, FormError } from "./Field";

const NO_ERRORS: FieldErrors = { fields: {}, form: null };
const OAUTH_STATE_KEY = "parley.oauth.state";

function callbackUri(): string {
  return new URL("/oauth/callback", location.origin).toString();
}

export function AuthScreen() {
  const [mode, setMode] = useState<"signin" | "signup">("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [nickname, setNickname] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const [providers, setProviders] = useState<{ id: string; displayName: string }[]>([]);

  useEffect(() => {
    authPublic
      .listOAuthProviders({})
      .then((r) => setProviders(r.providers))
      .catch(() => setProviders([]));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      if (mode === "signup") {
        const r = await authPublic.register({ email, password, nickname });
        session.signedIn(grant(r.userId, r.tokens));
      } else {
        const r = await authPublic.login({ email, password });
        if (!r.tokens) {
          setErrors({ fields: {}, form: "This account uses two-factor authentication, which this app does not support yet." });
          return;
        }
        session.signedIn(grant(r.userId, r.tokens));
      }
    } catch (err) {
      setErrors(fieldErrors(err, ["email", "password", "nickname"]));
    } finally {
      setBusy(false);
    }
  }

  async function oauth(providerId: string) {
    setErrors(NO_ERRORS);
    try {
      const r = await authPublic.beginOAuth({ providerId, redirectUri: callbackUri() });
      sessionStorage.setItem(OAUTH_STATE_KEY, r.state);
      location.assign(r.authorizationUrl);
    } catch (err) {
      setErrors({ fields: {}, form: describe(err) });
    }
  }

  const signup = mode === "signup";
  return (
    <main className="auth">
      <h1>Parley</h1>
      <div className="tabs" role="tablist" aria-label="Account">
        <button role="tab" aria-selected={!signup} onClick={() => setMode("signin")}>
          Sign in
        </button>
        <button role="tab" aria-selected={signup} onClick={() => setMode("signup")}>
          Sign up
        </button>
      </div>
      <form onSubmit={submit} aria-label={signup ? "Sign up" : "Sign in"} noValidate>
        <Field label="Email" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} error={errors.fields.email} />
        <Field
          label="Password"
          type="password"
          name="password"
          autoComplete={signup ? "new-password" : "current-password"}
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={errors.fields.password}
        />
        {signup && (
          <Field label="Nickname" name="nickname" autoComplete="username" required value={nickname} onChange={(e) => setNickname(e.target.value)} error={errors.fields.nickname} />
        )}
        <FormError error={errors.form} />
        <button type="submit" className="primary" disabled={busy}>
          {signup ? "Create account" : "Sign in"}
        </button>
      </form>
      {providers.length > 0 && (
        <div className="oauth">
          {providers.map((p) => (
            <button key={p.id} onClick={() => void oauth(p.id)}>
              Sign in with {p.displayName}
            </button>
          ))}
        </div>
      )}
    </main>
  );
}

let completing = false;

/** The identity provider sent the browser back: finish the sign-in. */
export function OAuthCallback({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (completing) return;
    completing = true;
    const q = new URLSearchParams(location.search);
    const state = q.get("state") ?? "";
    const code = q.get("code") ?? "";
    const expected = sessionStorage.getItem(OAUTH_STATE_KEY);
    sessionStorage.removeItem(OAUTH_STATE_KEY);
    // The code must not stay in the address bar or the history.
    history.replaceState(null, "", "/");
    if (q.get("error")) {
      setError(`Sign-in was cancelled (${q.get("error")}).`);
      return;
    }
    if (!state || state !== expected) {
      setError("This sign-in link was not started here; start again.");
      return;
    }
    authPublic
      .completeOAuth({ state, code })
      .then((r) => {
        if (!r.tokens) throw new Error("This account uses two-factor authentication, which this app does not support yet.");
        session.signedIn(grant(r.userId, r.tokens));
        onDone();
      })
      .catch((err) => setError(describe(err)));
  }, [onDone]);
  return (
    <main className="auth">
      <h1>Parley</h1>
      {error ? (
        <>
          <FormError error={error} />
          <button onClick={onDone}>Back to sign in</button>
        </>
      ) : (
        <p role="status">Signing you in…</p>
      )}
    </main>
  );
}
