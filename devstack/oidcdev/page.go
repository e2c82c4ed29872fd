package oidcdev

import (
	"bytes"
	"html/template"
	"net/http"
)

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · Parley dev sign-in</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 30rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
.warn { background: #fff3cd; border: 1px solid #e0c36a; padding: .75rem 1rem; border-radius: .4rem; }
.err { color: #b00020; font-weight: 600; }
label { display: block; margin-top: 1rem; }
input[type=email], input[type=text] { display: block; width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; margin-top: .25rem; }
button { margin-top: 1.25rem; margin-right: .5rem; padding: .5rem 1.25rem; font-size: 1rem; }
code { word-break: break-all; }
</style>
</head>
<body>
<p class="warn"><strong>Development only.</strong> This is Parley's local sign-in provider: it signs in
whoever you type, without a password, and says the email is verified. It must never run in production.</p>
{{end}}

{{define "signin"}}{{template "head" "Sign in"}}
<h1>Sign in with Dev</h1>
<p>For <code>{{.ClientID}}</code>, returning to <code>{{.RedirectURI}}</code>.</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label>Email <input type="email" name="email" value="{{.Email}}" required autofocus></label>
<label>Name <input type="text" name="name" value="{{.Name}}"></label>
<button type="submit" name="action" value="approve">Sign in</button>
<button type="submit" name="action" value="deny" formnovalidate>Cancel</button>
</form>
<p>The same email is the same person every time.</p>
</body>
</html>
{{end}}

{{define "error"}}{{template "head" "Error"}}
<h1>Cannot sign in</h1>
<p class="err">{{.}}</p>
</body>
</html>
{{end}}

{{define "index"}}{{template "head" "Provider"}}
<h1>Parley dev OpenID Connect provider</h1>
<p>Issuer <code>{{.}}</code>; discovery at <a href="{{.}}/.well-known/openid-configuration"><code>{{.}}/.well-known/openid-configuration</code></a>.</p>
<p>Use it through the app: "Sign in with Dev". See docs/devstack.md.</p>
</body>
</html>
{{end}}
`))

type hiddenField struct{ Name, Value string }

type signInData struct {
	ClientID, RedirectURI, Action, Email, Name, Error string
	Hidden                                            []hiddenField
}

// signInPage shows the form; it posts the authorization request back with the person typed.
func (p *Provider) signInPage(w http.ResponseWriter, status int, ar authRequest, email, name, errMsg string) {
	d := signInData{
		ClientID: ar.client.ID, RedirectURI: ar.redirectURI, Action: p.base + "/authorize",
		Email: email, Name: name, Error: errMsg,
	}
	for _, f := range []hiddenField{
		{"client_id", ar.client.ID}, {"redirect_uri", ar.redirectURI}, {"response_type", ar.responseType},
		{"scope", ar.scope}, {"state", ar.state}, {"nonce", ar.nonce},
		{"code_challenge", ar.challenge}, {"code_challenge_method", ar.challengeMethod},
	} {
		if f.Value != "" {
			d.Hidden = append(d.Hidden, f)
		}
	}
	p.render(w, status, "signin", d)
}

func (p *Provider) errorPage(w http.ResponseWriter, status int, msg string) {
	p.log.Info("authorization refused", "reason", msg)
	p.render(w, status, "error", msg)
}

func (p *Provider) index(w http.ResponseWriter, _ *http.Request) {
	p.render(w, http.StatusOK, "index", p.issuer)
}

func (p *Provider) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		p.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = b.WriteTo(w)
}
