package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	starlarkjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/parleyhq/parley/devstack/stack"
)

// Tilt cannot be installed here, so the Tiltfile runs in a Starlark interpreter with the few Tilt
// built-ins it calls stubbed to record what it asks for.

type tiltResource struct {
	name, cmd, serveCmd string
	deps, resourceDeps  []string
	probeExec           []string
	probePort           int
	probePath           string
	links               []string
}

func execTiltfile(t *testing.T, root string, env map[string]string) map[string]tiltResource {
	t.Helper()
	resources := map[string]tiltResource{}
	strs := func(v starlark.Value) []string {
		var out []string
		if v == nil || v == starlark.None {
			return nil
		}
		iter := starlark.Iterate(v)
		defer iter.Done()
		var x starlark.Value
		for iter.Next(&x) {
			s, _ := starlark.AsString(x)
			out = append(out, s)
		}
		return out
	}
	kwargsStruct := func(name string) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			d := starlark.StringDict{}
			for i, a := range args {
				d[fmt.Sprintf("arg%d", i)] = a
			}
			for _, kv := range kwargs {
				d[string(kv[0].(starlark.String))] = kv[1]
			}
			return starlarkstruct.FromStringDict(starlark.String(name), d), nil
		})
	}
	attr := func(v starlark.Value, name string) starlark.Value {
		s, ok := v.(*starlarkstruct.Struct)
		if !ok {
			return nil
		}
		x, err := s.Attr(name)
		if err != nil {
			return nil
		}
		return x
	}

	localResource := starlark.NewBuiltin("local_resource", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, cmd, serveCmd string
		var deps, ignore, resourceDeps, probe, links, labels starlark.Value
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "cmd?", &cmd, "serve_cmd?", &serveCmd,
			"deps?", &deps, "ignore?", &ignore, "resource_deps?", &resourceDeps, "readiness_probe?", &probe,
			"links?", &links, "labels?", &labels); err != nil {
			return nil, err
		}
		if _, dup := resources[name]; dup {
			return nil, fmt.Errorf("resource %q defined twice", name)
		}
		r := tiltResource{name: name, cmd: cmd, serveCmd: serveCmd, deps: strs(deps), resourceDeps: strs(resourceDeps)}
		if e := attr(probe, "exec"); e != nil {
			r.probeExec = strs(attr(e, "arg0"))
		}
		if h := attr(probe, "http_get"); h != nil {
			port, _ := starlark.AsInt32(attr(h, "port"))
			r.probePort = port
			r.probePath, _ = starlark.AsString(attr(h, "path"))
		}
		if links != nil {
			iter := starlark.Iterate(links)
			var x starlark.Value
			for iter.Next(&x) {
				u, _ := starlark.AsString(attr(x, "arg0"))
				r.links = append(r.links, u)
			}
			iter.Done()
		}
		resources[name] = r
		return starlark.None, nil
	})
	readJSON := starlark.NewBuiltin("read_json", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var path string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &path); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			return nil, err
		}
		return starlark.Call(th, starlarkjson.Module.Members["decode"], starlark.Tuple{starlark.String(data)}, nil)
	})
	getenv := starlark.NewBuiltin("getenv", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name string
		var def starlark.Value = starlark.None
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &name, "default?", &def); err != nil {
			return nil, err
		}
		if v, ok := env[name]; ok {
			return starlark.String(v), nil
		}
		return def, nil
	})
	exists := starlark.NewBuiltin("exists", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var path string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &path); err != nil {
			return nil, err
		}
		_, err := os.Stat(filepath.Join(root, path))
		return starlark.Bool(err == nil), nil
	})
	osModule := starlarkstruct.FromStringDict(starlark.String("os"), starlark.StringDict{
		"getenv": getenv,
		"path":   starlarkstruct.FromStringDict(starlark.String("path"), starlark.StringDict{"exists": exists}),
	})
	predeclared := starlark.StringDict{
		"read_json":       readJSON,
		"local_resource":  localResource,
		"probe":           kwargsStruct("probe"),
		"exec_action":     kwargsStruct("exec_action"),
		"http_get_action": kwargsStruct("http_get_action"),
		"link":            kwargsStruct("link"),
		"os":              osModule,
	}
	// Tilt's dialect allows top-level control flow and reassignment.
	opts := &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}
	src, err := os.ReadFile(filepath.Join(root, "Tiltfile"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := starlark.ExecFileOptions(opts, &starlark.Thread{Name: "Tiltfile"}, "Tiltfile", src, predeclared); err != nil {
		t.Fatalf("Tiltfile: %v", err)
	}
	return resources
}

func TestTiltfileDefinesInfraAndEveryWrittenService(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := stack.LoadRegistry(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []map[string]string{{}, {"PARLEY_PORT_BASE": "20000"}} {
		res := execTiltfile(t, root, env)
		infra, ok := res["infra"]
		if !ok {
			t.Fatal("no infra resource")
		}
		if infra.cmd != "go build -o .data/bin/devstack ./devstack" || infra.serveCmd != ".data/bin/devstack infra" {
			t.Errorf("infra: cmd %q serve_cmd %q", infra.cmd, infra.serveCmd)
		}
		if !slices.Equal(infra.probeExec, []string{".data/bin/devstack", "status", "--infra"}) {
			t.Errorf("infra readiness probe = %q", infra.probeExec)
		}
		opts := stack.Options{Root: root}
		if env["PARLEY_PORT_BASE"] != "" {
			opts.PortBase = 20000
		}
		for _, svc := range reg.Services {
			r, ok := res[svc.Name]
			_, statErr := os.Stat(filepath.Join(root, "services", svc.Name, "main.go"))
			if written := statErr == nil; ok != written {
				t.Errorf("%s: resource defined = %v, but main.go written = %v", svc.Name, ok, written)
				continue
			}
			if !ok {
				continue
			}
			bin := ".data/bin/" + svc.Name
			if r.cmd != "go build -o "+bin+" ./services/"+svc.Name {
				t.Errorf("%s cmd = %q", svc.Name, r.cmd)
			}
			if r.serveCmd != ".data/bin/devstack exec "+svc.Name+" -- "+bin {
				t.Errorf("%s serve_cmd = %q", svc.Name, r.serveCmd)
			}
			if !slices.Equal(r.resourceDeps, []string{"infra"}) {
				t.Errorf("%s resource_deps = %q", svc.Name, r.resourceDeps)
			}
			for _, d := range []string{"services/" + svc.Name, "platform", "contracts"} {
				if !slices.Contains(r.deps, d) {
					t.Errorf("%s deps %q lack %s", svc.Name, r.deps, d)
				}
			}
			if want := opts.ServicePort(svc); r.probePort != want || r.probePath != svc.Health {
				t.Errorf("%s probe %d%s, want %d%s (the port the dev stack gives it)", svc.Name, r.probePort, r.probePath, want, svc.Health)
			}
			if len(r.links) != 1 || !strings.HasSuffix(r.links[0], fmt.Sprintf(":%d", opts.ServicePort(svc))) {
				t.Errorf("%s links = %q", svc.Name, r.links)
			}
		}
	}
}
