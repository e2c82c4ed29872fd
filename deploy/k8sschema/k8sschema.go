// Package k8sschema turns the Kubernetes API's OpenAPI v2 document into the JSON schemas
// kubeconform validates against, one file per kind, so that manifests are checked offline: the
// document comes from the k8s.io/kubernetes Go module (api/openapi-spec/swagger.json), which the
// Go module proxy serves, instead of kubeconform's default download from GitHub.
package k8sschema

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The Kubernetes release the schemas are generated from, and the SHA-256 of its swagger.json:
// Download refuses any other content, so the same version always gives the same schemas.
const (
	KubernetesVersion = "v1.37.2"
	SwaggerSHA256     = "465276aedf437726de5a6ed23a41b86d78bb0d347edf251a755ae26a93cdd8a6"
)

// Location is kubeconform's -schema-location for schemas Generate wrote into dir.
func Location(dir string) string {
	return filepath.Join(dir, "{{.ResourceKind}}{{.KindSuffix}}.json")
}

// Download returns KubernetesVersion's OpenAPI document, fetched with `go mod download` (the Go
// module proxy and checksum database, or the module cache) and checked against SwaggerSHA256.
func Download(ctx context.Context) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+KubernetesVersion)
	// Outside any module: the download must not touch a go.mod or go.work.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); jerr != nil || mod.Error != "" || err != nil {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: %w %s %s", KubernetesVersion, err, mod.Error, stderr(err))
	}
	b, err := os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != SwaggerSHA256 {
		return nil, fmt.Errorf("k8s.io/kubernetes@%s swagger.json has SHA-256 %x, want %s", KubernetesVersion, sum, SwaggerSHA256)
	}
	return b, nil
}

func stderr(err error) string {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(ee.Stderr)
	}
	return ""
}

// Ensure generates the schemas into dir unless a previous run completed there (it writes a stamp
// naming the version and checksum last).
func Ensure(ctx context.Context, dir string) error {
	stamp := filepath.Join(dir, ".generated")
	want := KubernetesVersion + " " + SwaggerSHA256 + "\n"
	if b, err := os.ReadFile(stamp); err == nil && string(b) == want {
		return nil
	}
	swagger, err := Download(ctx)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if _, err := Generate(swagger, dir); err != nil {
		return err
	}
	return os.WriteFile(stamp, []byte(want), 0o644)
}

// Generate writes a schema for every kind the document defines into dir, named as kubeconform
// looks them up ("deployment-apps-v1.json", "service-v1.json"), and returns how many. Each file
// is the kind's definition with the definitions it refers to, adjusted as kubeconform's own
// schemas are (openapi2jsonschema):
//   - strict: an object with declared properties allows no others, so a misspelt field fails;
//   - int-or-string fields (ports, maxUnavailable) accept either; quantities ("250m", 1) too;
//   - a time may be null, as Kubernetes writes an unset one (creationTimestamp: null).
func Generate(swagger []byte, dir string) (int, error) {
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(swagger, &doc); err != nil {
		return 0, fmt.Errorf("OpenAPI document: %w", err)
	}
	if len(doc.Definitions) == 0 {
		return 0, errors.New("OpenAPI document: no definitions")
	}
	defs := make(map[string]any, len(doc.Definitions))
	for name, def := range doc.Definitions {
		switch name {
		case "io.k8s.apimachinery.pkg.api.resource.Quantity":
			defs[name] = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		case "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":
			defs[name] = map[string]any{"type": []any{"string", "null"}, "format": "date-time"}
		default:
			defs[name] = adjust(def)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		def := defs[name].(map[string]any)
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			if kind == "" || version == "" {
				continue
			}
			schema := maps.Clone(def)
			schema["$schema"] = "http://json-schema.org/draft-04/schema#"
			schema["definitions"] = closure(defs, def)
			b, err := json.Marshal(schema)
			if err != nil {
				return n, err
			}
			if err := os.WriteFile(filepath.Join(dir, FileName(group, version, kind)), b, 0o644); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// FileName is kubeconform's name for a kind's schema: the kind, the group's first label and the
// version, lower case ("networkpolicy-networking-v1.json"; "pod-v1.json" for the core group).
func FileName(group, version, kind string) string {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

// adjust returns a copy of a definition made strict, with int-or-string fields accepting both.
func adjust(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v["format"] == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := make(map[string]any, len(v)+1)
		for k, e := range v {
			if k == "properties" {
				props := make(map[string]any, len(e.(map[string]any)))
				for p, s := range e.(map[string]any) {
					props[p] = adjust(s)
				}
				out[k] = props
				continue
			}
			out[k] = adjust(e)
		}
		if _, ok := v["properties"]; ok {
			if _, ok := v["additionalProperties"]; !ok {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = adjust(e)
		}
		return out
	}
	return v
}

// closure returns the definitions def refers to, directly or through others.
func closure(defs map[string]any, def any) map[string]any {
	seen := map[string]any{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/definitions/")
				if _, done := seen[name]; !done {
					if d, ok := defs[name]; ok {
						seen[name] = d
						walk(d)
					}
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(def)
	return seen
}
