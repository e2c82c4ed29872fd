package k8sschema_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/deploy/k8sschema"
)

// The names are those kubeconform looks up: the kind, the group's first label, the version.
func TestFileName(t *testing.T) {
	for _, c := range []struct{ group, version, kind, want string }{
		{"", "v1", "Service", "service-v1.json"},
		{"apps", "v1", "Deployment", "deployment-apps-v1.json"},
		{"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicy-networking-v1.json"},
		{"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscaler-autoscaling-v2.json"},
	} {
		if got := k8sschema.FileName(c.group, c.version, c.kind); got != c.want {
			t.Errorf("FileName(%q, %q, %q) = %q, want %q", c.group, c.version, c.kind, got, c.want)
		}
	}
}

// A kind's schema carries the definitions it refers to (and no others), made strict, with
// int-or-string fields accepting both.
func TestGenerate(t *testing.T) {
	swagger := `{"definitions": {
	  "io.k8s.api.x.v1.Thing": {
	    "type": "object",
	    "properties": {"spec": {"$ref": "#/definitions/io.k8s.api.x.v1.ThingSpec"}, "kind": {"type": "string"}},
	    "x-kubernetes-group-version-kind": [{"group": "x.k8s.io", "version": "v1", "kind": "Thing"}]
	  },
	  "io.k8s.api.x.v1.ThingSpec": {
	    "type": "object",
	    "properties": {"port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
	                   "labels": {"type": "object", "additionalProperties": {"type": "string"}}}
	  },
	  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
	  "io.k8s.api.x.v1.Unrelated": {"type": "object", "properties": {"a": {"type": "string"}}}
	}}`
	dir := t.TempDir()
	n, err := k8sschema.Generate([]byte(swagger), dir)
	if err != nil || n != 1 {
		t.Fatalf("Generate: %d schemas, %v; want 1", n, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "thing-x-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		AdditionalProperties any                       `json:"additionalProperties"`
		Definitions          map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.AdditionalProperties != false {
		t.Errorf("the kind allows unknown fields: additionalProperties %v", s.AdditionalProperties)
	}
	spec := s.Definitions["io.k8s.api.x.v1.ThingSpec"]
	if spec["additionalProperties"] != false {
		t.Errorf("a referenced object allows unknown fields: %v", spec)
	}
	if labels := spec["properties"].(map[string]any)["labels"].(map[string]any); labels["additionalProperties"] == false {
		t.Errorf("a map lost its value schema: %v", labels)
	}
	if ios := s.Definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]; ios["oneOf"] == nil {
		t.Errorf("int-or-string is %v, want a oneOf of string and integer", ios)
	}
	if _, ok := s.Definitions["io.k8s.api.x.v1.Unrelated"]; ok || len(s.Definitions) != 2 {
		t.Errorf("definitions %v, want ThingSpec and IntOrString only", s.Definitions)
	}
}
