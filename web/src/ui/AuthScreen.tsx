import { useEffect, useRef, useState, type FormEvent } from "react";
import type { SecondFactorChallenge } from "../gen/parley/auth/v1/auth_pb";
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
  const [challenge, setChallenge] = useState<SecondFactorChallenge | null>(null);

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
        if (r.secondFactor) {
          setChallenge(r.secondFactor);
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

  if (challenge) {
    return (
      <main className="auth">
        <h1>Parley</h1>
        <TwoFactorForm
          challenge={challenge}
          onCancel={() => {
            setChallenge(null);
            setPassword("");
          }}
        />
      </main>
    );
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

/** The second step of a sign-in with two-factor authentication on: a code from the authenticator
 * app, or one of the recovery codes. */
function TwoFactorForm({ challenge, onCancel, onSignedIn }: { challenge: SecondFactorChallenge; onCancel: () => void; onSignedIn?: () => void }) {
  const canRecover = challenge.methods.includes("recovery_code");
  const [recovery, setRecovery] = useState(false);
  const [value, setValue] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const field = recovery ? "recovery_code" : "code";

  useEffect(() => input.current?.focus(), [recovery]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const v = value.trim();
      const r = await authPublic.completeTwoFactor({ challenge: challenge.challenge, code: recovery ? "" : v, recoveryCode: recovery ? v : "" });
      session.signedIn(grant(r.userId, r.tokens));
      onSignedIn?.();
    } catch (err) {
      // "not correct", "already used", "challenge … expired; sign in again": next to the code.
      setErrors(fieldErrors(err, ["code", "recovery_code"], field));
    } finally {
      setBusy(false);
    }
  }

  function switchMethod() {
    setRecovery(!recovery);
    setValue("");
    setErrors(NO_ERRORS);
  }

  return (
    <form onSubmit={submit} aria-label="Two-factor sign-in" noValidate>
      <p>This account has two-factor authentication on.</p>
      {recovery ? (
        <Field ref={input} label="Recovery code" name="recovery_code" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} error={errors.fields.recovery_code} />
      ) : (
        <Field ref={input} label="Code from your authenticator app" name="code" inputMode="numeric" autoComplete="one-time-code" required value={value} onChange={(e) => setValue(e.target.value)} error={errors.fields.code} />
      )}
      <FormError error={errors.form} />
      <button type="submit" className="primary" disabled={busy}>
        Verify
      </button>
      {canRecover && (
        <button type="button" onClick={switchMethod}>
          {recovery ? "Use a code from the app" : "Use a recovery code"}
        </button>
      )}
      <button type="button" onClick={onCancel}>
        Start again
      </button>
    </form>
  );
}

let completing = false;

/** The identity provider sent the browser back: finish the sign-in. */
export function OAuthCallback({ onDone }: { onDone: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [challenge, setChallenge] = useState<SecondFactorChallenge | null>(null);
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
        if (r.secondFactor) {
          setChallenge(r.secondFactor);
          return;
        }
        session.signedIn(grant(r.userId, r.tokens));
        onDone();
      })
      .catch((err) => setError(describe(err)));
  }, [onDone]);
  return (
    <main className="auth">
      <h1>Parley</h1>
      {challenge ? (
        <TwoFactorForm challenge={challenge} onCancel={onDone} onSignedIn={onDone} />
      ) : error ? (
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
