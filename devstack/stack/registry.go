package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// RegistryPath is where the service registry lives, relative to the repository root. The Tiltfile
// reads the same file.
const RegistryPath = "tilt/services.json"

// Standard ports: a service's registry port lies in [firstServicePort, firstServicePort+maxServices).
const (
	firstServicePort = 8080
	maxServices      = 20
)

// Service is one entry of the registry.
type Service struct {
	Name     string `json:"name"`
	Port     int    `json:"port"`               // at the standard layout; see Ports
	Database string `json:"database,omitempty"` // its own database; "" for none
	Health   string `json:"health,omitempty"`   // liveness path, "/healthz" when empty
	S3       bool   `json:"s3,omitempty"`       // gets S3_* variables
	SMTP     bool   `json:"smtp,omitempty"`     // gets SMTP_URL and MAILPIT_URL
	// Env are extra variables; ${DATA_DIR}, ${ROOT}, ${<NAME>_URL} and ${<NAME>_PORT} (of any
	// service, at the ports in use), ${S3_ENDPOINT}, ${WEB_DEV_PORT} and the dev OIDC provider's
	// are expanded. A variable the dev stack's own environment has wins over the value here.
	Env map[string]string `json:"env,omitempty"`
	// EnvIfExists are extra variables naming a path, set only when that path exists, expanded as
	// Env; "<path>|<name>" is the path, set while <path>/<name> exists (the web app's build
	// output once it holds index.html).
	EnvIfExists map[string]string `json:"env_if_exists,omitempty"`
	// EnvAppend are comma-separated items appended to the variable of the same name in the
	// environment the dev stack runs in, rather than replacing it (items already there are not
	// repeated), expanded as Env: a developer's own AUTH_OAUTH_PROVIDERS=google becomes
	// google,dev.
	EnvAppend map[string]string `json:"env_append,omitempty"`
}

// Registry is the list of Parley's services, in start order.
type Registry struct {
	Services []Service `json:"services"`
}

// Service returns the entry called name.
func (r *Registry) Service(name string) (Service, bool) {
	for _, s := range r.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Names lists every service name in registry order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.Services))
	for i, s := range r.Services {
		names[i] = s.Name
	}
	return names
}

// LoadRegistry reads root/tilt/services.json.
func LoadRegistry(root string) (*Registry, error) {
	path := filepath.Join(root, RegistryPath)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read service registry: %w", err)
	}
	reg, err := ParseRegistry(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return reg, nil
}

var (
	serviceName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	envName     = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	dbName      = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// ParseRegistry decodes and validates a registry. Unknown fields are errors, so a typo ("databse")
// fails loudly instead of silently dropping a database.
func ParseRegistry(data []byte) (*Registry, error) {
	var doc struct {
		Doc      json.RawMessage `json:"_doc"`
		Services []Service       `json:"services"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse registry: %w", err)
	}
	if len(doc.Services) == 0 {
		return nil, fmt.Errorf("registry lists no services")
	}
	reg := &Registry{Services: doc.Services}
	names := map[string]bool{}
	ports := map[int]string{}
	dbs := map[string]string{}
	for i := range reg.Services {
		s := &reg.Services[i]
		if !serviceName.MatchString(s.Name) {
			return nil, fmt.Errorf("service %d: name %q must be lower-case letters and digits (it names services/<name> and an environment variable)", i, s.Name)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("service %q is listed twice", s.Name)
		}
		names[s.Name] = true
		if s.Port < firstServicePort || s.Port >= firstServicePort+maxServices {
			return nil, fmt.Errorf("service %q: port %d must be in %d-%d (the dev stack shifts ports from one base)", s.Name, s.Port, firstServicePort, firstServicePort+maxServices-1)
		}
		if other, ok := ports[s.Port]; ok {
			return nil, fmt.Errorf("services %q and %q both use port %d", other, s.Name, s.Port)
		}
		ports[s.Port] = s.Name
		if s.Database != "" {
			if !dbName.MatchString(s.Database) {
				return nil, fmt.Errorf("service %q: database %q must be a plain lower-case identifier", s.Name, s.Database)
			}
			if other, ok := dbs[s.Database]; ok {
				return nil, fmt.Errorf("services %q and %q share database %q; each service owns its own", other, s.Name, s.Database)
			}
			dbs[s.Database] = s.Name
		}
		if err := checkHealthAndEnv(s); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// checkHealthAndEnv checks what the registry says of s alone, past its name, port and database:
// its health path (defaulting to /healthz) and the names of its variables, of which env_append
// may not name one env or env_if_exists sets.
func checkHealthAndEnv(s *Service) error {
	if s.Health == "" {
		s.Health = "/healthz"
	}
	if !strings.HasPrefix(s.Health, "/") {
		return fmt.Errorf("service %q: health path %q must start with /", s.Name, s.Health)
	}
	for _, vars := range []struct {
		field string
		names map[string]string
	}{{"env_if_exists name", s.EnvIfExists}, {"env name", s.Env}, {"env_append name", s.EnvAppend}} {
		for k := range vars.names {
			if !envName.MatchString(k) {
				return fmt.Errorf("service %q: %s %q must be upper-case letters, digits and _", s.Name, vars.field, k)
			}
		}
	}
	for k := range s.EnvAppend {
		_, inEnv := s.Env[k]
		_, inIfExists := s.EnvIfExists[k]
		if inEnv || inIfExists {
			return fmt.Errorf("service %q: %s is in env_append and in env or env_if_exists; keep one", s.Name, k)
		}
	}
	return nil
}
