// The gateway's built-in account pages (used while no web client is served): confirm an email
// address and choose a new password from the links Parley emails. The token arrives in the URL
// fragment, which browsers never send to a server; it is read, then removed from the address bar
// and history. Every text shown is set with textContent, never as HTML.
"use strict";

(function () {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  // Drop the token from the address bar and history at once.
  history.replaceState(null, "", location.pathname);
  const status = document.getElementById("status");

  function say(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "error";
  }

  async function call(method, body) {
    const res = await fetch("/api/parley.auth.v1.AuthService/" + method, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1" },
      body: JSON.stringify(body),
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(data.message || "the request failed (HTTP " + res.status + ")");
      err.code = data.code;
      throw err;
    }
    return data;
  }

  // Confirming takes a press of the button, not just opening the link: mail scanners open links
  // (some run scripts), and must not confirm an address nobody confirmed.
  function verify() {
    const button = document.getElementById("confirm-email");
    if (!token) {
      button.hidden = true;
      say("This link has no token. Open the link from the email again.", false);
      return;
    }
    button.addEventListener("click", async () => {
      button.disabled = true;
      say("Confirming…", true);
      try {
        const res = await call("VerifyEmail", { verificationToken: token });
        button.hidden = true;
        say("Thank you: " + res.email + " is confirmed. You can close this page.", true);
      } catch (e) {
        say(e.message, false);
        button.disabled = false;
      }
    });
  }

  function reset() {
    const form = document.getElementById("reset");
    const password = document.getElementById("password");
    const confirm = document.getElementById("confirm");
    const passwordError = document.getElementById("password-error");
    const confirmError = document.getElementById("confirm-error");
    if (!token) {
      form.hidden = true;
      say("This link has no token. Open the link from the email again, or ask for a new one.", false);
      return;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      passwordError.textContent = "";
      confirmError.textContent = "";
      say("", true);
      if (password.value !== confirm.value) {
        confirmError.textContent = "The two passwords differ.";
        confirm.focus();
        return;
      }
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await call("ResetPassword", { resetToken: token, newPassword: password.value });
        form.hidden = true;
        say("Your password is changed, and every device was signed out. Sign in with the new password.", true);
      } catch (e) {
        if (e.message.startsWith("new_password: ")) {
          passwordError.textContent = e.message.slice("new_password: ".length);
          password.focus();
        } else {
          say(e.message, false);
        }
      } finally {
        button.disabled = false;
      }
    });
  }

  // One page serves both links; the path says which.
  const page = location.pathname === "/verify-email" ? "verify-email" : "reset-password";
  const section = document.getElementById(page);
  section.hidden = false;
  document.title = section.querySelector("h1").textContent + " · Parley";
  if (page === "verify-email") {
    verify();
  } else {
    reset();
  }
})();
