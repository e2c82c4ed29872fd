package stack

import (
	"regexp"
	"strings"
	"testing"
)

func TestRegistryOfTheRepository(t *testing.T) {
	reg, err := LoadRegistry(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"gateway", "auth", "profile", "friend", "chat", "notification", "media"}
	if got := strings.Join(reg.Names(), " "); got != strings.Join(want, " ") {
		t.Fatalf("services = %s, want %s", got, strings.Join(want, " "))
	}
	for i, name := range want {
		s, ok := reg.Service(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		if s.Port != 8080+i {
			t.Errorf("%s: port %d, want %d (design.md §2)", name, s.Port, 8080+i)
		}
		wantDB := "parley_" + name
		if name == "gateway" {
			wantDB = ""
		}
		if s.Database != wantDB {
			t.Errorf("%s: database %q, want %q", name, s.Database, wantDB)
		}
		if s.Health != "/healthz" {
			t.Errorf("%s: health %q", name, s.Health)
		}
	}
	if m, _ := reg.Service("media"); !m.S3 {
		t.Error("media must get S3")
	}
	if n, _ := reg.Service("notification"); !n.SMTP {
		t.Error("notification must get SMTP")
	}
	// Variables that refer to ports must use the ${..._PORT}/${..._URL} forms, or a port base breaks them.
	placeholder := regexp.MustCompile(`\$\{[A-Z_]+\}`)
	literalPort := regexp.MustCompile(`:\d{2,5}\b`)
	for _, s := range reg.Services {
		for _, vars := range []map[string]string{s.Env, s.EnvIfExists, s.EnvAppend} {
			for k, v := range vars {
				if literalPort.MatchString(placeholder.ReplaceAllString(v, "")) {
					t.Errorf("%s: %s=%s hard-codes a port", s.Name, k, v)
				}
			}
		}
	}
}

func TestParseRegistry(t *testing.T) {
	reg, err := ParseRegistry([]byte(`{"_doc": ["x"], "services": [
		{"name": "gateway", "port": 8080, "database": null},
		{"name": "auth", "port": 8081, "database": "parley_auth", "health": "/livez", "smtp": true,
		 "env": {"A_B": "${DATA_DIR}/x"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := reg.Service("gateway")
	if gw.Database != "" || gw.Health != "/healthz" || gw.S3 || gw.SMTP {
		t.Errorf("gateway = %+v", gw)
	}
	auth, _ := reg.Service("auth")
	if auth.Database != "parley_auth" || auth.Health != "/livez" || !auth.SMTP || auth.Env["A_B"] != "${DATA_DIR}/x" {
		t.Errorf("auth = %+v", auth)
	}
	if _, ok := reg.Service("chat"); ok {
		t.Error("found a service that is not there")
	}

	for _, tc := range []struct{ name, json, want string }{
		{"not json", `{`, "parse registry"},
		{"typo in a field", `{"services": [{"name": "a", "port": 8080, "databse": "x"}]}`, `unknown field "databse"`},
		{"empty", `{"services": []}`, "no services"},
		{"bad name", `{"services": [{"name": "Auth", "port": 8080}]}`, "lower-case"},
		{"twice", `{"services": [{"name": "a", "port": 8080}, {"name": "a", "port": 8081}]}`, "listed twice"},
		{"port out of range", `{"services": [{"name": "a", "port": 5432}]}`, "must be in 8080-8099"},
		{"port shared", `{"services": [{"name": "a", "port": 8080}, {"name": "b", "port": 8080}]}`, "both use port 8080"},
		{"database shared", `{"services": [{"name": "a", "port": 8080, "database": "x"}, {"name": "b", "port": 8081, "database": "x"}]}`, "share database"},
		{"bad database", `{"services": [{"name": "a", "port": 8080, "database": "x; drop"}]}`, "plain lower-case identifier"},
		{"bad health", `{"services": [{"name": "a", "port": 8080, "health": "healthz"}]}`, "must start with /"},
		{"bad env", `{"services": [{"name": "a", "port": 8080, "env": {"lower": "x"}}]}`, "env name"},
		{"bad env_append", `{"services": [{"name": "a", "port": 8080, "env_append": {"a-b": "x"}}]}`, "env_append name"},
		{"env_append and env", `{"services": [{"name": "a", "port": 8080, "env": {"X": "1"}, "env_append": {"X": "2"}}]}`, "X is in env_append and in env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegistry([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
